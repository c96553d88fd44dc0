package kiln

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// DefaultMaxOutputBytes is Config.MaxOutputBytes's default: 32 KiB.
const DefaultMaxOutputBytes = 32 << 10

// ErrOutputTooLarge is wrapped by the error of Job.SetOutput when the
// output's JSON is longer than Config.MaxOutputBytes. The job is not
// failed by it: the worker decides (return the error to fail the
// attempt, or record something smaller).
var ErrOutputTooLarge = errors.New("kiln: job output too large")

// JobOutput is one job's output as a continuation or a batch callback
// reads it, re-exported from kilntype.
type JobOutput = kilntype.JobOutput

// jobEnv is what a client's jobs reach beyond their row: the store their
// continuations read outputs from, the Encryptor, and the output limit.
// One per client, shared by its jobs.
type jobEnv struct {
	store          store.JobOutputStore // nil: outputs of other jobs cannot be read
	encryptor      *Encryptor
	maxOutputBytes int
}

// maxOutput returns the output limit of env (DefaultMaxOutputBytes for a
// Job made outside a client).
func (env *jobEnv) maxOutput() int {
	if env == nil {
		return DefaultMaxOutputBytes
	}
	return env.maxOutputBytes
}

// SetOutput records v, encoded as JSON, as the job's output: the result
// that Client.JobGet returns (JobRow.Output), that the job's continuations
// read with ParentOutputs and its batch's callback with BatchOutputs, and
// that the dashboard and the HTTP API show, as River's RecordOutput and
// Asynq's ResultWriter do. It is stored only if this attempt completes the
// job (Work returns nil), by the same write that completes it: no write
// more while the job runs, and none for a job without output. A later call
// replaces the value; SetOutput(nil) records none. It is safe to call from
// several goroutines of one Work call.
//
// It returns an error, and keeps the previous value, if v does not encode
// to JSON that every store keeps (a *ValidationError for field "output"),
// or if its JSON is longer than Config.MaxOutputBytes (32 KiB by default;
// the error wraps ErrOutputTooLarge). The job does not fail unless the
// worker returns the error. With Config.Encryptor the output is stored
// encrypted as args are (see docs/encryption.md); the limit applies to the
// plain JSON.
func (j *Job[T]) SetOutput(v any) error {
	if v == nil {
		j.output.Store(nil)
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("kiln: job %d: set output: %w", j.ID, &ValidationError{Field: "output", Message: "does not encode to JSON", Err: err})
	}
	if bytes.Equal(b, []byte("null")) {
		j.output.Store(nil)
		return nil
	}
	if limit := j.env.maxOutput(); len(b) > limit {
		return fmt.Errorf("kiln: job %d: set output: %w: %d bytes of JSON; at most %d (Config.MaxOutputBytes)",
			j.ID, ErrOutputTooLarge, len(b), limit)
	}
	if err := store.CheckJSON("output", b); err != nil {
		return fmt.Errorf("kiln: job %d: set output: %w", j.ID, err)
	}
	if hasEncKey(b) {
		return fmt.Errorf("kiln: job %d: set output: %w", j.ID,
			invalid("output", "the top-level key %q is reserved for encrypted outputs; rename it", encKey))
	}
	if j.env != nil && j.env.encryptor != nil {
		if b, err = j.env.encryptor.seal(outputData(j.ID), b); err != nil {
			return fmt.Errorf("kiln: job %d: set output: %w", j.ID, err)
		}
	}
	raw := json.RawMessage(b)
	j.output.Store(&raw)
	return nil
}

// storedOutput returns the output to store with the job (as SetOutput
// last recorded it, encrypted when it is), or nil.
func (j *Job[T]) storedOutput() json.RawMessage {
	if p := j.output.Load(); p != nil {
		return *p
	}
	return nil
}

// ParentOutputs returns the outputs of the job's parents (EnqueueOpts.Parents):
// one per parent still stored, in ID order, with its state and, if it
// completed after recording one, its output (decrypted). A job without
// parents gets none. It reads the store once per 1,000 parents (their rows
// by ID), whatever their number.
func (j *Job[T]) ParentOutputs(ctx context.Context) ([]*JobOutput, error) {
	parents := slices.Clone(ParentIDs(j.JobRow))
	if len(parents) == 0 {
		return []*JobOutput{}, nil
	}
	slices.Sort(parents)
	all := make([]*JobOutput, 0, len(parents))
	for chunk := range slices.Chunk(parents, store.MaxOutputListLimit) {
		outs, err := j.listOutputs(ctx, &store.JobOutputListParams{IDs: chunk, Limit: store.MaxOutputListLimit})
		if err != nil {
			return nil, err
		}
		all = append(all, outs...)
	}
	return all, nil
}

// BatchOutputsOpts pages Job.BatchOutputs.
type BatchOutputsOpts struct {
	// AfterID skips the jobs whose ID is AfterID or lower: the JobID of the
	// last output of the previous page; 0 starts at the batch's first job.
	AfterID int64
	// Limit is how many outputs at most: 0 means 100; at most 1,000.
	Limit int
}

