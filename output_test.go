package kiln_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

type sumArgs struct {
	A, B int
}

func (sumArgs) Kind() string { return "sum" }

type sumOutput struct {
	Sum int `json:"sum"`
}

type reportArgs struct{}

func (reportArgs) Kind() string { return "report" }

type squareArgs struct {
	N int `json:"n"`
}

func (squareArgs) Kind() string { return "square" }

type squaresDoneArgs struct{}

func (squaresDoneArgs) Kind() string { return "squares_done" }

// outputWorkers returns workers whose sum and square jobs record outputs
// (a square of 0 records none), whose report job sends its parents' outputs
// on reports and whose squares_done callback sends its batch's outputs,
// read in pages of 2, on callbacks.
func outputWorkers(reports chan<- map[int64]sumOutput, callbacks chan<- []*kiln.JobOutput) *kiln.Workers {
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[sumArgs]) error {
		return job.SetOutput(sumOutput{Sum: job.Args.A + job.Args.B})
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[reportArgs]) error {
		outs, err := kiln.ParentOutputs[sumOutput](ctx, job)
		if err != nil {
			return err
		}
		reports <- outs
		return nil
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[squareArgs]) error {
		if job.Args.N == 0 {
			return nil
		}
		return job.SetOutput(job.Args.N * job.Args.N)
	}))
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[squaresDoneArgs]) error {
		var all []*kiln.JobOutput
		opts := &kiln.BatchOutputsOpts{Limit: 2}
		for {
			page, err := job.BatchOutputs(ctx, opts)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			opts.AfterID = page[len(page)-1].JobID
		}
		callbacks <- all
		return nil
	}))
	return workers
}

// TestOutputsFlowToContinuationsAndBatchCallbacks is issue 13's "done
// when" for outputs, on both stores: a worker's output is stored with its
// completion, JobGet returns it, a continuation reads its parents' outputs
// typed, and a batch callback reads its batch's outputs in pages.
func TestOutputsFlowToContinuationsAndBatchCallbacks(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		reports := make(chan map[int64]sumOutput, 1)
		callbacks := make(chan []*kiln.JobOutput, 1)
		cfg := fastConfigFor(st, outputWorkers(reports, callbacks), nil)
		c := startClient(t, cfg)
		ctx := context.Background()

		a := clienttest.Enqueue(t, c, sumArgs{A: 1, B: 2}, nil)
		b := clienttest.Enqueue(t, c, sumArgs{A: 10, B: 20}, nil)
		clienttest.Enqueue(t, c, reportArgs{}, &kiln.EnqueueOpts{Parents: []int64{a.ID, b.ID}})
		got := testutil.Receive(t, reports, "the continuation's parent outputs", nil)
		want := map[int64]sumOutput{a.ID: {Sum: 3}, b.ID: {Sum: 30}}
		if len(got) != 2 || got[a.ID] != want[a.ID] || got[b.ID] != want[b.ID] {
			t.Fatalf("continuation read %v, want %v", got, want)
		}
		row, err := c.JobGet(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		var out sumOutput
		if err := json.Unmarshal(row.Output, &out); err != nil || out.Sum != 3 || row.OutputEncrypted {
			t.Fatalf("JobGet Output = %s (encrypted %v), want {\"sum\":3}", row.Output, row.OutputEncrypted)
		}

		var jobs []kiln.EnqueueParams
		for n := range 5 { // 0 records no output
			jobs = append(jobs, kiln.EnqueueParams{Args: squareArgs{N: n}})
		}
		batch, err := c.EnqueueBatch(ctx, jobs, &kiln.BatchOpts{Callback: squaresDoneArgs{}})
		if err != nil {
			t.Fatal(err)
		}
		outs := testutil.Receive(t, callbacks, "the batch callback's outputs", nil)
		if len(outs) != 5 {
			t.Fatalf("callback read %d outputs, want 5", len(outs))
		}
		for i, o := range outs {
			wantOut := ""
			if i > 0 {
				wantOut = strings.TrimSpace(string(must(json.Marshal(i * i))))
			}
			if o.JobID != batch.Jobs[i].Job.ID || o.State != kiln.JobStateCompleted || string(o.Output) != wantOut {
				t.Errorf("output %d = {%d %s %s}, want {%d completed %s}", i, o.JobID, o.State, o.Output, batch.Jobs[i].Job.ID, wantOut)
			}
		}
	})
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

