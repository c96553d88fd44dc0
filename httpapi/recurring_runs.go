package httpapi

import (
	"net/http"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// runView is one line of a recurring entry's history (kiln.RecurringRun):
// durations in milliseconds.
type runView struct {
	At         time.Time         `json:"at"`
	JobID      int64             `json:"job_id,omitempty"`
	State      kilntype.JobState `json:"state,omitempty"`
	StartedAt  *time.Time        `json:"started_at,omitempty"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	DurationMS float64           `json:"duration_ms"`
	LatenessMS float64           `json:"lateness_ms"`
	Attempt    int               `json:"attempt"`
	Skipped    string            `json:"skipped,omitempty"`
	Policy     string            `json:"policy,omitempty"`
	Through    *time.Time        `json:"through,omitempty"`
	Count      int               `json:"count,omitempty"`
}

// newRunView returns r as the API shows it.
func newRunView(r *kiln.RecurringRun) runView {
	v := runView{At: r.At, JobID: r.JobID, State: r.State, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt,
		DurationMS: millis(r.Duration), LatenessMS: millis(r.Lateness), Attempt: r.Attempt,
		Skipped: r.Skipped, Policy: r.Policy, Count: r.Count}
	if r.Skipped != "" {
		through := r.Through
		v.Through = &through
	}
	return v
}

// millis is d in milliseconds, to the microsecond.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// recurringRuns is GET /recurring/{id}/runs: the entry's last runs, newest
// first, enqueued (with their jobs' state, duration and lateness) and
// skipped (with why).
func (a *api) recurringRuns(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 10, 1, kiln.MaxRecurringRuns)
	if err != nil {
		return err
	}
	runs, err := a.client.RecurringRuns(r.Context(), r.PathValue("id"), int(limit))
	if err != nil {
		return err
	}
	out := make([]runView, len(runs))
	for i, run := range runs {
		out[i] = newRunView(run)
	}
	return writeJSON(w, http.StatusOK, map[string]any{"runs": out})
}
