package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlInsertJob inserts one job; a unique key taken by a job that may still
// run makes it insert nothing and return no row.
const sqlInsertJob = `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, tags, metadata, unique_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
RETURNING id`

// sqlGetUnique returns the job that holds a unique key. Its WHERE repeats the
// partial unique index's, so the index serves it.
const sqlGetUnique = `SELECT ` + jobColumns + ` FROM kiln_job
WHERE unique_key = ? AND unique_key IS NOT NULL AND state NOT IN ('completed', 'cancelled', 'discarded')`

// JobInsertMany inserts the jobs in one transaction and returns one result
// per param, in order. A param whose UniqueKey is held by a job in a
// non-final state (including one inserted earlier in the same call) is not
// inserted: its result holds that job and UniqueSkipped is true. The store
// applies no defaults; a nil Metadata is stored as {} and nil Tags as [].
// A State other than available, scheduled or pending fails the whole call.
func (s *Store) JobInsertMany(ctx context.Context, params []*store.JobInsertParams) ([]store.JobInsertResult, error) {
	if len(params) == 0 {
		return []store.JobInsertResult{}, nil
	}
	results := make([]store.JobInsertResult, len(params))
	err := s.write(ctx, func(tx *sql.Tx, st *stmts) error {
		insert := tx.StmtContext(ctx, st.insertJob)
		var getUnique *sql.Stmt
		for i, p := range params {
			if p == nil {
				return fmt.Errorf("param %d is nil", i)
			}
			row, err := insertRow(p)
			if err != nil {
				return fmt.Errorf("param %d: %w", i, err)
			}
			var id int64
			err = insert.QueryRowContext(ctx, p.Kind, p.Queue, string(p.Args), string(p.State),
				p.Priority, p.MaxAttempts, micros(p.CreatedAt), micros(p.ScheduledAt),
				row.tags, string(row.job.Metadata), nullString(p.UniqueKey)).Scan(&id)
			switch {
			case err == nil:
				row.job.ID = id
				results[i].Job = row.job
			case errors.Is(err, sql.ErrNoRows) && p.UniqueKey != "":
				if getUnique == nil {
					getUnique = tx.StmtContext(ctx, st.getUnique)
				}
				existing, err := scanJob(getUnique.QueryRowContext(ctx, p.UniqueKey))
				if err != nil {
					return fmt.Errorf("param %d: get job with unique key %q: %w", i, p.UniqueKey, err)
				}
				results[i] = store.JobInsertResult{Job: existing, UniqueSkipped: true}
			default:
				return fmt.Errorf("param %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fail("insert jobs", err)
	}
	return results, nil
}

// insertedRow is a job about to be inserted: the row the store will return
// (all but its ID) and its encoded tags.
type insertedRow struct {
	job  *kilntype.JobRow
	tags string
}

// insertRow builds the row that inserting p stores, as JobGet would return
// it: times in UTC to the microsecond, Metadata {} when nil, Tags never nil.
func insertRow(p *store.JobInsertParams) (insertedRow, error) {
	switch p.State {
	case kilntype.JobStateAvailable, kilntype.JobStateScheduled, kilntype.JobStatePending:
	default:
		return insertedRow{}, fmt.Errorf("cannot insert a job in state %q", p.State)
	}
	tags, err := encodeTags(p.Tags)
	if err != nil {
		return insertedRow{}, err
	}
	metadata := []byte("{}")
	if p.Metadata != nil {
		metadata = append([]byte(nil), p.Metadata...)
	}
	copiedTags := make([]string, len(p.Tags))
	copy(copiedTags, p.Tags)
	return insertedRow{
		job: &kilntype.JobRow{
			Kind:        p.Kind,
			Queue:       p.Queue,
			Args:        append([]byte(nil), p.Args...),
			State:       p.State,
			Priority:    p.Priority,
			MaxAttempts: p.MaxAttempts,
			CreatedAt:   truncate(p.CreatedAt),
			ScheduledAt: truncate(p.ScheduledAt),
			Tags:        copiedTags,
			Metadata:    metadata,
			UniqueKey:   p.UniqueKey,
		},
		tags: tags,
	}, nil
}
