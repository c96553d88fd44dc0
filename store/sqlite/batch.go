package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"strings"
	"sync"
)

// batchSizes are the row counts of the multi-row statements prepared for a
// batch statement, largest first. A batch of n rows runs as chunks of these
// sizes (greedily), so 1000 rows take 10 statements and 100 rows 4: one
// statement per row costs several times more in SQLite (a statement journal
// each) and in database/sql.
var batchSizes = []int{256, 64, 16, 4, 1}

// allBatchSizes is a row count whose chunks use every size of batchSizes
// once: prepared for it, a batchStmt has a statement of every size.
const allBatchSizes = 256 + 64 + 16 + 4 + 1

// batchStmt is a multi-row statement: build(n) is its SQL for n rows. It is
// prepared for a size in batchSizes when a batch first needs that size.
type batchStmt struct {
	build func(rows int) string

	// mu guards bySize.
	mu     sync.Mutex
	bySize map[int]*sql.Stmt
}

// newBatchStmt returns the multi-row statement build describes.
func newBatchStmt(build func(rows int) string) *batchStmt {
	return &batchStmt{build: build, bySize: make(map[int]*sql.Stmt, len(batchSizes))}
}

// prepared returns the statements that a batch of n rows needs, by size,
// preparing on db those not prepared yet. It must not be called inside a
// writer transaction: preparing needs the writer's only connection.
func (b *batchStmt) prepared(ctx context.Context, db *sql.DB, n int) (map[int]*sql.Stmt, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make(map[int]*sql.Stmt, len(batchSizes))
	for _, size := range chunks(n) {
		if _, ok := out[size]; ok {
			continue
		}
		s, ok := b.bySize[size]
		if !ok {
			var err error
			if s, err = db.PrepareContext(ctx, b.build(size)); err != nil {
				return nil, fmt.Errorf("prepare: %w", err)
			}
			b.bySize[size] = s
		}
		out[size] = s
	}
	return out, nil
}

// close closes the statements prepared so far.
func (b *batchStmt) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for size, s := range b.bySize {
		s.Close()
		delete(b.bySize, size)
	}
}

// chunks splits n rows into runs of batchSizes: it yields each chunk's first
// row and length.
func chunks(n int) iter.Seq2[int, int] {
	return func(yield func(int, int) bool) {
		start := 0
		for _, size := range batchSizes {
			for n-start >= size {
				if !yield(start, size) {
					return
				}
				start += size
			}
		}
	}
}

// valuesRows returns n copies of a row of cols placeholders, comma-separated:
// "(?, ?), (?, ?)" for n=2, cols=2.
func valuesRows(n, cols int) string {
	return repeatRow(n, "("+strings.TrimSuffix(strings.Repeat("?, ", cols), ", ")+")")
}

