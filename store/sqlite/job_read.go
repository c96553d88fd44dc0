package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobGet returns the job id, or a wrapped kilntype.ErrNotFound. It reads
// from the reader pool and never waits for writers.
func (s *Store) JobGet(ctx context.Context, id int64) (*kilntype.JobRow, error) {
	job, err := scanJob(s.r.QueryRowContext(ctx, sqlGetJob, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = kilntype.ErrNotFound
	}
	if err != nil {
		return nil, fail(fmt.Sprintf("get job %d", id), err)
	}
	return job, nil
}

// JobList returns the jobs matching every non-nil filter of params (a job
// matches a filter when its value is any of the filter's), ordered by ID,
// newest first unless params.OrderAsc, starting after the ID params.Cursor
// (0: from the first page). It returns at most params.Limit jobs: 0 or less
// means store.DefaultListLimit, more than store.MaxListLimit is cut to it.
// An empty, non-nil filter matches nothing. It reads from the reader pool.
func (s *Store) JobList(ctx context.Context, params *store.JobListParams) ([]*kilntype.JobRow, error) {
	limit := params.Limit
	switch {
	case limit <= 0:
		limit = store.DefaultListLimit
	case limit > store.MaxListLimit:
		limit = store.MaxListLimit
	}
	var (
		where []string
		args  []any
	)
	states := make([]string, len(params.States))
	for i, st := range params.States {
		states[i] = string(st)
	}
	for _, f := range []struct {
		column string
		values []string
		isNil  bool
	}{
		{"state", states, params.States == nil},
		{"kind", params.Kinds, params.Kinds == nil},
		{"queue", params.Queues, params.Queues == nil},
	} {
		switch {
		case f.isNil:
		case len(f.values) == 0:
			return []*kilntype.JobRow{}, nil
		default:
			where = append(where, f.column+" IN ("+placeholders(len(f.values))+")")
			for _, v := range f.values {
				args = append(args, v)
			}
		}
	}
	order := "DESC"
	if params.OrderAsc {
		order = "ASC"
	}
	if params.Cursor != 0 {
		if params.OrderAsc {
			where = append(where, "id > ?")
		} else {
			where = append(where, "id < ?")
		}
		args = append(args, params.Cursor)
	}
	query := `SELECT ` + jobColumns + ` FROM kiln_job`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id ` + order + ` LIMIT ?`
	args = append(args, limit)

	jobs, err := scanJobs(s.r.QueryContext(ctx, query, args...))
	if err != nil {
		return nil, fail("list jobs", err)
	}
	return jobs, nil
}

// placeholders returns n comma-separated '?'.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// JobCountByState returns how many jobs are in each state; states without
// jobs are absent. It reads the (state, id) index only, from the reader
// pool, so it takes time linear in the number of jobs.
func (s *Store) JobCountByState(ctx context.Context) (map[kilntype.JobState]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM kiln_job GROUP BY state`)
	if err != nil {
		return nil, fail("count jobs", err)
	}
	defer rows.Close()
	counts := make(map[kilntype.JobState]int)
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, fail("count jobs", err)
		}
		counts[kilntype.JobState(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fail("count jobs", err)
	}
	return counts, nil
}

// JobAttemptList returns the attempts of job jobID, oldest first; an unknown
// job gives an empty list. It reads from the reader pool.
func (s *Store) JobAttemptList(ctx context.Context, jobID int64) ([]*kilntype.JobAttempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+attemptColumns+` FROM kiln_job_attempt
		WHERE job_id = ? ORDER BY id`, jobID)
	if err != nil {
		return nil, fail(fmt.Sprintf("list attempts of job %d", jobID), err)
	}
	defer rows.Close()
	attempts := []*kilntype.JobAttempt{}
	for rows.Next() {
		a, err := scanAttempt(rows)
		if err != nil {
			return nil, fail(fmt.Sprintf("list attempts of job %d", jobID), err)
		}
		attempts = append(attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(fmt.Sprintf("list attempts of job %d", jobID), err)
	}
	return attempts, nil
}
