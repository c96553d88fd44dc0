package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// jobTemplate is the job part of an enqueue and of a recurring entry.
type jobTemplate struct {
	Kind        string            `json:"kind"`
	Args        json.RawMessage   `json:"args"`
	Queue       string            `json:"queue"`
	Priority    int               `json:"priority"`
	MaxAttempts int               `json:"max_attempts"`
	Tags        []string          `json:"tags"`
	Metadata    map[string]string `json:"metadata"`
}

// build returns the template's args and options; prefix is prepended to
// field names in errors ("jobs.").
func (t *jobTemplate) build(prefix string) (kiln.RawArgs, *kiln.EnqueueOpts, error) {
	if t.Kind == "" {
		return kiln.RawArgs{}, nil, badRequest(prefix+"kind", "missing: name the kind of job (GET /kinds lists them)")
	}
	args := kiln.RawArgs{JobKind: t.Kind, JSON: t.Args}
	if string(t.Args) == "null" {
		args.JSON = nil
	}
	return args, &kiln.EnqueueOpts{
		Queue: t.Queue, Priority: t.Priority, MaxAttempts: t.MaxAttempts, Tags: t.Tags, Metadata: t.Metadata,
	}, nil
}

// enqueueRequest is the body of POST /jobs and each of POST /jobs/batch's
// jobs; see openapi.yaml's EnqueueRequest.
type enqueueRequest struct {
	jobTemplate
	RunAt         string          `json:"run_at"`
	RunIn         json.RawMessage `json:"run_in"`
	Unique        *uniqueRequest  `json:"unique"`
	Parents       []int64         `json:"parents"`
	ParentFailure string          `json:"parent_failure"`
	Partition     string          `json:"partition"`
}

// uniqueRequest is kiln.UniqueOpts in JSON.
type uniqueRequest struct {
	ByQueue  bool            `json:"by_queue"`
	ByPeriod json.RawMessage `json:"by_period"`
	Key      string          `json:"key"`
	Replace  []string        `json:"replace"` // "args", "schedule"
}

// enqueueResult is kiln.EnqueueResult in JSON.
type enqueueResult struct {
	Job            *kilntype.JobRow `json:"job"`
	UniqueSkipped  bool             `json:"unique_skipped"`
	UniqueReplaced bool             `json:"unique_replaced,omitempty"`
}

// params turns req into an EnqueueParams checked by the client; prefix is
// prepended to field names in errors.
func (a *api) params(req *enqueueRequest, prefix string) (kiln.EnqueueParams, error) {
	args, opts, err := req.build(prefix)
	if err != nil {
		return kiln.EnqueueParams{}, err
	}
	if opts.RunAt, err = parseTime(prefix+"run_at", req.RunAt); err != nil {
		return kiln.EnqueueParams{}, err
	}
	if opts.RunIn, err = parseDuration(prefix+"run_in", req.RunIn); err != nil {
		return kiln.EnqueueParams{}, err
	}
	if !opts.RunAt.IsZero() && opts.RunIn != 0 {
		return kiln.EnqueueParams{}, badRequest(prefix+"run_in", "give run_at or run_in, not both")
	}
	if req.Unique != nil {
		opts.Unique = &kiln.UniqueOpts{ByQueue: req.Unique.ByQueue, Key: req.Unique.Key}
		if opts.Unique.ByPeriod, err = parseDuration(prefix+"unique.by_period", req.Unique.ByPeriod); err != nil {
			return kiln.EnqueueParams{}, err
		}
		for _, r := range req.Unique.Replace {
			switch r {
			case "args":
				opts.Unique.Replace.Args = true
			case "schedule":
				opts.Unique.Replace.Schedule = true
			default:
				return kiln.EnqueueParams{}, badRequest(prefix+"unique.replace", "unknown field %q (want args or schedule)", r)
			}
		}
	}
	opts.Parents, opts.ParentFailure = req.Parents, kiln.ParentFailurePolicy(req.ParentFailure)
	opts.Partition = req.Partition
	if err := a.checkArgsSchema(args, prefix); err != nil {
		return kiln.EnqueueParams{}, err
	}
	if err := a.client.EnqueueCheck(args, opts); err != nil {
		return kiln.EnqueueParams{}, checkError(err, prefix)
	}
	return kiln.EnqueueParams{Args: args, Opts: opts}, nil
}