// repeatRow returns n copies of row, comma-separated.
func repeatRow(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// sqlInsertJobs inserts rows jobs; those whose unique key is taken by a job
// that may still run (or by an earlier row) are skipped. It returns the ID
// and unique key of each inserted job. The jobs are inserted as counted by
// the statement (counted = 1, migration 027): insertJobs adds them to
// kiln_job_count itself (moves).
func sqlInsertJobs(rows int) string {
	return fmt.Sprintf(`INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, tags, metadata, unique_key, partition_key, fair_seq, counted)
VALUES %s
ON CONFLICT DO NOTHING
RETURNING id, unique_key`, repeatRow(rows, "("+strings.Repeat("?, ", 13)+"1)"))
}

// sqlFinishJobs moves each running job column1, if leased by column2 for the
// claim that set attempted_at to column8 (NULL: any claim), to state
// column3. column4 is the new ScheduledAt (NULL keeps it), column5 is 1 to
// give the attempt back, column6 the FinalizedAt (NULL for non-final
// states), column7 the error to keep as LastError (NULL keeps the previous
// one) and column9 the time of the finish. A job with a cancel request that
// would be retried or put back becomes cancelled instead. column10 is the
// server of a successful attempt that completes the job (NULL otherwise):
// the job's row keeps it as attempted_by, the record of that attempt. It
// marks the rows it moves as counted by the statement (it flips counted,
// migration 026) and returns each one's ID, queue and new state, which
// JobFinishMany adds to kiln_job_count itself (moves).
func sqlFinishJobs(rows int) string {
	return fmt.Sprintf(`UPDATE kiln_job SET
	state = CASE WHEN kiln_job.cancel_requested_at IS NOT NULL AND f.column3 IN ('retryable', 'scheduled', 'available')
		THEN 'cancelled' ELSE f.column3 END,
	finalized_at = CASE WHEN kiln_job.cancel_requested_at IS NOT NULL AND f.column3 IN ('retryable', 'scheduled', 'available')
		THEN f.column9 ELSE f.column6 END,
	scheduled_at = coalesce(f.column4, kiln_job.scheduled_at),
	attempt = max(kiln_job.attempt - f.column5, 0),
	last_error = coalesce(f.column7, kiln_job.last_error),
	attempted_by = f.column10,
	leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL,
	counted = 1 - kiln_job.counted
FROM (VALUES %s) AS f
WHERE kiln_job.id = f.column1 AND kiln_job.state = 'running' AND kiln_job.leased_by = f.column2
	AND (f.column8 IS NULL OR kiln_job.attempted_at = f.column8)
RETURNING kiln_job.id, kiln_job.queue, kiln_job.state`,
		valuesRows(rows, 10))
}

// sqlCompleteJobs is sqlFinishJobs for the completions of successful
// attempts, with the values that a batch's jobs share sent once: it
// completes each running job column1 that is leased by ?1 for the claim
// that set attempted_at to column2, with column3 as its FinalizedAt and
// ?2, the server of the attempt, as its attempted_by. What sqlFinishJobs
// sets from its other columns stays as it is (scheduled_at, attempt,
// last_error; a cancel request does not change a completion), and so do
// the indexes of scheduled_at, which it does not assign. Three arguments
// per job instead of ten: bench/sqlitecost counts 55.1k instructions per
// job against sqlFinishJobs's 59.6k, and database/sql converts and the
// driver binds 7 fewer (see docs/benchmarks.md, "SQLite process cost per
// job (issue 11, 2026-12-06 sixth session)"). It returns what
// sqlFinishJobs returns.
func sqlCompleteJobs(rows int) string {
	// The rows' parameters are anonymous: ?2 comes before them in the
	// text, so they are ?3, ?4 and on. A numbered parameter has a name
	// ("?3"), which the driver reads for each argument it binds
	// (sqlite3_bind_parameter_name, a walk of the statement's list of
	// names: quadratic in the arguments).
	return fmt.Sprintf(`UPDATE kiln_job SET
	state = 'completed', finalized_at = f.column3, attempted_by = ?2,
	leased_by = NULL, lease_expires_at = NULL, cancel_requested_at = NULL,
	counted = 1 - kiln_job.counted
FROM (VALUES %s) AS f
WHERE kiln_job.id = f.column1 AND kiln_job.state = 'running' AND kiln_job.leased_by = ?1
	AND kiln_job.attempted_at = f.column2
RETURNING kiln_job.id, kiln_job.queue, kiln_job.state`, valuesRows(rows, 3))
}

// sqlInsertAttempts appends attempts to the history of their jobs, skipping
// those whose job no longer exists and those already recorded (same job,
// number, start, finish, server and outcome: a retried write), as a row or
// as a completed job's own successful attempt.
func sqlInsertAttempts(rows int) string {
	return fmt.Sprintf(`INSERT INTO kiln_job_attempt (job_id, attempt, started_at,
	finished_at, server, outcome, error, trace)
SELECT column1, column2, column3, column4, column5, column6, column7, column8
FROM (VALUES %s) AS a
WHERE EXISTS (SELECT 1 FROM kiln_job WHERE id = a.column1)
	AND NOT EXISTS (SELECT 1 FROM kiln_job_attempt AS x
		WHERE x.job_id = a.column1 AND x.attempt = a.column2 AND x.started_at = a.column3
			AND x.finished_at IS a.column4 AND x.server = a.column5 AND x.outcome = a.column6)
	AND NOT EXISTS (SELECT 1 FROM kiln_job AS r
		WHERE r.id = a.column1 AND a.column6 = 'succeeded' AND r.state = 'completed'
			AND r.attempted_by = a.column5 AND r.attempt = a.column2 AND r.attempted_at = a.column3)`, valuesRows(rows, 8))
}
