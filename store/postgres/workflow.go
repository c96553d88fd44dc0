package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlParentNodes returns job $1's parents above $2, at most $3, by ID,
// from kiln_job_parent's primary key; a deleted parent has no kind and
// state.
const sqlParentNodes = `SELECT p.parent_id, coalesce(j.kind, ''), coalesce(j.state, '')
FROM {s}.kiln_job_parent AS p
LEFT JOIN {s}.kiln_job AS j ON j.id = p.parent_id
WHERE p.child_id = $1 AND p.parent_id > $2
ORDER BY p.parent_id
LIMIT $3`

// sqlChildNodes returns job $1's children above $2, at most $3, by ID,
// from kiln_job_parent_parent (a child row goes with its job).
const sqlChildNodes = `SELECT p.child_id, j.kind, j.state
FROM {s}.kiln_job_parent AS p
JOIN {s}.kiln_job AS j ON j.id = p.child_id
WHERE p.parent_id = $1 AND p.child_id > $2
ORDER BY p.child_id
LIMIT $3`

// sqlBatchNodes returns batch $1's members above $2, at most $3, by ID,
// from kiln_batch_job's primary key; a deleted member has no kind and
// state.
const sqlBatchNodes = `SELECT b.job_id, coalesce(j.kind, ''), coalesce(j.state, '')
FROM {s}.kiln_batch_job AS b
LEFT JOIN {s}.kiln_job AS j ON j.id = b.job_id
WHERE b.batch_id = $1 AND b.job_id > $2
ORDER BY b.job_id
LIMIT $3`

// JobRelativeList returns the parents, children or batch members that
// params selects, as store.DependencyStore documents.
func (s *Store) JobRelativeList(ctx context.Context, params *store.JobRelativeListParams) ([]*store.JobNode, error) {
	rel, key, what, err := params.Relation()
	if err != nil {
		return nil, fail("list related jobs", err)
	}
	query := relativeNodes[rel]
	rows, err := s.pool.Query(ctx, s.sql(query), key, params.AfterID, listLimit(params.Limit))
	if err != nil {
		return nil, fail(what, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (*store.JobNode, error) {
		var (
			n     store.JobNode
			state string
		)
		if err := row.Scan(&n.ID, &n.Kind, &state); err != nil {
			return nil, err
		}
		n.State = kilntype.JobState(state)
		return &n, nil
	})
	if err != nil {
		return nil, fail(what, err)
	}
	if out == nil {
		out = []*store.JobNode{}
	}
	return out, nil
}

// relativeNodes is the statement of each relation that a
// JobRelativeListParams may select (JobRelativeListParams.Relation).
var relativeNodes = map[store.JobRelation]string{
	store.RelationParents:  sqlParentNodes,
	store.RelationChildren: sqlChildNodes,
	store.RelationBatch:    sqlBatchNodes,
}
