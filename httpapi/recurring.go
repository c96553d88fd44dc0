package httpapi

import (
	"net/http"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
)

// recurringRequest is the body of PUT /recurring/{id}; see openapi.yaml's
// RecurringRequest.
type recurringRequest struct {
	jobTemplate
	Schedule   string `json:"schedule"`
	TimeZone   string `json:"time_zone"`
	Overlap    string `json:"overlap"`
	Misfire    string `json:"misfire"`
	MisfireMax int    `json:"misfire_max"`
	Partition  string `json:"partition"`
}

// recurringView is a recurring entry as the API shows it: the stored row
// and its schedule in words.
type recurringView struct {
	*kilntype.RecurringRow
	// Description is schedule.Describe of the schedule.
	Description string `json:"description"`
}

// occurrenceView is one enqueued occurrence of an entry.
type occurrenceView struct {
	At       time.Time         `json:"at"`
	JobID    int64             `json:"job_id"`
	JobState kilntype.JobState `json:"job_state,omitempty"` // "" when the job was deleted
}

// parseSchedule parses spec in tz, or returns a 400 naming schedule or
// time_zone, whichever is at fault.
func parseSchedule(spec, tz string) (schedule.Schedule, error) {
	sched, err := schedule.Parse(spec, tz)
	if err == nil {
		return sched, nil
	}
	field := "schedule"
	if _, zoneErr := schedule.Parse("@daily", tz); zoneErr != nil {
		field = "time_zone"
	}
	return nil, badRequest(field, "%v", err)
}

// recurringList is GET /recurring: entries ordered by ID, paginated by
// next_cursor (the last ID of the page).
func (a *api) recurringList(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "cursor", "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	rows, err := a.client.RecurringList(r.Context(), q.Get("cursor"), int(limit))
	if err != nil {
		return err
	}
	page := struct {
		Recurring  []recurringView `json:"recurring"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}{Recurring: make([]recurringView, len(rows))}
	for i, row := range rows {
		page.Recurring[i] = a.viewOf(r, row)
	}
	if len(rows) == int(limit) {
		page.NextCursor = rows[len(rows)-1].ID
	}
	return writeJSON(w, http.StatusOK, page)
}

// recurringPut is PUT /recurring/{id}: add or update, as Hangfire's
// RecurringJob.AddOrUpdate.
func (a *api) recurringPut(w http.ResponseWriter, r *http.Request) error {
	var req recurringRequest
	if err := decodeBody(r, &req); err != nil {
		return err
	}
	if _, err := parseSchedule(req.Schedule, req.TimeZone); err != nil {
		return err
	}
	if p := kilntype.OverlapPolicy(req.Overlap); p != "" && !p.Valid() {
		return badRequest("overlap", "unknown overlap policy %q (want skip, allow or queue_one)", p)
	}
	if p := kilntype.MisfirePolicy(req.Misfire); p != "" && !p.Valid() {
		return badRequest("misfire", "unknown misfire policy %q (want run_once, skip or run_all)", p)
	}
	args, opts, err := req.build("")
	if err != nil {
		return err
	}
	opts.Partition = req.Partition
	def := kiln.RecurringJob{
		ID: r.PathValue("id"), Schedule: req.Schedule, TimeZone: req.TimeZone, Args: args, Opts: opts,
		Overlap: kilntype.OverlapPolicy(req.Overlap), Misfire: kilntype.MisfirePolicy(req.Misfire), MisfireMax: req.MisfireMax,
	}
	if err := a.checkArgsSchema(args, ""); err != nil {
		return err
	}
	if err := a.client.RecurringCheck(def); err != nil {
		return checkError(err, "")
	}
	row, err := a.client.RecurringAddOrUpdate(r.Context(), def)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, a.viewOf(r, row))
}

// recurringTrigger is POST /recurring/{id}/trigger: 201 and the job
// enqueued now.
func (a *api) recurringTrigger(w http.ResponseWriter, r *http.Request) error {
	job, err := a.client.RecurringTrigger(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	a.redactJobs(r, job)
	return writeJSON(w, http.StatusCreated, job)
}

// nextRuns is the answer of the next-occurrence routes.
type nextRuns struct {
	Schedule    string      `json:"schedule"`
	TimeZone    string      `json:"time_zone"`
	Description string      `json:"description"`
	NextRuns    []time.Time `json:"next_runs"`
}

// countParam reads the query parameter n: how many occurrences, 1 to 100,
// default 5.
func countParam(r *http.Request, allowed ...string) (int, error) {
	q, err := query(r, append(allowed, "n")...)
	if err != nil {
		return 0, err
	}
	n, err := intParam(q, "n", 5, 1, 100)
	return int(n), err
}

// recurringNext is GET /recurring/{id}/next: the entry's next n
// occurrences. For an active entry they start at its next_run_at (which
// may be overdue); a paused entry resumes from the first occurrence after
// now, so its list starts there.
func (a *api) recurringNext(w http.ResponseWriter, r *http.Request) error {
	n, err := countParam(r)
	if err != nil {
		return err
	}
	row, err := a.client.RecurringGet(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	sched, err := schedule.Parse(row.Schedule, row.TimeZone)
	if err != nil {
		return err // the stored schedule was valid when stored: a 500
	}
	var runs []time.Time
	if row.Paused {
		runs = schedule.NextN(sched, time.Now(), n)
	} else {
		runs = append([]time.Time{row.NextRunAt}, schedule.NextN(sched, row.NextRunAt, n-1)...)
	}
	return writeJSON(w, http.StatusOK, nextRuns{Schedule: row.Schedule, TimeZone: row.TimeZone, Description: schedule.Describe(row.Schedule), NextRuns: runs})
}

// scheduleNext is GET /schedules/next: checks a schedule and time zone
// before they are used, and gives the next n fire times after now.
func (a *api) scheduleNext(w http.ResponseWriter, r *http.Request) error {
	n, err := countParam(r, "schedule", "time_zone")
	if err != nil {
		return err
	}
	spec, tz := r.URL.Query().Get("schedule"), r.URL.Query().Get("time_zone")
	sched, err := parseSchedule(spec, tz)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, nextRuns{
		Schedule: sched.String(), TimeZone: tz, Description: schedule.Describe(sched.String()),
		NextRuns: nonNil(schedule.NextN(sched, time.Now(), n)),
	})
}

// recurringOccurrences is GET /recurring/{id}/occurrences: the entry's
// latest enqueued occurrences, newest first, with their jobs' states.
func (a *api) recurringOccurrences(w http.ResponseWriter, r *http.Request) error {
	q, err := query(r, "limit")
	if err != nil {
		return err
	}
	limit, err := intParam(q, "limit", 10, 1, 1000)
	if err != nil {
		return err
	}
	id := r.PathValue("id")
	if _, err := a.client.RecurringGet(r.Context(), id); err != nil {
		return err
	}
	occ, err := a.client.RecurringOccurrences(r.Context(), id, int(limit))
	if err != nil {
		return err
	}
	out := make([]occurrenceView, len(occ))
	for i, o := range occ {
		out[i] = occurrenceView{At: o.At, JobID: o.JobID, JobState: o.JobState}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"occurrences": out})
}
