package kiln_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// TestEnqueueTx: a job enqueued in the caller's transaction does not exist
// before the commit, never exists after a rollback, and starts at once
// after the commit (woken by the notification sent with it, with polling
// too slow to explain the start).
func TestEnqueueTx(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t)
	st := openPostgres(t, url, schema, true)
	starts := make(chan int64, 10)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[notifyArgs]) error {
		starts <- job.ID
		return nil
	}))
	c := startClient(t, &kiln.Config{Store: st, Workers: workers, FetchPollInterval: 10 * time.Second, DisableMaintenance: true})
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })

	enqueueIn := func(tx pgx.Tx, n int) int64 {
		t.Helper()
		res, err := kiln.EnqueueTx(ctx, c, tx, notifyArgs{N: n}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.JobGet(ctx, res.Job.ID); !errors.Is(err, kiln.ErrNotFound) {
			t.Fatalf("before commit, JobGet(%d) = %v; want ErrNotFound", res.Job.ID, err)
		}
		return res.Job.ID
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rolledBack := enqueueIn(tx, 1)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JobGet(ctx, rolledBack); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("after rollback, JobGet = %v; want ErrNotFound", err)
	}

	tx, err = conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	committed := enqueueIn(tx, 2)
	if _, err := kiln.EnqueueManyTx(ctx, c, tx, []kiln.EnqueueParams{{Args: otherArgs{}}}); !errors.Is(err, kiln.ErrUnknownKind) {
		t.Fatalf("EnqueueManyTx of a kind without a worker = %v; want ErrUnknownKind", err)
	}
	select {
	case id := <-starts:
		t.Fatalf("job %d started before its transaction committed", id)
	default:
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-starts:
		if id != committed {
			t.Fatalf("job %d started; want %d", id, committed)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the committed job did not start within 5 s (FetchPollInterval is 10 s)")
	}
	clienttest.WaitState(t, c, committed, kiln.JobStateCompleted)
}

func TestEnqueueTxUnsupportedStore(t *testing.T) {
	t.Parallel()
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = kiln.EnqueueTx(t.Context(), c, pgx.Tx(nil), testArgs{}, nil)
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("EnqueueTx on SQLite = %v; want errors.ErrUnsupported", err)
	}
}
