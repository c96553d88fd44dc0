package kiln_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// eachStore runs fn on a fresh migrated SQLite store and, when
// $KILN_TEST_POSTGRES_URL is set, on a fresh PostgreSQL schema.
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("SQLite", func(t *testing.T) {
		t.Parallel()
		fn(t, openStore(t, ""))
	})
	t.Run("PostgreSQL", func(t *testing.T) {
		t.Parallel()
		fn(t, openPostgres(t, pgtest.URL(t), pgtest.Schema(t), true))
	})
}

// ints returns those of vs that an int holds: where int is 32 bits wide
// (386, arm), the values above math.MaxInt32 are left out, since no caller
// can pass them there.
func ints(vs ...int64) []int {
	out := make([]int, 0, len(vs))
	for _, v := range vs {
		if int64(int(v)) == v {
			out = append(out, int(v))
		}
	}
	return out
}

// wantInvalid fails t unless err wraps a *kiln.ValidationError for field
// whose text contains each of msgs.
func wantInvalid(t *testing.T, what string, err error, field string, msgs ...string) {
	t.Helper()
	var ve *kiln.ValidationError
	if !errors.As(err, &ve) {
		t.Errorf("%s: error %v, want a *kiln.ValidationError for %q", what, err, field)
		return
	}
	if ve.Field != field {
		t.Errorf("%s: error %q names field %q, want %q", what, err, ve.Field, field)
	}
	for _, m := range msgs {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("%s: error %q does not contain %q", what, err, m)
		}
	}
}

// wantNoJobs fails t if c's store holds any job.
func wantNoJobs(t *testing.T, c *kiln.Client) {
	t.Helper()
	res, err := c.JobList(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 0 {
		t.Errorf("refused enqueues stored %d jobs, e.g. %+v", len(res.Jobs), res.Jobs[0])
	}
}

// newCheckClient returns an unstarted client on st with workers for
// testArgs and greetArgs.
func newCheckClient(t *testing.T, st store.Store, cfg kiln.Config) *kiln.Client {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(noWork[testArgs]))
	kiln.AddWorker(workers, kiln.WorkFunc(noWork[greetArgs]))
	cfg.Store, cfg.Workers = st, workers
	c, err := kiln.NewClient(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMaxAttemptsRange: a MaxAttempts beyond what every store keeps
// exactly is refused wherever it is given, on both stores (PostgreSQL
// used to store 2^31 as -2147483648 and 4294967297 as 1, and to fail a
// recurring entry with a 500), and the largest one accepted is kept.
func TestMaxAttemptsRange(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		c := newCheckClient(t, st, kiln.Config{})
		ctx := t.Context()
		for _, n := range ints(1<<31, math.MaxInt64, 1<<32+1, -1) {
			_, err := c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: n})
			wantInvalid(t, "Enqueue", err, "max_attempts", "1 to 2147483647")
			_, err = c.EnqueueMany(ctx, []kiln.EnqueueParams{{Args: testArgs{}}, {Args: testArgs{}, Opts: &kiln.EnqueueOpts{MaxAttempts: n}}})
			wantInvalid(t, "EnqueueMany", err, "max_attempts")
			_, err = c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "r", Schedule: "@hourly", Args: testArgs{}, Opts: &kiln.EnqueueOpts{MaxAttempts: n}})
			wantInvalid(t, "RecurringAddOrUpdate", err, "max_attempts")
		}
		wantNoJobs(t, c)
		if _, err := c.RecurringGet(ctx, "r"); !errors.Is(err, kiln.ErrNotFound) {
			t.Errorf("a refused recurring entry was stored: %v", err)
		}

		res, err := c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{MaxAttempts: kiln.MaxAttemptsLimit})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.JobGet(ctx, res.Job.ID); err != nil || got.MaxAttempts != kiln.MaxAttemptsLimit {
			t.Errorf("stored MaxAttempts = %v (%v), want %d", got, err, kiln.MaxAttemptsLimit)
		}
		row, err := c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "max", Schedule: "@hourly", Args: testArgs{},
			Opts: &kiln.EnqueueOpts{MaxAttempts: kiln.MaxAttemptsLimit}, Misfire: kiln.MisfireRunAll, MisfireMax: kiln.MisfireMaxLimit})
		if err != nil || row.MaxAttempts != kiln.MaxAttemptsLimit || row.MisfireMax != kiln.MisfireMaxLimit {
			t.Errorf("recurring entry at the limits = %+v, %v", row, err)
		}
		for _, n := range ints(kiln.MisfireMaxLimit+1, 1<<31, -1) {
			_, err := c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "r", Schedule: "@hourly", Args: testArgs{}, MisfireMax: n})
			wantInvalid(t, "MisfireMax", err, "misfire_max", "1 to 10000")
		}
	})
}

