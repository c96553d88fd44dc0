package kiln

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// ParentFailurePolicy says what a continuation does when a parent does not
// complete; re-exported from kilntype (ParentFailureCancel, ParentFailureRun).
type ParentFailurePolicy = kilntype.ParentFailurePolicy

// The parent failure policies, re-exported from kilntype.
const (
	ParentFailureCancel = kilntype.ParentFailureCancel
	ParentFailureRun    = kilntype.ParentFailureRun
)

// BatchRow is a batch and its progress, re-exported from kilntype.
type BatchRow = kilntype.BatchRow

// Metadata keys Kiln sets on continuations and batch jobs. They are
// reserved: EnqueueOpts.Metadata (and a recurring entry's) may not hold
// them, so that they say what Kiln made the job.
const (
	MetadataParentIDs      = store.MetadataParentIDs // "kiln.parent_ids": a continuation's parents, a JSON array of IDs
	MetadataBatchID        = "kiln.batch_id"
	MetadataBatchTotal     = "kiln.batch_total"     // on a released callback
	MetadataBatchCompleted = "kiln.batch_completed" // on a released callback
	MetadataBatchFailed    = "kiln.batch_failed"    // on a released callback: cancelled + discarded
)

// ParentIDs returns the parents of a continuation (EnqueueOpts.Parents,
// each once, in the order first given), or nil for other jobs.
func ParentIDs(job *JobRow) []int64 {
	var meta struct {
		Parents []int64 `json:"kiln.parent_ids"`
	}
	_ = json.Unmarshal(job.Metadata, &meta)
	return uniqueIDs(meta.Parents) // a job enqueued before duplicates were removed may hold some
}

// uniqueIDs returns ids without repeats, in the order of their first
// occurrence: ids itself when it has none, else a new slice.
func uniqueIDs(ids []int64) []int64 {
	if len(ids) < 2 {
		return ids
	}
	seen := make(map[int64]struct{}, len(ids))
	var out []int64
	for i, id := range ids {
		if _, dup := seen[id]; !dup {
			seen[id] = struct{}{}
			if out != nil {
				out = append(out, id)
			}
			continue
		}
		if out == nil {
			out = append(make([]int64, 0, len(ids)-1), ids[:i]...)
		}
	}
	if out == nil {
		return ids
	}
	return out
}

// BatchOutcome is what a batch callback learns of its batch.
type BatchOutcome struct {
	BatchID   string // the batch's ID (BatchResult.ID)
	Total     int    // jobs in the batch
	Completed int    // of which completed
	Failed    int    // of which cancelled or discarded
}

// BatchOutcomeOf returns the outcome of the batch whose callback job is job,
// and false if job is not a released batch callback.
func BatchOutcomeOf(job *JobRow) (BatchOutcome, bool) {
	var meta struct {
		ID        string `json:"kiln.batch_id"`
		Total     *int   `json:"kiln.batch_total"`
		Completed int    `json:"kiln.batch_completed"`
		Failed    int    `json:"kiln.batch_failed"`
	}
	if json.Unmarshal(job.Metadata, &meta) != nil || meta.Total == nil {
		return BatchOutcome{}, false
	}
	return BatchOutcome{BatchID: meta.ID, Total: *meta.Total, Completed: meta.Completed, Failed: meta.Failed}, true
}

// BatchOpts configures EnqueueBatch.
type BatchOpts struct {
	// ID names the batch; default a random 16-hex-digit ID. An ID is
	// used once: EnqueueBatch with the ID of a stored batch fails (a
	// *ValidationError for field "batch_id") and enqueues nothing, also
	// when two calls race with one new ID. It can be used again once
	// retention has deleted the batch with its jobs.
	ID string
	// Callback, if set, is a job enqueued with the batch that runs once,
	// after every job of the batch has ended (completed, cancelled or
	// discarded), whatever their outcome; its metadata then carries the
	// batch's counts (see BatchOutcomeOf). Hangfire keeps this in its paid
	// tier, as River, Oban and Sidekiq do.
	Callback JobArgs
	// CallbackOpts are the callback's enqueue options (nil: defaults).
	// The batch decides when the callback runs and what it waits for, so
	// Unique, RunAt, RunIn, Parents and ParentFailure are refused here (a
	// *ValidationError for "unique", "run_at", "run_in", "parents" or
	// "parent_failure"), also when the callback's args set them
	// (JobArgsWithEnqueueOpts), as RunAt and RunIn are for a continuation.
	CallbackOpts *EnqueueOpts
}

// BatchResult is an enqueued batch.
type BatchResult struct {
	ID       string           // the batch's ID, in each job's metadata
	Jobs     []*EnqueueResult // one per job, in the order given
	Callback *JobRow          // nil without a callback
}

