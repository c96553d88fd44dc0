package dashboard

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// jobData is the job page's data.
type jobData struct {
	Job *kilntype.JobRow
	// Attempts are the job's attempts, oldest first, the one under way
	// included.
	Attempts []*attemptView
	Timeline []timelineEntry
	// OtherError is the job's last error when no attempt shows it (such as
	// a continuation cancelled because a parent failed); "" otherwise: an
	// attempt's error is shown once, in its row.
	OtherError string
	// Actions says which buttons the job's state allows.
	CanRetry, CanRun, CanCancel, CanDelete bool
	// ArgsHidden is true when the viewer may not see decrypted args
	// (Options.RevealArgs): Job has them redacted.
	ArgsHidden bool
	// Trace is the trace of the job's enqueue; nil when it has none.
	Trace *jobTrace
	jobExtras
}

// attemptView is one attempt on the job page.
type attemptView struct {
	*kilntype.JobAttempt
	// Progress is the job's reported progress when this is the attempt
	// that reported it (the latest), else nil.
	Progress *int
}

// timelineEntry is one moment of a job's life, oldest first.
type timelineEntry struct {
	At    time.Time
	State string // a state or attempt outcome, for its colour
	Text  string
	// Row is the position (from 1) in the attempts table of the attempt
	// whose error this entry refers to; 0 for none.
	Row int
}

// jobDetail serves the job page: args and metadata as indented JSON, the
// state timeline, every attempt with its error and stack, progress and
// logs; its "live" block is polled while the job is not finalized.
func (h *handler) jobDetail(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	ctx := r.Context()
	job, err := h.client.JobGet(ctx, id)
	if errors.Is(err, kilntype.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: "There is no job " + strconv.FormatInt(id, 10) + ": it may have been deleted or cleaned up."})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	attempts, err := h.client.JobAttempts(ctx, id)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if a := runningAttempt(job); a != nil {
		attempts = append(attempts, a)
	}
	d := &jobData{Job: job, Attempts: attemptViews(job, attempts), Timeline: timeline(job, attempts, time.Now().UTC()), ArgsHidden: h.hideArgs(r)}
	redactJobs(d.ArgsHidden, job)
	d.Trace = traceOf(job, h.opts.TraceURL)
	if !slices.ContainsFunc(attempts, func(a *kilntype.JobAttempt) bool { return a.Error == job.LastError }) {
		d.OtherError = job.LastError
	}
	st := job.State
	d.CanRetry = st == kilntype.JobStateDiscarded || st == kilntype.JobStateCancelled || st == kilntype.JobStateCompleted || st == kilntype.JobStateRetryable
	d.CanRun = st == kilntype.JobStateScheduled
	d.CanCancel = !st.Finalized() && job.CancelRequestedAt == nil
	d.CanDelete = st != kilntype.JobStateRunning
	if err := h.loadJobExtras(ctx, job, &d.jobExtras); err != nil {
		h.serverError(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "job", &page{Title: "Job " + strconv.FormatInt(id, 10), Nav: "jobs", Data: d})
}

// runningAttempt returns the attempt a running job is in, which the store
// records only when it ends: its number, start and process come from the
// job row. It returns nil when the job is not running.
func runningAttempt(job *kilntype.JobRow) *kilntype.JobAttempt {
	if job.State != kilntype.JobStateRunning || job.AttemptedAt == nil {
		return nil
	}
	return &kilntype.JobAttempt{
		JobID: job.ID, Attempt: job.Attempt, StartedAt: *job.AttemptedAt,
		Server: job.LeasedBy, Outcome: kilntype.AttemptRunning,
	}
}

// attemptViews pairs the attempts with the job's progress, which belongs
// to its latest attempt.
func attemptViews(job *kilntype.JobRow, attempts []*kilntype.JobAttempt) []*attemptView {
	out := make([]*attemptView, len(attempts))
	for i, a := range attempts {
		out[i] = &attemptView{JobAttempt: a}
	}
	if n := len(out); n > 0 && out[n-1].Attempt == job.Attempt {
		out[n-1].Progress = job.Progress
	}
	return out
}

// timeline lists a job's moments: enqueued, due, each attempt's start and
// end (for the attempt under way, how long it has run and its progress,
// at now), the cancel request and the finalization.
func timeline(job *kilntype.JobRow, attempts []*kilntype.JobAttempt, now time.Time) []timelineEntry {
	tl := []timelineEntry{{At: job.CreatedAt, State: "created", Text: "enqueued in queue " + job.Queue}}
	if job.ScheduledAt.After(job.CreatedAt) && len(attempts) == 0 {
		tl = append(tl, timelineEntry{At: job.ScheduledAt, State: string(kilntype.JobStateScheduled), Text: "due"})
	}
	for i, a := range attempts {
		tl = append(tl, timelineEntry{At: a.StartedAt, State: string(kilntype.JobStateRunning), Text: "attempt " + strconv.Itoa(a.Attempt) + " started on " + a.Server})
		if a.FinishedAt == nil {
			text := "attempt " + strconv.Itoa(a.Attempt) + " running for " + formatDuration(max(now.Sub(a.StartedAt), 0))
			if job.Progress != nil {
				text += ", " + strconv.Itoa(*job.Progress) + "% done"
			}
			at := now
			if at.Before(a.StartedAt) { // another process's clock
				at = a.StartedAt
			}
			tl = append(tl, timelineEntry{At: at, State: string(kilntype.JobStateRunning), Text: text})
		} else {
			e := timelineEntry{At: *a.FinishedAt, State: string(a.Outcome), Text: "attempt " + strconv.Itoa(a.Attempt) + " " + string(a.Outcome)}
			if a.Error != "" {
				e.Row = i + 1
			}
			tl = append(tl, e)
		}
	}
	if job.CancelRequestedAt != nil {
		tl = append(tl, timelineEntry{At: *job.CancelRequestedAt, State: string(kilntype.JobStateCancelled), Text: "cancel requested"})
	}
	if job.FinalizedAt != nil {
		tl = append(tl, timelineEntry{At: *job.FinalizedAt, State: string(job.State), Text: string(job.State)})
	} else if job.State == kilntype.JobStateRetryable || (job.State == kilntype.JobStateScheduled && len(attempts) > 0) {
		tl = append(tl, timelineEntry{At: job.ScheduledAt, State: string(job.State), Text: "next attempt due"})
	}
	slices.SortStableFunc(tl, func(a, b timelineEntry) int { return a.At.Compare(b.At) })
	return tl
}