// BatchOutputs returns a page of the outputs of the jobs of the job's
// batch (for its callback: see BatchOpts.Callback), in ID order: the first
// Limit jobs after AfterID (100 by default, at most 1,000 per call, so a
// callback of a batch of a million jobs reads them in pages, never all at
// once). Each comes with its state and, if it completed after recording
// one, its output (decrypted). A job deleted since (retention) is absent.
// A job that is not in a batch (no kiln.batch_id metadata) gets none.
func (j *Job[T]) BatchOutputs(ctx context.Context, opts *BatchOutputsOpts) ([]*JobOutput, error) {
	batch, _ := j.MetadataValue(MetadataBatchID)
	if batch == "" {
		return []*JobOutput{}, nil
	}
	p := &store.JobOutputListParams{BatchID: batch}
	if opts != nil {
		if opts.Limit < 0 || opts.Limit > store.MaxOutputListLimit {
			return nil, fmt.Errorf("kiln: job %d: batch outputs: %w", j.ID,
				invalid("limit", "%d; want 0 to %d", opts.Limit, store.MaxOutputListLimit))
		}
		p.AfterID, p.Limit = opts.AfterID, opts.Limit
	}
	return j.listOutputs(ctx, p)
}

// listOutputs reads outputs through the job's client and decrypts them.
func (j *Job[T]) listOutputs(ctx context.Context, p *store.JobOutputListParams) ([]*JobOutput, error) {
	if j.env == nil || j.env.store == nil {
		return nil, fmt.Errorf("kiln: job %d: read outputs: the job was not run by a client", j.ID)
	}
	outs, err := j.env.store.JobOutputList(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("kiln: job %d: read outputs: %w", j.ID, err)
	}
	for _, o := range outs {
		if o.Output == nil {
			continue
		}
		plain, err := openOutput(j.env.encryptor, o.JobID, o.Output)
		if err != nil {
			return nil, fmt.Errorf("kiln: job %d: output of job %d: %w", j.ID, o.JobID, err)
		}
		o.Output = plain
	}
	return outs, nil
}

// ParentOutputs returns the outputs of job's parents decoded into O, by
// parent ID: those that completed after recording an output (see
// Job.ParentOutputs for all of them, with their states). It fails if an
// output does not decode into O.
//
//	sums, err := kiln.ParentOutputs[SumResult](ctx, job)
func ParentOutputs[O any, T JobArgs](ctx context.Context, job *Job[T]) (map[int64]O, error) {
	outs, err := job.ParentOutputs(ctx)
	if err != nil {
		return nil, err
	}
	return decodeOutputs[O](job.ID, outs)
}

// BatchOutputs returns a page of the outputs of the jobs of job's batch
// (see Job.BatchOutputs) decoded into O, by job ID: those that completed
// after recording an output. It fails if an output does not decode into
// O. The largest key is the AfterID of the next page only if every job of
// the page recorded one: page with Job.BatchOutputs to see them all.
func BatchOutputs[O any, T JobArgs](ctx context.Context, job *Job[T], opts *BatchOutputsOpts) (map[int64]O, error) {
	outs, err := job.BatchOutputs(ctx, opts)
	if err != nil {
		return nil, err
	}
	return decodeOutputs[O](job.ID, outs)
}

// decodeOutputs decodes the recorded outputs of outs into O.
func decodeOutputs[O any](id int64, outs []*JobOutput) (map[int64]O, error) {
	m := make(map[int64]O, len(outs))
	for _, o := range outs {
		if o.Output == nil {
			continue
		}
		var v O
		if err := json.Unmarshal(o.Output, &v); err != nil {
			return nil, fmt.Errorf("kiln: job %d: decode output of job %d into %T: %w", id, o.JobID, v, err)
		}
		m[o.JobID] = v
	}
	return m, nil
}

// outputData is the additional data an output is sealed with: its job's
// ID, so that a ciphertext moved to another job (or to args) does not open.
func outputData(id int64) []byte { return []byte("kiln output\x00" + strconv.FormatInt(id, 10)) }

// openOutput returns the plain output of job id: stored as is, or
// decrypted with e when it is an envelope. Without the key the error wraps
// ErrArgsKeyMissing.
func openOutput(e *Encryptor, id int64, stored json.RawMessage) (json.RawMessage, error) {
	env := openEnvelope(stored)
	if env == nil {
		return stored, nil
	}
	plain, err := e.open(outputData(id), env)
	if err != nil {
		if errors.Is(err, ErrArgsKeyMissing) {
			return nil, err
		}
		return nil, fmt.Errorf("kiln: encrypted output (key %q) does not open for job %d: tampered with, or sealed for another job: %w", env.KID, id, err)
	}
	return plain, nil
}

// revealOutput turns row's stored output, if encrypted, into what a reader
// gets: the plain output when e opens it, else the redacted stand-in; it
// sets row.OutputEncrypted. A nil e redacts.
func (e *Encryptor) revealOutput(row *JobRow) {
	env := openEnvelope(row.Output)
	if env == nil {
		return
	}
	row.OutputEncrypted = true
	if env.Redacted {
		return
	}
	plain, err := openOutput(e, row.ID, row.Output)
	if err != nil {
		row.Output = redactedArgs(env.KID)
		return
	}
	row.Output = plain
}

// redactOutput replaces row's output by the redacted stand-in when it is
// encrypted (RedactArgs).
func redactOutput(row *JobRow) {
	if !row.OutputEncrypted {
		return
	}
	kid := ""
	if env := openEnvelope(row.Output); env != nil {
		kid = env.KID
	}
	row.Output = redactedArgs(kid)
}