// TestIntegerSettingsRange: the integer settings of Config and of workers
// are held to the same ranges when they are given, not at enqueue.
func TestIntegerSettingsRange(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	for _, n := range ints(1<<31, -1) {
		if _, err := kiln.NewClient(&kiln.Config{Store: st, MaxAttempts: n}); err == nil || !strings.Contains(err.Error(), "MaxAttempts") {
			t.Errorf("Config.MaxAttempts %d: error %v", n, err)
		}
		w := &settingsWorker{maxAttempts: n}
		if err := kiln.AddWorkerSafely(kiln.NewWorkers(), w); err == nil || !strings.Contains(err.Error(), "MaxAttempts") {
			t.Errorf("worker MaxAttempts %d: error %v", n, err)
		}
		w = &settingsWorker{clusterMax: n}
		if err := kiln.AddWorkerSafely(kiln.NewWorkers(), w); err == nil || !strings.Contains(err.Error(), "ClusterMaxConcurrency") {
			t.Errorf("worker ClusterMaxConcurrency %d: error %v", n, err)
		}
	}
	if _, err := kiln.NewClient(&kiln.Config{Store: st, MaxArgsBytes: -1}); err == nil || !strings.Contains(err.Error(), "MaxArgsBytes") {
		t.Errorf("Config.MaxArgsBytes -1: error %v", err)
	}
	// The ID is in every lease: PostgreSQL would refuse every claim.
	_, err := kiln.NewClient(&kiln.Config{Store: st, ID: "host\x00"})
	wantInvalid(t, "Config.ID with NUL", err, "ID", "Config.ID", "NUL")
}

type settingsWorker struct {
	kiln.WorkerDefaults[testArgs]
	maxAttempts, clusterMax int
}

func (w *settingsWorker) Work(context.Context, *kiln.Job[testArgs]) error { return nil }
func (w *settingsWorker) MaxAttempts() int                                { return w.maxAttempts }
func (w *settingsWorker) ClusterMaxConcurrency() int                      { return w.clusterMax }

// greetArgs are args with a Validate method that names its field.
type greetArgs struct {
	Name string `json:"name"`
}

func (greetArgs) Kind() string { return "greet" }

func (a greetArgs) Validate() error {
	if a.Name == "" {
		return &kiln.ValidationError{Field: "name", Message: "required"}
	}
	return nil
}

