package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln"
)

// queueSetPaused answers POST /queues/{name}/pause and /resume with the
// queue's name and new pause state. The client checks the name (a
// *kiln.ValidationError for field "name", answered 400).
func (a *api) queueSetPaused(w http.ResponseWriter, r *http.Request, paused bool) error {
	name := r.PathValue("name")
	set := a.client.QueueResume
	if paused {
		set = a.client.QueuePause
	}
	if err := set(r.Context(), name); err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"name": name, "paused": paused})
}

// queuePause is POST /queues/{name}/pause.
func (a *api) queuePause(w http.ResponseWriter, r *http.Request) error {
	return a.queueSetPaused(w, r, true)
}

// queueResume is POST /queues/{name}/resume.
func (a *api) queueResume(w http.ResponseWriter, r *http.Request) error {
	return a.queueSetPaused(w, r, false)
}

// stats is GET /stats: job counts by state, overall and per queue, from
// the store's counters.
func (a *api) stats(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	st, err := a.client.Stats(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, st)
}

// statsHistory is GET /stats/history: completed and failed attempts per
// bucket, for every queue or one; by default the last 24 hours in hours.
func (a *api) statsHistory(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "from", "to", "bucket", "queue")
	if err != nil {
		return err
	}
	p := &struct {
		From, To time.Time
		Bucket   time.Duration
	}{Bucket: time.Hour}
	if b := q.Get("bucket"); b != "" {
		if _, err := strconv.ParseFloat(b, 64); err != nil {
			b = strconv.Quote(b) // a duration string, not seconds
		}
		if p.Bucket, err = parseDuration("bucket", json.RawMessage(b)); err != nil {
			return err
		}
	}
	if p.To, err = parseTime("to", q.Get("to")); err != nil {
		return err
	}
	if p.To.IsZero() {
		p.To = time.Now().UTC()
	}
	if p.From, err = parseTime("from", q.Get("from")); err != nil {
		return err
	}
	if p.From.IsZero() {
		p.From = p.To.Add(-24 * time.Hour)
	}
	if _, _, err := kiln.HistoryRange(p.From, p.From.Add(p.Bucket), p.Bucket); err != nil {
		return badRequest("bucket", "%v", err)
	}
	if _, _, err := kiln.HistoryRange(p.From, p.To, p.Bucket); err != nil {
		return badRequest("from", "%v", err)
	}
	var points []kiln.HistoryPoint
	if q.Has("queue") {
		points, err = a.client.QueueHistory(r.Context(), q.Get("queue"), p.From, p.To, p.Bucket) // field "queue" if bad
	} else {
		points, err = a.client.JobHistory(r.Context(), p.From, p.To, p.Bucket)
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"points": nonNil(points)})
}
