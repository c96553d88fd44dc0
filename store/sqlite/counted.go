package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
)

// sqlCountMoves adds to kiln_job_count the deltas of the JSON array ?1 of
// [queue, state, jobs, finished] rows: the jobs a claim or a finish moved
// itself, whose rows it marked so that the UPDATE trigger skips them
// (migration 026). One UPSERT per queue and state, where the trigger ran
// two per job.
const sqlCountMoves = `INSERT INTO kiln_job_count (queue, state, jobs, finished)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?1) WHERE true
ON CONFLICT (queue, state) DO UPDATE SET
	jobs = jobs + excluded.jobs, finished = finished + excluded.finished`

// countedPair is a queue and a state: a row of kiln_job_count.
type countedPair struct{ queue, state string }

// countedDelta is what a row of kiln_job_count gains: jobs (negative for
// the pair jobs left), and finished, the attempts that ended by moving a job
// of the queue from running to the state.
type countedDelta struct{ jobs, finished int }

// moves gathers, in a write transaction, the jobs that its statements
// count themselves (inserts with counted = 1, moves that flip
// kiln_job.counted), so that
// write can add them to kiln_job_count once, before the commit. The zero
// value is empty.
type moves map[countedPair]countedDelta

// move records n jobs of queue moved from state from to state to; finished
// says whether the move ended their attempts (running to another state).
func (m moves) move(queue, from, to string, n int, finished bool) {
	if n == 0 {
		return
	}
	left := m[countedPair{queue, from}]
	left.jobs -= n
	m[countedPair{queue, from}] = left
	entered := m[countedPair{queue, to}]
	entered.jobs += n
	if finished {
		entered.finished += n
	}
	m[countedPair{queue, to}] = entered
}

// enter records a job inserted into queue in state.
func (m moves) enter(queue, state string) {
	d := m[countedPair{queue, state}]
	d.jobs++
	m[countedPair{queue, state}] = d
}

// write adds m's deltas to kiln_job_count with stmt (sqlCountMoves, bound
// to the transaction that made the moves), and empties m.
func (m moves) write(ctx context.Context, stmt *sql.Stmt) error {
	if len(m) == 0 {
		return nil
	}
	rows := make([][4]any, 0, len(m))
	for pair, d := range m {
		if d != (countedDelta{}) {
			rows = append(rows, [4]any{pair.queue, pair.state, d.jobs, d.finished})
		}
	}
	clear(m)
	if len(rows) == 0 {
		return nil
	}
	b, err := json.Marshal(rows)
	if err != nil {
		return fmt.Errorf("count moves: %w", err)
	}
	if _, err := stmt.ExecContext(ctx, string(b)); err != nil {
		return fmt.Errorf("count moves: %w", err)
	}
	return nil
}