type bigOutputArgs struct{}

func (bigOutputArgs) Kind() string { return "big_output" }

// TestOutputSizeLimit: an output over Config.MaxOutputBytes is refused with
// ErrOutputTooLarge, returned to the worker; the job fails only if the
// worker returns it, and the previous output stays.
func TestOutputSizeLimit(t *testing.T) {
	t.Parallel()
	errs := make(chan error, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[bigOutputArgs]) error {
		if err := job.SetOutput("small"); err != nil {
			return err
		}
		errs <- job.SetOutput(strings.Repeat("x", 200))
		return nil
	}))
	cfg := fastConfig(openStore(t, ""), workers, nil)
	cfg.MaxOutputBytes = 100
	c := startClient(t, cfg)
	job := clienttest.Enqueue(t, c, bigOutputArgs{}, nil)
	err := testutil.Receive(t, errs, "SetOutput's error", nil)
	if !errors.Is(err, kiln.ErrOutputTooLarge) || !strings.Contains(err.Error(), "202 bytes of JSON; at most 100") {
		t.Fatalf("SetOutput of 202 bytes: %v, want ErrOutputTooLarge naming the sizes", err)
	}
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if string(row.Output) != `"small"` {
		t.Fatalf("Output = %s, want the earlier \"small\"", row.Output)
	}
	if _, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), MaxOutputBytes: -1}); err == nil {
		t.Fatal("MaxOutputBytes -1: no error")
	}
}

// TestSetOutputOutsideAClient: a Job made by hand (a unit test of a worker)
// validates and keeps its output, with the default limit.
func TestSetOutputOutsideAClient(t *testing.T) {
	t.Parallel()
	job := &kiln.Job[testArgs]{JobRow: &kiln.JobRow{ID: 7}}
	if err := job.SetOutput(make(chan int)); !errors.As(err, new(*kiln.ValidationError)) {
		t.Errorf("SetOutput(chan): %v, want a *ValidationError", err)
	}
	if err := job.SetOutput(strings.Repeat("x", kiln.DefaultMaxOutputBytes)); !errors.Is(err, kiln.ErrOutputTooLarge) {
		t.Errorf("SetOutput over the default limit: %v", err)
	}
	if err := job.SetOutput(map[string]string{"kiln_enc": "x"}); err == nil {
		t.Error("SetOutput with the reserved key kiln_enc: no error")
	}
	// Nested deeper than SQLite's JSON functions read (and than a job's
	// JSON could embed for encoding/json): refused, naming the limit.
	deep := json.RawMessage(strings.Repeat("[", 1001) + strings.Repeat("]", 1001))
	var verr *kiln.ValidationError
	if err := job.SetOutput(deep); !errors.As(err, &verr) || verr.Field != "output" || !strings.Contains(err.Error(), "at most 1000") {
		t.Errorf("SetOutput nested 1,001 deep: %v, want a *ValidationError for output naming the limit 1000", err)
	}
	if err := job.SetOutput(json.RawMessage(strings.Repeat("[", 1000) + strings.Repeat("]", 1000))); err != nil {
		t.Errorf("SetOutput nested 1,000 deep: %v", err)
	}
	if err := job.SetOutput(json.RawMessage(`{"ok":true}`)); err != nil {
		t.Errorf("SetOutput: %v", err)
	}
	if _, err := job.ParentOutputs(context.Background()); err != nil {
		t.Errorf("ParentOutputs of a job without parents: %v", err)
	}
}

