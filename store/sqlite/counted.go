package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// sqlCountMoves adds ?3 jobs and ?4 finished attempts to kiln_job_count's
// row of queue ?1 and state ?2: what a claim, a finish or an insert that
// counted its own jobs (migrations 026 and 027) moved to or from the pair,
// run once per pair and transaction where the triggers ran once or twice
// per job. The values are bound as they are (not as JSON, which would
// replace bytes that are not UTF-8 in a queue's name read back from a row).
const sqlCountMoves = `INSERT INTO kiln_job_count (queue, state, jobs, finished) VALUES (?1, ?2, ?3, ?4)
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
// kiln_job.counted), so that write can add them to kiln_job_count once,
// before the commit. The zero
// value is empty.
type moves map[countedPair]countedDelta

// add adds jobs and finished attempts to the pair (queue, state).
func (m moves) add(queue, state string, jobs, finished int) {
	d := m[countedPair{queue, state}]
	d.jobs += jobs
	d.finished += finished
	m[countedPair{queue, state}] = d
}

// move records n jobs of queue moved from state from to state to; finished
// says whether the move ended their attempts (running to another state).
func (m moves) move(queue, from, to string, n int, finished bool) {
	if n == 0 {
		return
	}
	ended := 0
	if finished {
		ended = n
	}
	m.add(queue, from, -n, 0)
	m.add(queue, to, n, ended)
}

// write adds m's deltas to kiln_job_count with stmt (sqlCountMoves, bound
// to the transaction that made the moves), one pair at a time, and empties
// m.
func (m moves) write(ctx context.Context, stmt *sql.Stmt) error {
	defer clear(m)
	for pair, d := range m {
		if d == (countedDelta{}) {
			continue
		}
		if _, err := stmt.ExecContext(ctx, pair.queue, pair.state, int64(d.jobs), int64(d.finished)); err != nil {
			return fmt.Errorf("count the jobs of queue %q %s: %w", pair.queue, pair.state, err)
		}
	}
	return nil
}