// checkError turns an error of Client.EnqueueCheck or RecurringCheck into a
// 400 naming the field at fault, from the *kiln.ValidationError it wraps.
func checkError(err error, prefix string) *Error {
	field := strings.TrimSuffix(prefix, ".")
	var ve *kiln.ValidationError
	if errors.As(err, &ve) {
		field = prefix + ve.Field
	}
	return &Error{Status: http.StatusBadRequest, Field: field, Message: err.Error()}
}

// enqueue stores params and answers their results: 201 when a job was
// stored, 200 when every one was a unique duplicate.
func (a *api) enqueue(w http.ResponseWriter, r *http.Request, params []kiln.EnqueueParams, one bool) error {
	res, err := a.client.EnqueueMany(traceContext(r), params)
	if errors.Is(err, kiln.ErrNotFound) { // a parent job does not exist
		field := "parents"
		if m := unknownParentParam.FindStringSubmatch(err.Error()); !one && m != nil {
			if i, err := strconv.Atoi(m[1]); err == nil && i < len(params) {
				field = fmt.Sprintf("jobs[%d].parents", i)
			}
		}
		return badRequest(field, "%v", err)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	out := make([]enqueueResult, len(res))
	for i, e := range res {
		a.redactJobs(r, e.Job)
		out[i] = enqueueResult{Job: e.Job, UniqueSkipped: e.UniqueSkipped, UniqueReplaced: e.UniqueReplaced}
		if !e.UniqueSkipped {
			status = http.StatusCreated
		}
	}
	if one {
		return writeJSON(w, status, out[0])
	}
	return writeJSON(w, status, map[string]any{"results": out})
}

// unknownParentParam finds the index of the param in the stores' error for
// an unknown parent ("param 3: parent job 99: not found"), so that POST
// /jobs/batch names the job at fault.
var unknownParentParam = regexp.MustCompile(`\bparam (\d+): parent job \d+`)

// traceContext returns r's context with the W3C trace context of its
// traceparent and tracestate headers as the remote parent, so that the
// enqueue continues the caller's trace; unless the context carries a span
// already (the server's own HTTP instrumentation made one, itself a child
// of the caller's), or the headers hold no valid trace context.
func traceContext(r *http.Request) context.Context {
	ctx := r.Context()
	if r.Header.Get("traceparent") == "" || trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.HeaderCarrier(r.Header))
}

// jobEnqueue is POST /jobs.
func (a *api) jobEnqueue(w http.ResponseWriter, r *http.Request) error {
	var req enqueueRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	p, err := a.params(&req, "")
	if err != nil {
		return err
	}
	return a.enqueue(w, r, []kiln.EnqueueParams{p}, true)
}

// maxBatch caps the jobs of one POST /jobs/batch.
const maxBatch = 10_000

// jobEnqueueBatch is POST /jobs/batch: every job or none.
func (a *api) jobEnqueueBatch(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Jobs []*enqueueRequest `json:"jobs"`
	}
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if len(req.Jobs) == 0 || len(req.Jobs) > maxBatch {
		return badRequest("jobs", "%d jobs: want 1 to %d", len(req.Jobs), maxBatch)
	}
	params := make([]kiln.EnqueueParams, len(req.Jobs))
	for i, job := range req.Jobs {
		if job == nil {
			return badRequest(fmt.Sprintf("jobs[%d]", i), "null: want a job object")
		}
		var err error
		if params[i], err = a.params(job, fmt.Sprintf("jobs[%d].", i)); err != nil {
			return err
		}
	}
	return a.enqueue(w, r, params, false)
}

