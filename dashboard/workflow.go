package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// workflowCap is how many jobs of each set (parents, children, batch
// members) a graph draws; the rest are one "and N more" node.
const workflowCap = 10

// graph is a workflow drawn as columns of job boxes joined by arrows,
// laid out for an SVG of Width by Height user units.
type graph struct {
	Width, Height int
	Nodes         []graphNode
	Edges         []graphEdge
}

// graphNode is one box: a job (linked to its page) or the count of jobs
// left out (More).
type graphNode struct {
	X, Y, W, H float64
	ID         int64
	Kind       string
	State      string // "deleted" for a job gone
	Current    bool   // the job whose page this is
	More       string // "and N more": not a job
	// Href is the page the box links to ("" for More).
	Href string
}

// graphEdge is an arrow from (X1, Y1) to (X2, Y2).
type graphEdge struct{ X1, Y1, X2, Y2 float64 }

// Graph geometry, in SVG user units.
const (
	nodeW, nodeH = 190, 40
	nodeGapY     = 12
	colGap       = 90
)

// column is one column of a graph: its jobs, and how many more are left
// out (-1: more, uncounted).
type column struct {
	Nodes   []kiln.WorkflowNode
	More    int
	Current int64
}

// layoutGraph lays out columns left to right, each centred vertically,
// with an arrow from every box of a column to every box of the next when
// one of the two holds a single box (parents -> job -> children, members ->
// callback). prefix starts the boxes' links.
func layoutGraph(prefix string, cols ...column) *graph {
	rows := 1
	for _, c := range cols {
		n := len(c.Nodes)
		if c.More != 0 {
			n++
		}
		rows = max(rows, n)
	}
	g := &graph{Width: len(cols)*nodeW + (len(cols)-1)*colGap + 2, Height: rows*(nodeH+nodeGapY) - nodeGapY + 2}
	var prev []graphNode
	for i, c := range cols {
		var boxes []graphNode
		x := float64(i*(nodeW+colGap)) + 1
		n := len(c.Nodes)
		if c.More != 0 {
			n++
		}
		top := float64(g.Height-(n*(nodeH+nodeGapY)-nodeGapY)) / 2
		for j, node := range c.Nodes {
			state := string(node.State)
			if state == "" {
				state = "deleted"
			}
			boxes = append(boxes, graphNode{X: x, Y: top + float64(j*(nodeH+nodeGapY)), W: nodeW, H: nodeH,
				ID: node.ID, Kind: node.Kind, State: state, Current: node.ID == c.Current,
				Href: prefix + "/jobs/" + strconv.FormatInt(node.ID, 10) + "/workflow"})
		}
		if c.More != 0 {
			more := "and more"
			if c.More > 0 {
				more = fmt.Sprintf("and %s more", number(float64(c.More)))
			}
			boxes = append(boxes, graphNode{X: x, Y: top + float64(len(c.Nodes)*(nodeH+nodeGapY)), W: nodeW, H: nodeH, More: more})
		}
		if len(prev) == 1 || len(boxes) == 1 {
			for _, a := range prev {
				for _, b := range boxes {
					g.Edges = append(g.Edges, graphEdge{X1: a.X + a.W, Y1: a.Y + a.H/2, X2: b.X - 4, Y2: b.Y + b.H/2})
				}
			}
		}
		g.Nodes = append(g.Nodes, boxes...)
		prev = boxes
	}
	return g
}

// workflowData is the workflow page's data.
type workflowData struct {
	Workflow *kiln.Workflow
	// Graph is parents -> job -> children; BatchGraph the batch's members
	// -> its callback (nil without a batch).
	Graph, BatchGraph *graph
	Progress          batchProgress
}

// workflowPage serves GET /jobs/{id}/workflow: the graph of a job's
// parents and children, and of its batch, each node with its state,
// drawn on the server as SVG.
func (h *handler) workflowPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		h.notFound(w, r)
		return
	}
	wf, err := h.client.JobWorkflow(r.Context(), id, workflowCap)
	if errors.Is(err, kilntype.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: "There is no job " + strconv.FormatInt(id, 10) + ": it may have been deleted or cleaned up."})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	more := 0
	if wf.MoreChildren {
		more = -1
	}
	d := &workflowData{Workflow: wf, Graph: layoutGraph(h.opts.Prefix,
		column{Nodes: wf.Parents, More: wf.MoreParents},
		column{Nodes: []kiln.WorkflowNode{wf.Job}, Current: wf.Job.ID},
		column{Nodes: wf.Children, More: more})}
	if wf.Batch != nil {
		d.BatchGraph = batchGraph(h.opts.Prefix, wf.BatchJobs, wf.MoreBatchJobs, wf.BatchCallback, wf.Job.ID)
		d.Progress = progressOf(wf.Batch)
	}
	h.render(w, r, http.StatusOK, "workflow", &page{Title: fmt.Sprintf("Workflow of job %d", id), Nav: "jobs", Data: d})
}