// TestArgsCheckedAgainstTheirKind: args given as JSON are decoded into the
// kind's args type at enqueue, unknown fields refused, and validated, so
// that a typo is an error at enqueue rather than a job that fails later.
func TestArgsCheckedAgainstTheirKind(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	c := newCheckClient(t, st, kiln.Config{})
	ctx := t.Context()
	raw := func(s string) kiln.RawArgs { return kiln.RawArgs{JobKind: "greet", JSON: json.RawMessage(s)} }
	for _, tc := range []struct {
		name  string
		args  kiln.JobArgs
		field string
		msg   string
	}{
		{"UnknownField", raw(`{"nme":"1"}`), "args.nme", `unknown field "nme"`},
		{"WrongType", raw(`{"name":5}`), "args.name", "got a JSON number"},
		{"NotAnObject", raw(`[1]`), "args", "got a JSON array"},
		{"ValidateOnRaw", raw(`{"name":""}`), "args.name", "required"},
		{"ValidateOnTyped", greetArgs{}, "args.name", "required"},
	} {
		_, err := c.Enqueue(ctx, tc.args, nil)
		wantInvalid(t, tc.name+": Enqueue", err, tc.field, tc.msg, `kind "greet"`)
		wantInvalid(t, tc.name+": EnqueueCheck", c.EnqueueCheck(tc.args, nil), tc.field, tc.msg)
		_, err = c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "r", Schedule: "@hourly", Args: tc.args})
		wantInvalid(t, tc.name+": RecurringAddOrUpdate", err, tc.field, tc.msg)
	}
	wantNoJobs(t, c)
	if _, err := c.Enqueue(ctx, raw(`{"name":"Ada"}`), nil); err != nil {
		t.Errorf("valid raw args: %v", err)
	}
	if _, err := c.Enqueue(ctx, greetArgs{Name: "Ada"}, nil); err != nil {
		t.Errorf("valid typed args: %v", err)
	}
	// An enqueue-only client has no args types, but typed args still
	// validate themselves.
	enqueuer, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	_, err = enqueuer.Enqueue(ctx, greetArgs{}, nil)
	wantInvalid(t, "enqueue-only client", err, "args.name", "required")
}

// TestTextStoresCannotKeep: NUL and invalid UTF-8 in args, tags, metadata,
// queue and kind are refused at enqueue, naming the field, by both stores
// alike (PostgreSQL answered with its raw SQLSTATE text, SQLite stored
// bytes no strict JSON reader accepts).
func TestTextStoresCannotKeep(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		c, err := kiln.NewClient(&kiln.Config{Store: st}) // enqueue-only: any kind, args as given
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		raw := func(s string) kiln.RawArgs { return kiln.RawArgs{JobKind: "k", JSON: json.RawMessage(s)} }
		for _, tc := range []struct {
			name  string
			args  kiln.JobArgs
			opts  *kiln.EnqueueOpts
			field string
		}{
			{"ArgsNUL", raw(`{"name":"\u0000"}`), nil, "args"},
			{"ArgsInvalidUTF8", raw("{\"name\":\"\xff\"}"), nil, "args"},
			{"ArgsLoneSurrogate", raw(`{"name":"\ud800"}`), nil, "args"},
			{"TypedArgsNUL", testArgsText{S: "a\x00"}, nil, "args"},
			{"TagNUL", raw(`{}`), &kiln.EnqueueOpts{Tags: []string{"a\x00"}}, "tags[0]"},
			{"MetadataNUL", raw(`{}`), &kiln.EnqueueOpts{Metadata: map[string]string{"k": "\x00"}}, "metadata.k"},
			{"MetadataInvalidUTF8", raw(`{}`), &kiln.EnqueueOpts{Metadata: map[string]string{"\xff": "v"}}, `metadata["\xff"]`},
			{"QueueInvalidUTF8", raw(`{}`), &kiln.EnqueueOpts{Queue: "q\xff"}, "queue"},
			{"KindNUL", kiln.RawArgs{JobKind: "k\x00"}, nil, "kind"},
		} {
			_, err := c.Enqueue(ctx, tc.args, tc.opts)
			wantInvalid(t, tc.name, err, tc.field)
		}
		wantNoJobs(t, c)
		// Control characters other than NUL, and escaped text that only
		// looks like NUL, are kept.
		res, err := c.Enqueue(ctx, raw(`{"s":"\\u0000\u0001"}`), &kiln.EnqueueOpts{Metadata: map[string]string{"k": "\x01"}})
		if err != nil {
			t.Fatal(err)
		}
		var args struct{ S string }
		if err := json.Unmarshal(res.Job.Args, &args); err != nil || args.S != `\u0000`+"\x01" {
			t.Errorf("args = %s (%v)", res.Job.Args, err)
		}
	})
}

// testArgsText are typed args with a string.
type testArgsText struct {
	S string `json:"s"`
}

