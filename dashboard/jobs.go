package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// jobPageSize is how many jobs a page of the Jobs page lists.
const jobPageSize = 50

// jobFilter is the Jobs page's filter, read from its query string.
type jobFilter struct {
	State  string
	Queue  string
	Kind   string
	Tag    string
	Text   string // text searched in the args
	Cursor int64
}

// jobListData is the Jobs page's data.
type jobListData struct {
	Filter     jobFilter
	States     []stateCount
	Jobs       []*kilntype.JobRow
	NextCursor int64
	// Back is this page's path and query, for forms to come back to.
	Back string
	// FilterError says what is wrong with the filter, if anything.
	FilterError string
	// Window is the range of job IDs an args text search read ("" when
	// not searching).
	Window string
	// Columns say which time columns the list shows: when each job is or
	// was due, when it finished and how long its last attempt took; the
	// state filter leaves out those that would be empty.
	ShowScheduled, ShowFinished, ShowTook bool
	// ArgsHidden is true when the viewer may not see decrypted args
	// (Options.RevealArgs): Jobs have them redacted.
	ArgsHidden bool
	// Bulk offers to act on every job the filter matches (see bulk.go).
	Bulk *bulkOffer
}

// stateCount is one state and its number of jobs (-1: not counted).
type stateCount struct {
	State kilntype.JobState
	Count int
}

// jobList serves the Jobs page: jobs by state, filtered by queue, kind, tag
// and args text, keyset-paginated by ID, newest first.
func (h *handler) jobList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &jobListData{Filter: jobFilter{
		State: q.Get("state"), Queue: strings.TrimSpace(q.Get("queue")), Kind: strings.TrimSpace(q.Get("kind")),
		Tag: strings.TrimSpace(q.Get("tag")), Text: strings.TrimSpace(q.Get("q")),
	}, Back: pagePath(r), ArgsHidden: h.hideArgs(r)}
	params := &kiln.JobListParams{Limit: jobPageSize}
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.ParseInt(c, 10, 64)
		if err != nil || n < 0 {
			d.FilterError = fmt.Sprintf("cursor %q: want a job ID", c)
		}
		d.Filter.Cursor, params.Cursor = n, n
	}
	if d.Filter.State != "" {
		st := kilntype.JobState(d.Filter.State)
		if !st.Valid() {
			d.FilterError = fmt.Sprintf("unknown state %q", d.Filter.State)
		}
		params.States = []kilntype.JobState{st}
	}
	if d.Filter.Queue != "" {
		params.Queues = []string{d.Filter.Queue}
	}
	if d.Filter.Kind != "" {
		params.Kinds = []string{d.Filter.Kind}
	}
	params.Tag, params.ArgsContains = d.Filter.Tag, d.Filter.Text
	ctx := r.Context()
	counts, err := h.stateCounts(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d.States = counts
	d.ShowScheduled, d.ShowFinished, d.ShowTook = listColumns(kilntype.JobState(d.Filter.State))
	status := http.StatusOK
	if d.FilterError != "" {
		status = http.StatusBadRequest
	} else {
		if err := h.listJobs(ctx, params, d); err != nil {
			h.serverError(w, r, err)
			return
		}
		d.Bulk = h.offerBulk(ctx, d.Filter, params)
	}
	h.render(w, r, status, "jobs", &page{Title: "Jobs", Nav: "jobs", Data: d})
}

// listColumns says which time columns the Jobs page shows for a state
// filter ("": every state): a finished job's finish time and duration, a
// running job's time so far, a waiting job's due time.
func listColumns(st kilntype.JobState) (scheduled, finished, took bool) {
	switch {
	case st == "":
		return true, true, true
	case st.Finalized():
		return false, true, true
	case st == kilntype.JobStateRunning:
		return false, false, true
	default:
		return true, false, false
	}
}

// argsSearchWindow is how many job IDs one page of an args text search
// reads at most: no index serves that filter, so a page reads a window of
// IDs (newest first) and the next page the window before it.
const argsSearchWindow = 20_000