// batchGraph draws a batch's members (more of them left out) -> its
// callback; current is highlighted.
func batchGraph(prefix string, members []kiln.WorkflowNode, more int, callback *kiln.WorkflowNode, current int64) *graph {
	cols := []column{{Nodes: members, More: more, Current: current}}
	if callback != nil {
		cols = append(cols, column{Nodes: []kiln.WorkflowNode{*callback}, Current: current})
	}
	return layoutGraph(prefix, cols...)
}

// batchProgress is a batch's counts as the pages show them.
type batchProgress struct {
	Total, Finished, Completed, Failed, Deleted int
	// Percent is Finished of Total (deleted jobs count as finished).
	Percent int
}

// progressOf sums b's counts.
func progressOf(b *kiln.BatchRow) batchProgress {
	p := batchProgress{Total: b.Total}
	counted := 0
	for state, n := range b.Counts {
		counted += n
		if state.Finalized() {
			p.Finished += n
		}
		switch state {
		case kilntype.JobStateCompleted:
			p.Completed += n
		case kilntype.JobStateCancelled, kilntype.JobStateDiscarded:
			p.Failed += n
		}
	}
	p.Deleted = max(b.Total-counted, 0)
	p.Finished += p.Deleted
	p.Percent = percent(p.Finished, p.Total)
	return p
}

// batchPageSize is how many jobs a page of the batch page lists.
const batchPageSize = 100

// batchData is the batch page's data.
type batchData struct {
	Batch    *kiln.BatchRow
	Progress batchProgress
	States   []batchStateCount
	Graph    *graph
	Jobs     []kiln.WorkflowNode
	// After is this page's cursor; Next the next page's (0 on the last).
	After, Next int64
}

// batchStateCount is one state's count, for the batch page's list.
type batchStateCount struct {
	State string
	N     int
}

// batchPage serves GET /batches/{id}: a batch's counts per state, its
// progress, the graph of its first jobs and callback, and its jobs, 100 a
// page (?after= a job ID).
func (h *handler) batchPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	var after int64
	if s := r.URL.Query().Get("after"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 {
			h.render(w, r, http.StatusBadRequest, "error", &page{Title: "Bad request", Data: "after must be a job ID."})
			return
		}
		after = v
	}
	b, err := h.client.BatchGet(ctx, id)
	if errors.Is(err, kilntype.ErrNotFound) {
		h.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: "There is no batch " + strconv.Quote(id) + ": it may have been cleaned up with its jobs."})
		return
	}
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	jobs, err := h.client.BatchJobs(ctx, id, after, batchPageSize+1)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := &batchData{Batch: b, Progress: progressOf(b), After: after}
	if len(jobs) > batchPageSize {
		jobs = jobs[:batchPageSize]
		d.Next = jobs[len(jobs)-1].ID
	}
	d.Jobs = jobs
	for _, st := range kilntype.JobStates() {
		if n := b.Counts[st]; n > 0 {
			d.States = append(d.States, batchStateCount{State: string(st), N: n})
		}
	}
	if d.Progress.Deleted > 0 {
		d.States = append(d.States, batchStateCount{State: "deleted", N: d.Progress.Deleted})
	}
	var callback *kiln.WorkflowNode
	if b.CallbackJobID != 0 {
		callback = &kiln.WorkflowNode{ID: b.CallbackJobID}
		if job, err := h.client.JobGet(ctx, b.CallbackJobID); err == nil {
			callback.Kind, callback.State = job.Kind, job.State
		} else if !errors.Is(err, kilntype.ErrNotFound) {
			h.serverError(w, r, err)
			return
		}
	}
	first := jobs[:min(len(jobs), workflowCap)]
	d.Graph = batchGraph(h.opts.Prefix, first, max(b.Total-len(first), 0), callback, 0)
	h.render(w, r, http.StatusOK, "batch", &page{Title: "Batch " + id, Nav: "jobs", Data: d})
}