// jobList is GET /jobs: newest first (order=asc for oldest), filtered,
// keyset-paginated by next_cursor. Args longer than kiln.JobListArgsPreview
// bytes are cut (args null, args_preview, args_truncated, args_bytes): GET
// /jobs/{id} has them whole.
func (a *api) jobList(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "state", "kind", "queue", "tag", "args_contains", "created_from", "created_before", "cursor", "stop_at", "limit", "order")
	if err != nil {
		return err
	}
	p := &kiln.JobListParams{Kinds: list(q, "kind"), Queues: list(q, "queue"), Tag: q.Get("tag"), ArgsContains: q.Get("args_contains"),
		ArgsPreview: kiln.JobListArgsPreview}
	if p.CreatedFrom, err = parseTime("created_from", q.Get("created_from")); err != nil {
		return err
	}
	if p.CreatedBefore, err = parseTime("created_before", q.Get("created_before")); err != nil {
		return err
	}
	for _, s := range list(q, "state") {
		state := kilntype.JobState(s)
		if !state.Valid() {
			return badRequest("state", "unknown state %q (want one of %v)", s, kilntype.JobStates())
		}
		p.States = append(p.States, state)
	}
	if p.Cursor, err = intParam(q, "cursor", 0, 0, 1<<63-1); err != nil {
		return err
	}
	if p.StopAt, err = intParam(q, "stop_at", 0, 0, 1<<63-1); err != nil {
		return err
	}
	limit, err := intParam(q, "limit", kiln.DefaultJobListLimit, 1, kiln.MaxJobListLimit)
	if err != nil {
		return err
	}
	p.Limit = int(limit)
	switch q.Get("order") {
	case "", "desc":
	case "asc":
		p.OrderAsc = true
	default:
		return badRequest("order", "%q: want asc or desc", q.Get("order"))
	}
	res, err := a.client.JobList(r.Context(), p)
	if err != nil {
		return err
	}
	a.redactJobs(r, res.Jobs...)
	return writeJSON(w, http.StatusOK, jobPage{Jobs: nonNil(res.Jobs), NextCursor: res.NextCursor})
}

// jobPage is one page of GET /jobs.
type jobPage struct {
	Jobs []*kilntype.JobRow `json:"jobs"`
	// NextCursor is the cursor of the next page; absent on the last page.
	NextCursor int64 `json:"next_cursor,omitempty"`
}

// nonNil returns s, or an empty slice for nil, so that lists encode as [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// jobAttempts is GET /jobs/{id}/attempts: 404 for an unknown job.
func (a *api) jobAttempts(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	if _, err := a.client.JobGet(r.Context(), id); err != nil {
		return err
	}
	attempts, err := a.client.JobAttempts(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"attempts": nonNil(attempts)})
}

// jobLogs is GET /jobs/{id}/logs: the lines the job's workers logged,
// oldest first, after after_seq; the first limit of them, or the last with
// tail=true. 404 for an unknown job.
func (a *api) jobLogs(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	q, err := query(r, "after_seq", "limit", "tail")
	if err != nil {
		return err
	}
	p := &kiln.JobLogsParams{}
	if p.AfterSeq, err = intParam(q, "after_seq", 0, 0, 1<<63-1); err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 100, 1, kiln.MaxJobListLimit)
	if err != nil {
		return err
	}
	p.Limit = int(limit)
	switch q.Get("tail") {
	case "", "false":
	case "true":
		p.Tail = true
	default:
		return badRequest("tail", "%q: want true or false", q.Get("tail"))
	}
	if _, err := a.client.JobGet(r.Context(), id); err != nil {
		return err
	}
	lines, err := a.client.JobLogs(r.Context(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"lines": nonNil(lines)})
}
