package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
)

// recurringPageSize is how many entries a page of the Recurring page lists.
const recurringPageSize = 100

// recurringNextRuns is how many upcoming runs the Recurring page shows.
const recurringNextRuns = 5

// recurringData is the Recurring page's data.
type recurringData struct {
	Entries []*recurringEntry
	// Cursor is this page's cursor; Next the next page's, "" on the last.
	Cursor, Next string
}

// recurringEntry is one entry with what the page shows about it.
type recurringEntry struct {
	Row         *kilntype.RecurringRow
	Description string
	NextRuns    []time.Time
	// LastState is the state of the job of the latest occurrence ("" when
	// none, "deleted" when the job is gone).
	LastState string
}

// recurringList serves the Recurring page: every entry with its schedule,
// time zone, description, next runs, last run and its state.
func (h *handler) recurringList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cursor := r.URL.Query().Get("cursor")
	rows, err := h.client.RecurringList(ctx, cursor, recurringPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := &recurringData{Cursor: cursor}
	if len(rows) > recurringPageSize {
		rows = rows[:recurringPageSize]
		d.Next = rows[len(rows)-1].ID
	}
	now := time.Now().UTC()
	for _, row := range rows {
		e := &recurringEntry{Row: row, Description: schedule.Describe(row.Schedule)}
		if !row.Paused {
			// An unparsable stored schedule shows no next runs; its error
			// is the entry's LastError.
			e.NextRuns, _ = kiln.RecurringNext(row.Schedule, row.TimeZone, now, recurringNextRuns)
		}
		if row.LastJobID != 0 {
			job, err := h.client.JobGet(ctx, row.LastJobID)
			switch {
			case errors.Is(err, kilntype.ErrNotFound):
				e.LastState = "deleted"
			case err != nil:
				h.serverError(w, r, err)
				return
			default:
				e.LastState = string(job.State)
			}
		}
		d.Entries = append(d.Entries, e)
	}
	h.render(w, r, http.StatusOK, "recurring", &page{Title: "Recurring jobs", Nav: "recurring", Data: d})
}

// recurringActions are the actions on one entry, by the name in their
// path, with the flash they leave.
var recurringActions = map[string]string{
	"trigger": "Recurring job %q triggered: job %d enqueued.",
	"pause":   "Recurring job %q paused.",
	"resume":  "Recurring job %q resumed.",
	"remove":  "Recurring job %q removed (the jobs it enqueued stay).",
}

// recurringAction serves POST /recurring/{id}/{action}.
func (h *handler) recurringAction(w http.ResponseWriter, r *http.Request) {
	id, name := r.PathValue("id"), r.PathValue("action")
	done, ok := recurringActions[name]
	if !ok {
		h.notFound(w, r)
		return
	}
	back := backPath(r, "/recurring")
	ctx := r.Context()
	var (
		err   error
		jobID int64
	)
	switch name {
	case "trigger":
		var job *kilntype.JobRow
		if job, err = h.client.RecurringTrigger(ctx, id); err == nil {
			jobID = job.ID
		}
	case "pause":
		_, err = h.client.RecurringPause(ctx, id)
	case "resume":
		_, err = h.client.RecurringResume(ctx, id)
	case "remove":
		_, err = h.client.RecurringRemove(ctx, id)
	}
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: actionError(err)})
		return
	}
	text := fmt.Sprintf(done, id)
	if name == "trigger" {
		text = fmt.Sprintf(done, id, jobID)
	}
	h.redirect(w, r, back, flash{Text: text})
}