// listJobs reads one page of jobs into d. An args text search is bounded
// to a window of argsSearchWindow IDs below the cursor, so that a page
// takes the same time however many jobs the store keeps; the next page
// starts below that window.
func (h *handler) listJobs(ctx context.Context, params *kiln.JobListParams, d *jobListData) error {
	if params.ArgsContains != "" {
		top := params.Cursor
		if top == 0 {
			newest, err := h.client.JobList(ctx, &kiln.JobListParams{Limit: 1, ArgsPreview: 1})
			if err != nil {
				return err
			}
			if len(newest.Jobs) == 0 {
				return nil
			}
			top = newest.Jobs[0].ID + 1
		}
		params.StopAt = max(top-argsSearchWindow, 1)
		d.Window = fmt.Sprintf("%d to %d", params.StopAt, top-1)
	}
	params.ArgsPreview = kiln.JobListArgsPreview
	res, err := h.client.JobList(ctx, params)
	if err != nil {
		return err
	}
	redactJobs(d.ArgsHidden, res.Jobs...)
	d.Jobs, d.NextCursor = res.Jobs, res.NextCursor
	if d.NextCursor == 0 && params.StopAt > 1 {
		d.NextCursor = params.StopAt
	}
	return nil
}

// queryWithout returns r's query string ("?..." or "") without key.
func queryWithout(r *http.Request, key string) string {
	q := r.URL.Query()
	q.Del(key)
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// stateCounts returns the number of jobs in each state, in life-cycle
// order.
func (h *handler) stateCounts(ctx context.Context) ([]stateCount, error) {
	counts, err := h.countByState(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]stateCount, 0, len(kilntype.JobStates()))
	for _, st := range kilntype.JobStates() {
		out = append(out, stateCount{State: st, Count: counts[st]})
	}
	return out, nil
}

// jobActions are the actions on one job, by the name in their path.
var jobActions = map[string]struct {
	do   func(*kiln.Client, context.Context, int64) (*kilntype.JobRow, error)
	done string
}{
	"retry":  {(*kiln.Client).JobRetry, "Job %d will run again now."},
	"run":    {(*kiln.Client).JobRetry, "Job %d will run now."},
	"cancel": {(*kiln.Client).JobCancel, "Job %d cancelled (a running job stops when its worker sees the cancel)."},
	"delete": {(*kiln.Client).JobDelete, "Job %d deleted."},
}

// jobAction serves POST /jobs/{id}/{action}: retry, run, cancel or delete
// one job, then back to the job (or to the list after a delete).
func (h *handler) jobAction(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	action, ok := jobActions[r.PathValue("action")]
	if err != nil || !ok {
		h.notFound(w, r)
		return
	}
	back := backPath(r, fmt.Sprintf("/jobs/%d", id))
	if r.PathValue("action") == "delete" && back == fmt.Sprintf("/jobs/%d", id) {
		back = "/jobs"
	}
	if _, err := action.do(h.client, r.Context(), id); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: actionError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf(action.done, id)})
}

// actionError returns err's message for a flash: state conflicts and
// unknown IDs are the user's to see; other errors are logged by the caller
// and reduced to a generic message.
func actionError(err error) string {
	switch {
	case errors.Is(err, kilntype.ErrNotFound), errors.Is(err, kilntype.ErrJobRunning), errors.Is(err, kilntype.ErrJobState):
		return strings.TrimPrefix(err.Error(), "kiln: ")
	default:
		return "Failed: " + strings.TrimPrefix(err.Error(), "kiln: ")
	}
}

// jobBulk serves POST /jobs/bulk: retry, cancel or delete the checked jobs
// (form values "id"), one by one, then back to the list with a summary.
func (h *handler) jobBulk(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/jobs")
	name := r.PostFormValue("action")
	action, ok := jobActions[name]
	if !ok {
		h.redirect(w, r, back, flash{Error: true, Text: fmt.Sprintf("Unknown bulk action %q.", name)})
		return
	}
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		h.redirect(w, r, back, flash{Error: true, Text: "No job selected."})
		return
	}
	done, failed := 0, []string{}
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err == nil {
			_, err = action.do(h.client, r.Context(), id)
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s (%s)", s, actionError(err)))
			continue
		}
		done++
	}
	f := flash{Text: fmt.Sprintf("%s: %d of %d jobs done.", name, done, len(ids))}
	if len(failed) > 0 {
		f.Error = true
		f.Text += " Not done: " + strings.Join(failed, "; ")
	}
	h.redirect(w, r, back, f)
}
