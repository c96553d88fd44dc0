package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
)

// Runs the recurring entry page lists: by default, and at most (?n=).
const (
	recurringRunsDefault = 50
	recurringRunsMax     = kiln.MaxRecurringRuns
)

// recurringDetailData is the recurring entry page's data.
type recurringDetailData struct {
	Entry *recurringEntry
	Runs  []*kiln.RecurringRun
	// N is how many runs were asked for.
	N         int
	Sparkline *sparkline
}

// recurringDetail serves GET /recurring/{id}: one entry, its next runs,
// and its last runs (?n=, default 50) with their jobs' states, durations
// and lateness, the occurrences it skipped and why, and a sparkline of
// the durations.
func (h *handler) recurringDetail(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	n := recurringRunsDefault
	if s := r.URL.Query().Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > recurringRunsMax {
			h.render(w, r, http.StatusBadRequest, "error", &page{Title: "Bad request",
				Data: fmt.Sprintf("n must be a number of runs from 1 to %d.", recurringRunsMax)})
			return
		}
		n = v
	}
	row, err := h.client.RecurringGet(ctx, id)
	if errors.Is(err, kilntype.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: "There is no recurring job " + strconv.Quote(id) + "."})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	runs, err := h.client.RecurringRuns(ctx, id, n)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	e := &recurringEntry{Row: row, Description: schedule.Describe(row.Schedule)}
	if !row.Paused {
		e.NextRuns, _ = kiln.RecurringNext(row.Schedule, row.TimeZone, time.Now().UTC(), recurringNextRuns)
	}
	d := &recurringDetailData{Entry: e, Runs: runs, N: n, Sparkline: newSparkline(runs)}
	h.render(w, r, http.StatusOK, "recurring_entry", &page{Title: "Recurring job " + row.ID, Nav: "recurring", Data: d})
}

// sparkline is a bar per run of a recurring entry, oldest at the left, as
// tall as the run took (to the longest), laid out for an SVG of Width by
// Height user units.
type sparkline struct {
	Width, Height int
	Bars          []sparkBar
	// Longest is the longest duration shown; Runs how many runs it has.
	Longest time.Duration
	Runs    int
}

// sparkBar is one run: its rectangle, the state class that colours it
// ("state-completed", ..., "skipped"), and a tooltip.
type sparkBar struct {
	X, Y, W, H float64
	Class      string
	Title      string
}

// Sparkline geometry, in SVG user units.
const (
	sparkWidth  = 300
	sparkHeight = 40
	// sparkMin is the height of a bar that took no time, or of a skip, so
	// that every run is seen.
	sparkMin = 2
)

// newSparkline lays out runs (newest first, as RecurringRuns returns
// them); nil when there are none.
func newSparkline(runs []*kiln.RecurringRun) *sparkline {
	if len(runs) == 0 {
		return nil
	}
	s := &sparkline{Width: sparkWidth, Height: sparkHeight, Runs: len(runs)}
	for _, r := range runs {
		s.Longest = max(s.Longest, r.Duration)
	}
	step := float64(sparkWidth) / float64(max(len(runs), 20))
	for i := range runs {
		r := runs[len(runs)-1-i] // oldest first
		b := sparkBar{X: float64(i) * step, W: max(step-1, 0.5), H: sparkMin}
		switch {
		case r.Skipped != "":
			b.Class = "skipped"
			b.Title = fmt.Sprintf("%s: skipped (%s)", formatTime(r.At), r.Skipped)
		default:
			state := string(r.State)
			if state == "" {
				state = "deleted"
			}
			b.Class = "state-" + state
			if s.Longest > 0 {
				b.H = max(float64(r.Duration)/float64(s.Longest)*(sparkHeight-1), sparkMin)
			}
			b.Title = fmt.Sprintf("%s: job %d %s", formatTime(r.At), r.JobID, state)
			if r.FinishedAt != nil {
				b.Title += ", took " + formatDuration(r.Duration)
			}
		}
		b.Y = sparkHeight - b.H
		s.Bars = append(s.Bars, b)
	}
	return s
}