// TestOutputEncrypted: with an Encryptor, outputs are stored sealed (the
// plain text is nowhere in the store), read back decrypted by JobGet and by
// continuations, and redacted for a client without the key.
func TestOutputEncrypted(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	reports := make(chan map[int64]sumOutput, 1)
	cfg := fastConfig(st, outputWorkers(reports, nil), nil)
	cfg.Encryptor = clienttest.Encryptor(t)
	c := startClient(t, cfg)
	ctx := context.Background()
	a := clienttest.Enqueue(t, c, sumArgs{A: 40, B: 2}, nil)
	clienttest.Enqueue(t, c, reportArgs{}, &kiln.EnqueueOpts{Parents: []int64{a.ID}})
	if got := testutil.Receive(t, reports, "the continuation's parent outputs", nil); got[a.ID].Sum != 42 {
		t.Fatalf("continuation read %v, want sum 42", got)
	}
	stored, err := st.JobGet(ctx, &store.JobGetParams{ID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	// Quoted: base64 has no quotes, so the sealed text cannot hold it by chance.
	if bytes.Contains(stored.Output, []byte(`"sum"`)) || !bytes.Contains(stored.Output, []byte(`"kiln_enc"`)) {
		t.Fatalf("stored output %s is not sealed", stored.Output)
	}
	row, err := c.JobGet(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if string(row.Output) != `{"sum":42}` || !row.OutputEncrypted {
		t.Fatalf("JobGet with the key: Output %s, encrypted %v", row.Output, row.OutputEncrypted)
	}
	reader, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	row, err = reader.JobGet(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !row.OutputEncrypted || !bytes.Contains(row.Output, []byte(`"redacted":true`)) {
		t.Fatalf("JobGet without the key: Output %s, encrypted %v; want redacted", row.Output, row.OutputEncrypted)
	}
	// A reader with the key redacts for a viewer who may not see it.
	row, err = c.JobGet(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	kiln.RedactArgs(row)
	if !bytes.Contains(row.Output, []byte(`"redacted":true`)) {
		t.Fatalf("RedactArgs left Output %s", row.Output)
	}
}

type manyParentsArgs struct{}

func (manyParentsArgs) Kind() string { return "many_parents" }

// TestParentOutputsOfMoreThan1000Parents: a continuation of 1,001 jobs
// reads all their outputs (the store reads at most 1,000 IDs a call, so
// ParentOutputs reads in chunks); and a parent given twice is one parent,
// in the job's metadata and in ParentOutputs. ParentOutputs used to pass
// every ID to the store at once, and failed on every attempt.
func TestParentOutputsOfMoreThan1000Parents(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		type result struct {
			outs map[int64]int
			ids  []int64
			err  error
		}
		results := make(chan result, 1)
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[squareArgs]) error {
			return job.SetOutput(job.Args.N)
		}))
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[manyParentsArgs]) error {
			outs, err := kiln.ParentOutputs[int](ctx, job)
			results <- result{outs: outs, ids: kiln.ParentIDs(job.JobRow), err: err}
			return nil
		}))
		cfg := fastConfigFor(st, workers, nil)
		c := startClient(t, cfg)
		ctx := context.Background()
		const n = 1001
		params := make([]kiln.EnqueueParams, n)
		for i := range params {
			params[i] = kiln.EnqueueParams{Args: squareArgs{N: i + 1}}
		}
		res, err := c.EnqueueMany(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]int64, 0, n+2)
		for i := len(res) - 1; i >= 0; i-- { // the last first: the order given is kept
			ids = append(ids, res[i].Job.ID)
		}
		ids = append(ids, res[n-1].Job.ID, res[0].Job.ID) // twice
		child, err := c.Enqueue(ctx, manyParentsArgs{}, &kiln.EnqueueOpts{Parents: ids})
		if err != nil {
			t.Fatal(err)
		}
		if got := kiln.ParentIDs(child.Job); len(got) != n || got[0] != res[n-1].Job.ID || got[n-1] != res[0].Job.ID {
			t.Errorf("ParentIDs of the enqueued job: %d IDs, first %d, last %d; want %d, the order given without repeats", len(got), got[0], got[n-1], n)
		}
		got := testutil.Receive(t, results, "the continuation's parent outputs", nil)
		if got.err != nil || len(got.outs) != n {
			t.Fatalf("ParentOutputs of a continuation of %d jobs: %d outputs, error %v", n, len(got.outs), got.err)
		}
		for i, r := range res {
			if got.outs[r.Job.ID] != i+1 {
				t.Fatalf("output of parent %d = %d, want %d", r.Job.ID, got.outs[r.Job.ID], i+1)
			}
		}
		if len(got.ids) != n {
			t.Errorf("the worker's ParentIDs: %d IDs, want %d", len(got.ids), n)
		}
	})
}

