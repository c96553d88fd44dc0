package kiln_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

// escOutArgs's fields take the reserved key, so that the args pass the
// check against their type and meet the check of the reserved key.
type escOutArgs struct {
	K json.RawMessage `json:"kiln_enc,omitempty"`
	X any             `json:"x,omitempty"`
}

func (escOutArgs) Kind() string { return "esc_out" }

// TestReservedKeyEscaped: the key kiln_enc, reserved for encrypted args
// and outputs, is refused however it is spelled, in args (RawArgs, as the
// HTTP API and the CLI enqueue) and in SetOutput, on both stores alike.
// Spelled with an escape ("kiln\u005fenc") it used to pass the check;
// PostgreSQL's jsonb then stored it decoded, so the job's args and output
// read back as an envelope there (the job retried for want of a key, a
// continuation's ParentOutputs failed) and as plain JSON on SQLite.
func TestReservedKeyEscaped(t *testing.T) {
	for _, spelt := range []string{
		`{"kiln\u005fenc":{"kid":"k1","ct":"AAAA"}}`,
		`{"\u006biln_enc":{"kid":"k1","ct":"AAAA"}, "x": 1}`,
		`{"kiln_enc":{"kid":"k1","ct":"AAAA"}}`,
	} {
		eachStore(t, func(t *testing.T, st store.Store) {
			outErr := make(chan error, 1)
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[escOutArgs]) error {
				outErr <- job.SetOutput(json.RawMessage(spelt))
				return nil
			}))
			cfg := fastConfigFor(st, workers, nil)
			c := startClient(t, cfg)
			var ve *kiln.ValidationError
			_, err := c.Enqueue(t.Context(), kiln.RawArgs{JobKind: "esc_out", JSON: json.RawMessage(spelt)}, nil)
			if !errors.As(err, &ve) || ve.Field != "args" {
				t.Errorf("Enqueue(%s) = %v; want a *ValidationError of field args", spelt, err)
			}
			clienttest.Enqueue(t, c, escOutArgs{}, nil)
			err = testutil.Receive(t, outErr, "the worker's SetOutput", nil)
			if !errors.As(err, &ve) || ve.Field != "output" {
				t.Errorf("SetOutput(%s) = %v; want a *ValidationError of field output", spelt, err)
			}
		})
	}
	// An escape that spells something else is plain args, on both stores.
	eachStore(t, func(t *testing.T, st store.Store) {
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[escOutArgs]) error { return nil }))
		c := startClient(t, &kiln.Config{Store: st, Workers: workers, Logger: quietLogger})
		res, err := c.Enqueue(context.Background(), kiln.RawArgs{JobKind: "esc_out", JSON: json.RawMessage(`{"x":"caf\u00e9"}`)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		row, err := c.JobGet(context.Background(), res.Job.ID)
		if err != nil || row.ArgsEncrypted {
			t.Fatalf("JobGet: %v, encrypted %v; want plain args", err, row.ArgsEncrypted)
		}
	})
}
