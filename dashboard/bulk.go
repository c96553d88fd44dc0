package dashboard

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// bulkCountLimit is where a bulk operation's confirmation page stops
// counting the jobs of a filter that the counters cannot answer (a kind,
// a tag, args text): above it the page says "more than 10,000", and the
// operation counts them exactly as it runs (its progress page's
// "matched"). A count of at most bulkCountLimit+1 index entries keeps the
// page fast with millions of jobs (see docs/benchmarks.md).
const bulkCountLimit = 10_000

// bulkCountTimeout bounds the count of a bulk operation's confirmation
// page when its filter's index cannot bound it (args text reads each
// job): the page then says it did not count.
const bulkCountTimeout = 2 * time.Second

// bulkOffer is the Jobs page's offer to act on every job its filter
// matches: the query of the filter, and the count when the counters give
// it at once (-1 otherwise: the confirmation page counts).
type bulkOffer struct {
	Filter jobFilter
	Count  int
}

// For returns the query of the confirmation page of action on the
// offer's jobs.
func (o *bulkOffer) For(action string) template.URL {
	q := bulkValues(o.Filter)
	q.Set("action", action)
	return template.URL("?" + q.Encode())
}

// offerBulk returns the Jobs page's bulk offer for params' filter: a state
// or queue filter only is counted from the counters, any other not.
func (h *handler) offerBulk(ctx context.Context, f jobFilter, params *kiln.JobListParams) *bulkOffer {
	o := &bulkOffer{Filter: f, Count: -1}
	if params.Tag == "" && params.ArgsContains == "" && len(params.Kinds) == 0 {
		filter := kiln.JobFilterOf(params)
		if n, err := h.client.JobCountMatching(ctx, &filter); err == nil {
			o.Count = n
		}
	}
	return o
}

// bulkValues returns the query of the Jobs page filter f, without its
// cursor.
func bulkValues(f jobFilter) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": f.State, "queue": f.Queue, "kind": f.Kind, "tag": f.Tag, "q": f.Text} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// bulkQuery returns the query string ("?..." or "") of the Jobs page
// filter f, without its cursor.
func bulkQuery(f jobFilter) template.URL {
	if q := bulkValues(f); len(q) > 0 {
		return template.URL("?" + q.Encode())
	}
	return ""
}

// bulkNewData is the confirmation page of a bulk operation.
type bulkNewData struct {
	Action kilntype.BulkAction
	Filter jobFilter
	// Describe says which jobs in words; Query is the filter as a query
	// string, for the way back.
	Describe string
	Query    template.URL
	Count    int
	// More is true when more than Count (bulkCountLimit) jobs match;
	// Partial when the count did not end within bulkCountTimeout (Count
	// is then 0 and unknown).
	More, Partial bool
	Error         string
}

// readBulkFilter reads the Jobs page's filter from v (a query or a form)
// and returns it with the client's filter; an unknown state is an error.
func readBulkFilter(v url.Values) (jobFilter, kiln.JobFilter, error) {
	f := jobFilter{State: v.Get("state"), Queue: strings.TrimSpace(v.Get("queue")), Kind: strings.TrimSpace(v.Get("kind")),
		Tag: strings.TrimSpace(v.Get("tag")), Text: strings.TrimSpace(v.Get("q"))}
	kf := kiln.JobFilter{Tag: f.Tag, ArgsContains: f.Text}
	if f.State != "" {
		st := kilntype.JobState(f.State)
		if !st.Valid() {
			return f, kf, fmt.Errorf("unknown state %q", f.State)
		}
		kf.States = []kilntype.JobState{st}
	}
	if f.Queue != "" {
		kf.Queues = []string{f.Queue}
	}
	if f.Kind != "" {
		kf.Kinds = []string{f.Kind}
	}
	return f, kf, nil
}

// describeFilter says which jobs f selects: "every discarded job of kind
// x in queue q".
func describeFilter(f jobFilter) string {
	s := "every job"
	if f.State != "" {
		s = "every " + f.State + " job"
	}
	if f.Kind != "" {
		s += fmt.Sprintf(" of kind %q", f.Kind)
	}
	if f.Queue != "" {
		s += fmt.Sprintf(" in queue %q", f.Queue)
	}
	if f.Tag != "" {
		s += fmt.Sprintf(" tagged %q", f.Tag)
	}
	if f.Text != "" {
		s += fmt.Sprintf(" whose args contain %q", f.Text)
	}
	return s
}

