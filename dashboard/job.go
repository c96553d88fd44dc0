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
	Job      *kilntype.JobRow
	Attempts []*kilntype.JobAttempt
	Timeline []timelineEntry
	// Actions says which buttons the job's state allows.
	CanRetry, CanRun, CanCancel, CanDelete bool
	jobExtras
}

// timelineEntry is one moment of a job's life, oldest first.
type timelineEntry struct {
	At    time.Time
	State string // a state or attempt outcome, for its colour
	Text  string
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
	d := &jobData{Job: job, Attempts: attempts, Timeline: timeline(job, attempts)}
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

// timeline lists a job's moments: enqueued, due, each attempt's start and
// end, the cancel request and the finalization.
func timeline(job *kilntype.JobRow, attempts []*kilntype.JobAttempt) []timelineEntry {
	tl := []timelineEntry{{At: job.CreatedAt, State: "created", Text: "enqueued in queue " + job.Queue}}
	if job.ScheduledAt.After(job.CreatedAt) && len(attempts) == 0 {
		tl = append(tl, timelineEntry{At: job.ScheduledAt, State: string(kilntype.JobStateScheduled), Text: "due"})
	}
	for _, a := range attempts {
		tl = append(tl, timelineEntry{At: a.StartedAt, State: string(kilntype.JobStateRunning), Text: "attempt " + strconv.Itoa(a.Attempt) + " started on " + a.Server})
		if a.FinishedAt != nil {
			text := "attempt " + strconv.Itoa(a.Attempt) + " " + string(a.Outcome)
			if a.Error != "" {
				text += ": " + a.Error
			}
			tl = append(tl, timelineEntry{At: *a.FinishedAt, State: string(a.Outcome), Text: text})
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