type forgedBatchArgs struct{}

func (forgedBatchArgs) Kind() string { return "forged_batch" }

// TestReservedMetadataKeys: the metadata keys Kiln sets itself (a job's
// parents, batch and recurring entry) are refused in EnqueueOpts.Metadata,
// EnqueueBatch's jobs and callback, and a recurring entry, with a
// *ValidationError naming the key; Kiln's own paths still set them. A plain
// job enqueued with kiln.batch_id used to read that batch's outputs,
// decrypted, and JobWorkflow showed it in the batch, on both stores. The
// trace keys stay open to callers.
func TestReservedMetadataKeys(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		callbacks := make(chan []*kiln.JobOutput, 1)
		workers := outputWorkers(make(chan map[int64]sumOutput, 1), callbacks)
		kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[forgedBatchArgs]) error {
			outs, err := job.BatchOutputs(ctx, nil)
			if err == nil && len(outs) > 0 {
				err = errors.New("read another batch's outputs")
			}
			return err
		}))
		cfg := fastConfigFor(st, workers, nil)
		cfg.Encryptor = clienttest.Encryptor(t)
		c := startClient(t, cfg)
		ctx := context.Background()
		victim, err := c.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: squareArgs{N: 42}}}, &kiln.BatchOpts{ID: "victim", Callback: squaresDoneArgs{}})
		if err != nil {
			t.Fatal(err)
		}
		// Kiln's own paths set the keys: the callback is in the batch and reads its outputs.
		if outs := testutil.Receive(t, callbacks, "the victim's callback", nil); len(outs) != 1 || string(outs[0].Output) != "1764" {
			t.Fatalf("the victim's callback read %d outputs", len(outs))
		}
		if w, err := c.JobWorkflow(ctx, victim.Callback.ID, 10); err != nil || w.Batch == nil || w.Batch.ID != "victim" {
			t.Fatalf("the callback's workflow: %+v, %v", w, err)
		}

		for _, key := range []string{kiln.MetadataParentIDs, kiln.MetadataBatchID, kiln.MetadataBatchTotal, kiln.MetadataBatchCompleted,
			kiln.MetadataBatchFailed, kiln.MetadataRecurringID, kiln.MetadataOccurrenceAt} {
			field := `metadata["` + key + `"]`
			opts := &kiln.EnqueueOpts{Metadata: map[string]string{"team": "a", key: "victim"}}
			_, err := c.Enqueue(ctx, forgedBatchArgs{}, opts)
			wantInvalid(t, "Enqueue with "+key, err, field, "reserved")
			_, err = c.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: squareArgs{N: 1}, Opts: opts}}, nil)
			wantInvalid(t, "EnqueueBatch job with "+key, err, field)
			_, err = c.EnqueueBatch(ctx, []kiln.EnqueueParams{{Args: squareArgs{N: 1}}}, &kiln.BatchOpts{Callback: squaresDoneArgs{}, CallbackOpts: opts})
			wantInvalid(t, "EnqueueBatch callback with "+key, err, field)
			err = c.RecurringCheck(kiln.RecurringJob{ID: "r", Schedule: "@hourly", Args: forgedBatchArgs{}, Opts: opts})
			wantInvalid(t, "recurring entry with "+key, err, field)
		}
		if jobs, err := c.JobList(ctx, &kiln.JobListParams{Kinds: []string{"forged_batch"}}); err != nil || len(jobs.Jobs) != 0 {
			t.Errorf("forged jobs stored: %v", err)
		}
		// The trace keys, and other kiln. keys, may be set.
		res, err := c.Enqueue(ctx, forgedBatchArgs{}, &kiln.EnqueueOpts{Metadata: map[string]string{
			kiln.MetadataTraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "kiln.mine": "x"}})
		if err != nil {
			t.Fatal(err)
		}
		clienttest.WaitState(t, c, res.Job.ID, kiln.JobStateCompleted)
	})
}