// bulkNew serves GET /bulk/new: how many jobs the Jobs page's filter
// matches, and a form that confirms the action on all of them.
func (h *handler) bulkNew(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := &bulkNewData{Action: kilntype.BulkAction(q.Get("action"))}
	f, kf, err := readBulkFilter(q)
	d.Filter, d.Describe, d.Query = f, describeFilter(f), bulkQuery(f)
	status := http.StatusOK
	switch {
	case err != nil:
		d.Error, status = err.Error(), http.StatusBadRequest
	case !d.Action.Valid():
		d.Error, status = fmt.Sprintf("unknown bulk action %q", d.Action), http.StatusBadRequest
	default:
		ctx, cancel := context.WithTimeout(r.Context(), bulkCountTimeout)
		var exact bool
		d.Count, exact, err = h.client.JobCountMatchingBounded(ctx, &kf, bulkCountLimit)
		cancel()
		d.More = err == nil && !exact
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			d.Partial = true
		case err != nil:
			h.serverError(w, r, err)
			return
		}
	}
	h.render(w, r, status, "bulk_new", &page{Title: "Bulk " + string(d.Action), Nav: "jobs", Data: d})
}

// bulkStart serves POST /bulk: it starts the operation the confirmation
// form describes and goes to its progress page.
func (h *handler) bulkStart(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f, kf, err := readBulkFilter(r.PostForm)
	back := "/jobs" + string(bulkQuery(f))
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: err.Error()})
		return
	}
	action := kilntype.BulkAction(r.PostFormValue("action"))
	target := strings.TrimSpace(r.PostFormValue("target_queue"))
	// The operation outlives the request: its batches run in the client.
	op, err := h.client.JobBulk(context.WithoutCancel(r.Context()), &kiln.BulkParams{Action: action, Filter: kf, TargetQueue: target})
	if err != nil {
		var invalid *kiln.ValidationError
		if !errors.As(err, &invalid) {
			h.opts.Logger.Error("dashboard: bulk operation", "error", err)
		}
		h.redirect(w, r, back, flash{Error: true, Text: actionError(err)})
		return
	}
	h.redirect(w, r, fmt.Sprintf("/bulk/%d", op.ID), flash{Text: fmt.Sprintf("Bulk %s of %s started.", op.Describe(), describeFilter(f))})
}

// bulkData is the progress page of a bulk operation, and the list of the
// latest ones.
type bulkData struct {
	Op       *kilntype.BulkOperation
	Filter   jobFilter
	Describe string
	// Percent is the share of its ID range examined, 0 to 100.
	Percent int
	Recent  []bulkRow
}

// bulkRow is an operation of the list, with its progress in percent.
type bulkRow struct {
	Op      *kilntype.BulkOperation
	Percent int
}

// bulkRecent is how many operations the progress page lists below.
const bulkRecent = 10

// bulkDetail serves GET /bulk/{id}: the operation's progress, refreshed
// while it runs (htmx polls its live block; without JavaScript the page
// reloads itself), with a cancel button; and the latest operations.
func (h *handler) bulkDetail(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	op, err := h.client.JobBulkGet(r.Context(), id)
	if errors.Is(err, kiln.ErrNotFound) {
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := &bulkData{Op: op, Percent: int(op.Progress() * 100)}
	d.Filter = jobFilter{Tag: op.Filter.Tag, Text: op.Filter.ArgsContains}
	if len(op.Filter.States) > 0 {
		d.Filter.State = string(op.Filter.States[0])
	}
	if len(op.Filter.Kinds) > 0 {
		d.Filter.Kind = op.Filter.Kinds[0]
	}
	if len(op.Filter.Queues) > 0 {
		d.Filter.Queue = op.Filter.Queues[0]
	}
	d.Describe = describeFilter(d.Filter)
	if r.URL.Query().Get("partial") == "" {
		recent, err := h.client.JobBulkList(r.Context(), 0, bulkRecent)
		if err != nil {
			h.serverError(w, r, err)
			return
		}
		for _, o := range recent {
			d.Recent = append(d.Recent, bulkRow{o, int(o.Progress() * 100)})
		}
	}
	h.render(w, r, http.StatusOK, "bulk", &page{Title: fmt.Sprintf("Bulk operation %d", op.ID), Nav: "jobs", Data: d})
}

// bulkAction serves POST /bulk/{id}/cancel and /resume.
func (h *handler) bulkAction(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	back := fmt.Sprintf("/bulk/%d", id)
	var do func(*kiln.Client, context.Context, int64) (*kilntype.BulkOperation, error)
	var done string
	switch r.PathValue("action") {
	case "cancel":
		do, done = (*kiln.Client).JobBulkCancel, "Bulk operation %d: cancel requested; it stops after its batch under way."
	case "resume":
		do, done = (*kiln.Client).JobBulkResume, "Bulk operation %d resumed."
	default:
		h.notFound(w, r)
		return
	}
	if _, err := do(h.client, context.WithoutCancel(r.Context()), id); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: actionError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf(done, id)})
}