// EnqueueBatch enqueues jobs as one batch, and its callback, in one
// transaction: all or nothing. Follow its progress with BatchGet. Errors
// are as EnqueueMany's; a store without batch support gives an error. A
// batch ID that names a stored batch (BatchOpts.ID) is refused with a
// *ValidationError for field "batch_id": a batch is made by one call, and
// jobs cannot be added to it later.
//
// A batch's jobs cannot be unique (EnqueueOpts.Unique, or their args'
// EnqueueOpts): a unique duplicate is not inserted, so it would not be in
// the batch, while the callback would wait for the job that holds the key
// (BatchGet would say Finished with the callback still pending). Such a
// job is refused with a *ValidationError for "unique"; every job of a
// batch is inserted as a new job, and BatchResult.Jobs holds them.
func (c *Client) EnqueueBatch(ctx context.Context, jobs []EnqueueParams, opts *BatchOpts) (*BatchResult, error) {
	if len(jobs) == 0 {
		return nil, errors.New("kiln: enqueue batch: no jobs")
	}
	var o BatchOpts
	if opts != nil {
		o = *opts
	}
	if o.ID == "" {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		o.ID = hex.EncodeToString(b)
	}
	if len(o.ID) > 200 {
		return nil, fmt.Errorf("kiln: enqueue batch: %w", invalid("batch_id", "%d bytes; at most 200", len(o.ID)))
	}
	if err := store.CheckText("batch_id", o.ID); err != nil {
		return nil, fmt.Errorf("kiln: enqueue batch: %w", err)
	}
	now := c.now()
	ins := make([]*store.JobInsertParams, 0, len(jobs)+1)
	for i, p := range jobs {
		ip, err := c.insertParamsAs(p, now, roleBatchJob)
		if err != nil {
			return nil, fmt.Errorf("kiln: enqueue batch job %d: %w", i, err)
		}
		ip.BatchID = o.ID
		ip.Metadata = withMetadata(ip.Metadata, MetadataBatchID, o.ID)
		ins = append(ins, ip)
	}
	if o.Callback != nil {
		cp, err := c.insertParamsAs(EnqueueParams{Args: o.Callback, Opts: o.CallbackOpts}, now, roleBatchCallback)
		if err != nil {
			return nil, fmt.Errorf("kiln: enqueue batch callback: %w", err)
		}
		cp.State, cp.ParentFailure = kilntype.JobStatePending, ParentFailureRun
		cp.BatchID, cp.BatchCallback = o.ID, true
		cp.ParentRefs = make([]int, len(jobs))
		for i := range cp.ParentRefs {
			cp.ParentRefs[i] = i
		}
		cp.Metadata = withMetadata(cp.Metadata, MetadataBatchID, o.ID)
		ins = append(ins, cp)
	}
	results, err := c.cfg.Store.JobInsertMany(ctx, ins)
	if err != nil {
		return nil, fmt.Errorf("kiln: enqueue batch %q: %w", o.ID, err)
	}
	res := &BatchResult{ID: o.ID}
	var queues []string
	for i, r := range results[:len(jobs)] {
		c.reveal(r.Job, 0)
		res.Jobs = append(res.Jobs, &EnqueueResult{Job: r.Job, UniqueSkipped: r.UniqueSkipped, UniqueReplaced: r.UniqueReplaced})
		if i == 0 || r.Job.Queue != queues[len(queues)-1] {
			queues = append(queues, r.Job.Queue)
		}
	}
	if o.Callback != nil {
		res.Callback = results[len(jobs)].Job
		c.reveal(res.Callback, 0)
	}
	c.wakeInserted(queues...)
	if _, ok := ActorFrom(ctx); ok {
		rows := make([]*JobRow, 0, len(results))
		for _, r := range results {
			if !r.UniqueSkipped {
				rows = append(rows, r.Job)
			}
		}
		target, d := enqueueDetail(rows, o.ID)
		c.audit(ctx, AuditJobEnqueue, target, d)
	}
	return res, nil
}

// BatchGet returns a batch and its progress: how many of its jobs are in
// each state, and its callback job. An unknown ID gives ErrNotFound.
func (c *Client) BatchGet(ctx context.Context, id string) (*BatchRow, error) {
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: get batch %q: %w", id, err)
	}
	b, err := c.cfg.Store.BatchGet(ctx, &store.BatchGetParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: get batch %q: %w", id, err)
	}
	return b, nil
}

// withMetadata returns the JSON object metadata with key set to value.
func withMetadata(metadata []byte, key string, value any) []byte {
	m := map[string]any{}
	_ = json.Unmarshal(metadata, &m) // the client built it: an object
	m[key] = value
	out, _ := json.Marshal(m)
	return out
}