func (testArgsText) Kind() string { return "text" }

// TestMaxArgsBytes: args (and metadata) larger than Config.MaxArgsBytes
// are refused at enqueue, for typed args, raw args and recurring entries
// alike; the default is 1 MiB.
func TestMaxArgsBytes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openStore(t, "")
	sized := func(n int) kiln.RawArgs { // n bytes of JSON
		return kiln.RawArgs{JobKind: "text", JSON: json.RawMessage(`{"s":"` + strings.Repeat("x", n-8) + `"}`)}
	}

	def, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	_, err = def.Enqueue(ctx, sized(kiln.DefaultMaxArgsBytes+1), nil)
	wantInvalid(t, "default limit", err, "args", "1048577 bytes", "at most 1048576", "Config.MaxArgsBytes")
	if _, err := def.Enqueue(ctx, sized(kiln.DefaultMaxArgsBytes), nil); err != nil {
		t.Errorf("args of exactly the default limit: %v", err)
	}

	c, err := kiln.NewClient(&kiln.Config{Store: st, MaxArgsBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Enqueue(ctx, sized(101), nil)
	wantInvalid(t, "raw args", err, "args", "101 bytes")
	_, err = c.Enqueue(ctx, testArgsText{S: strings.Repeat("x", 100)}, nil)
	wantInvalid(t, "typed args", err, "args", "at most 100")
	_, err = c.Enqueue(ctx, sized(10), &kiln.EnqueueOpts{Metadata: map[string]string{"k": strings.Repeat("x", 100)}})
	wantInvalid(t, "metadata", err, "metadata", "at most 100")
	_, err = c.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "r", Schedule: "@hourly", Args: sized(101)})
	wantInvalid(t, "recurring entry", err, "args", "at most 100")
	if _, err := c.Enqueue(ctx, sized(100), nil); err != nil {
		t.Errorf("args of exactly the limit: %v", err)
	}
	res, err := c.JobList(ctx, nil)
	if err != nil || len(res.Jobs) != 2 {
		t.Errorf("stored %d jobs (%v), want the 2 within the limits", len(res.Jobs), err)
	}
}

// TestWorkerErrorWithNULIsRecorded: a worker's error holding NUL and bytes
// that are not UTF-8 is recorded, on both stores (PostgreSQL refused the
// outcome, so the job stayed running and would have run again).
func TestWorkerErrorWithNULIsRecorded(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
			return kiln.JobCancel(errors.New("bad \x00 byte \xff"))
		}))
		c := startClient(t, &kiln.Config{Store: st, Workers: workers, FetchPollInterval: 10 * time.Millisecond, DisableMaintenance: true})
		job := clienttest.Enqueue(t, c, testArgs{}, nil)
		row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCancelled)
		if want := "bad \uFFFD byte \uFFFD"; !strings.HasSuffix(row.LastError, want) {
			t.Errorf("LastError = %q, want it to end in %q", row.LastError, want)
		}
	})
}

// TestLookupOfIDNoStoreCanHold looks up recurring entries and batches by IDs
// with a NUL byte or invalid UTF-8: both stores answer ErrNotFound
// (PostgreSQL answered its SQLSTATE text, a 500 through the API).
func TestLookupOfIDNoStoreCanHold(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		c, err := kiln.NewClient(&kiln.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		for _, id := range []string{"r\x00", "r\xff"} {
			_, err1 := c.RecurringGet(ctx, id)
			_, err2 := c.RecurringPause(ctx, id)
			_, err3 := c.RecurringResume(ctx, id)
			_, err4 := c.RecurringTrigger(ctx, id)
			_, err5 := c.RecurringRemove(ctx, id)
			_, err6 := c.RecurringOccurrences(ctx, id, 10)
			_, err7 := c.BatchGet(ctx, id)
			for i, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
				if !errors.Is(err, kiln.ErrNotFound) {
					t.Errorf("id %q, call %d: %v, want ErrNotFound", id, i+1, err)
				}
			}
		}
	})
}
