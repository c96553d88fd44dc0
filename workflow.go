package kiln

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/store"
)

// MaxWorkflowNodes is the most nodes a Workflow lists in each of its sets
// (parents, children, batch members), and BatchJobs returns at once.
const MaxWorkflowNodes = 1000

// WorkflowNode is a job in a workflow graph.
type WorkflowNode struct {
	ID   int64  `json:"id"`
	Kind string `json:"kind,omitempty"` // "" when the job was deleted
	// State is the job's state; "" when the job was deleted (by
	// retention, or by hand).
	State JobState `json:"state,omitempty"`
}

// Workflow is the graph around a job: its parents (the jobs it waits for,
// as a continuation), its children (the continuations that wait for it),
// and its batch, with each job's state. Each set lists at most the limit
// asked of JobWorkflow, by ID; the More fields count (or, for children,
// say) what was left out.
type Workflow struct {
	Job WorkflowNode `json:"job"`
	// Parents are the jobs Job waits for; MoreParents how many more it has.
	Parents     []WorkflowNode `json:"parents"`
	MoreParents int            `json:"more_parents,omitempty"`
	// Children wait for Job; MoreChildren reports that it has more.
	Children     []WorkflowNode `json:"children"`
	MoreChildren bool           `json:"more_children,omitempty"`
	// Batch is Job's batch (Job is a member or its callback), nil when it
	// has none; BatchJobs its members (first by ID), MoreBatchJobs how
	// many more it has, and BatchCallback its callback job, if any.
	Batch         *BatchRow      `json:"batch,omitempty"`
	BatchJobs     []WorkflowNode `json:"batch_jobs,omitempty"`
	MoreBatchJobs int            `json:"more_batch_jobs,omitempty"`
	BatchCallback *WorkflowNode  `json:"batch_callback,omitempty"`
}

// JobWorkflow returns the graph around job id: its parents, children and
// batch, each set at most limit jobs (0 or less: 10; more than
// MaxWorkflowNodes is cut to it). An unknown job gives a wrapped
// ErrNotFound. It reads the job, one index range per set (the children of
// a job are read and sorted whole on PostgreSQL), and its batch's counts.
func (c *Client) JobWorkflow(ctx context.Context, id int64, limit int) (*Workflow, error) {
	if limit <= 0 {
		limit = 10
	}
	limit = min(limit, MaxWorkflowNodes)
	fail := func(err error) (*Workflow, error) { return nil, fmt.Errorf("kiln: workflow of job %d: %w", id, err) }
	job, err := c.cfg.Store.JobGet(ctx, &store.JobGetParams{ID: id})
	if err != nil {
		return fail(err)
	}
	w := &Workflow{Job: WorkflowNode{ID: job.ID, Kind: job.Kind, State: job.State}}
	list := func(p store.JobRelativeListParams) ([]WorkflowNode, error) {
		nodes, err := c.cfg.Store.JobRelativeList(ctx, &p)
		if err != nil {
			return nil, err
		}
		return workflowNodes(nodes), nil
	}
	if w.Parents, err = list(store.JobRelativeListParams{ParentsOf: id, Limit: limit}); err != nil {
		return fail(err)
	}
	if n := len(ParentIDs(job)); n > len(w.Parents) {
		w.MoreParents = n - len(w.Parents)
	}
	if w.Children, err = list(store.JobRelativeListParams{ChildrenOf: id, Limit: limit + 1}); err != nil {
		return fail(err)
	}
	if len(w.Children) > limit {
		w.Children, w.MoreChildren = w.Children[:limit], true
	}
	batchID := metadataBatchID(job)
	if batchID == "" {
		return w, nil
	}
	if w.Batch, err = c.cfg.Store.BatchGet(ctx, &store.BatchGetParams{ID: batchID}); err != nil {
		if errors.Is(err, ErrNotFound) { // pruned with its jobs
			return w, nil
		}
		return fail(err)
	}
	if w.BatchJobs, err = list(store.JobRelativeListParams{Batch: batchID, Limit: limit}); err != nil {
		return fail(err)
	}
	w.MoreBatchJobs = max(w.Batch.Total-len(w.BatchJobs), 0)
	if cb := w.Batch.CallbackJobID; cb != 0 {
		n := WorkflowNode{ID: cb}
		if cb == job.ID {
			n = w.Job
		} else if row, err := c.cfg.Store.JobGet(ctx, &store.JobGetParams{ID: cb}); err == nil {
			n.Kind, n.State = row.Kind, row.State
		} else if !errors.Is(err, ErrNotFound) {
			return fail(err)
		}
		w.BatchCallback = &n
	}
	return w, nil
}

// BatchJobs returns the jobs of batch id (its callback excluded), by ID,
// at most limit (0 or less: 100; more than MaxWorkflowNodes is cut to it)
// after afterID, each with its kind and state (a deleted job with
// neither). An unknown batch gives an empty list; see BatchGet for its
// counts.
func (c *Client) BatchJobs(ctx context.Context, id string, afterID int64, limit int) ([]WorkflowNode, error) {
	if limit <= 0 {
		limit = 100
	}
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: list jobs of batch %q: %w", id, err)
	}
	nodes, err := c.cfg.Store.JobRelativeList(ctx, &store.JobRelativeListParams{Batch: id, AfterID: afterID, Limit: min(limit, MaxWorkflowNodes)})
	if err != nil {
		return nil, fmt.Errorf("kiln: list jobs of batch %q: %w", id, err)
	}
	return workflowNodes(nodes), nil
}

// workflowNodes converts store nodes.
func workflowNodes(nodes []*store.JobNode) []WorkflowNode {
	out := make([]WorkflowNode, len(nodes))
	for i, n := range nodes {
		out[i] = WorkflowNode{ID: n.ID, Kind: n.Kind, State: n.State}
	}
	return out
}

// metadataBatchID returns the batch job belongs to (as a member or its
// callback), "" for none.
func metadataBatchID(job *JobRow) string {
	var meta struct {
		ID string `json:"kiln.batch_id"`
	}
	_ = json.Unmarshal(job.Metadata, &meta)
	return meta.ID
}
