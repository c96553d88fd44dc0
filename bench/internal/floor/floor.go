// Package floor is the raw-SQL floor of the benchmarks: the statements
// that any PostgreSQL job queue must run per job, with no engine around
// them. Jobs are inserted in batches (one INSERT ... SELECT FROM unnest
// per batch), claimed in batches (one UPDATE over a SELECT ... FOR UPDATE
// SKIP LOCKED ... LIMIT n, which returns the claimed rows), and marked
// completed in batches (one UPDATE ... WHERE id = ANY($1)). The table has
// its primary key and one partial index, on the available jobs of a queue
// in claim order (the same as Kiln's kiln_job_claim_available); no
// attempts table, no triggers, no notifications, no leases.
//
// A Runner works the jobs as the engines do: a fetch loop claims up to
// the free worker slots (at most ClaimMax at a time) and hands the jobs to
// Workers long-lived goroutines; each worker decodes the job's JSON args
// (the least a worker function needs) and passes the job to one completer,
// which writes every completion that has arrived in one UPDATE. A slot is
// free once its worker has handed the job to the completer, as in Kiln and
// River, and a Runner holds at most twice its workers (jobs running, and
// completions not yet written).
//
// What the floor costs on a machine is the reference that an engine's
// throughput and CPU per job are read against: it is what the database
// must do, and the least Go code that drives it.
package floor

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Kind and Queue are the kind and queue of every floor job.
const (
	Kind  = "bench.noop"
	Queue = "default"
)

// Table is the floor's table in one schema, on a pool. It is safe for
// concurrent use.
type Table struct {
	pool   *pgxpool.Pool
	quoted string // the schema, quoted
	insert string
	claim  string
	finish string
	count  string
	left   string
}

// sqlSchema creates the table and its one secondary index; {s} is the
// quoted schema, which must exist.
const sqlSchema = `CREATE TABLE {s}.floor_job (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         text        NOT NULL,
    queue        text        NOT NULL,
    args         jsonb       NOT NULL,
    state        text        NOT NULL,
    priority     integer     NOT NULL DEFAULT 1,
    attempt      integer     NOT NULL DEFAULT 0,
    max_attempts integer     NOT NULL DEFAULT 25,
    created_at   timestamptz NOT NULL DEFAULT now(),
    scheduled_at timestamptz NOT NULL DEFAULT now(),
    attempted_at timestamptz,
    finalized_at timestamptz
);
CREATE INDEX floor_job_available ON {s}.floor_job (queue, priority, scheduled_at, id)
    WHERE state = 'available'`

const (
	sqlInsert = `INSERT INTO {s}.floor_job (kind, queue, args, state)
SELECT $1, $2, a::jsonb, 'available' FROM unnest($3::text[]) AS a`

	sqlClaim = `WITH next AS (
    SELECT id FROM {s}.floor_job
    WHERE state = 'available' AND queue = $1 AND scheduled_at <= now()
    ORDER BY priority, scheduled_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE {s}.floor_job j SET state = 'running', attempt = j.attempt + 1, attempted_at = now()
FROM next WHERE j.ID = next.id
RETURNING j.ID, j.Args`

	sqlFinish = `UPDATE {s}.floor_job SET state = 'completed', finalized_at = now()
WHERE id = ANY($1::bigint[]) AND state = 'running'`

	sqlCountAvailable = `SELECT count(*) FROM {s}.floor_job WHERE state = 'available'`
	sqlCountLeft      = `SELECT count(*) FROM {s}.floor_job WHERE state IN ('available', 'running')`
)

// Create makes the floor's table in schema, which must exist, and returns
// it. The pool's connections do the work.
func Create(ctx context.Context, pool *pgxpool.Pool, schema string) (*Table, error) {
	t := Open(pool, schema)
	if _, err := pool.Exec(ctx, expandWith(t.quoted, sqlSchema)); err != nil {
		return nil, fmt.Errorf("floor: create table: %w", err)
	}
	return t, nil
}

// Open returns the floor's table of schema, made earlier by Create.
func Open(pool *pgxpool.Pool, schema string) *Table {
	q := pgx.Identifier{schema}.Sanitize()
	t := &Table{pool: pool, quoted: q}
	t.insert = expandWith(q, sqlInsert)
	t.claim = expandWith(q, sqlClaim)
	t.finish = expandWith(q, sqlFinish)
	t.count = expandWith(q, sqlCountAvailable)
	t.left = expandWith(q, sqlCountLeft)
	return t
}

// expandWith returns s with each {s} replaced by quoted.
func expandWith(quoted, s string) string { return strings.ReplaceAll(s, "{s}", quoted) }

// Insert stores one job per element of args (each a JSON document) in
// one statement.
func (t *Table) Insert(ctx context.Context, args []string) error {
	if _, err := t.pool.Exec(ctx, t.insert, Kind, Queue, args); err != nil {
		return fmt.Errorf("floor: insert %d jobs: %w", len(args), err)
	}
	return nil
}

// InsertN stores n jobs whose args are {"n": first}, {"n": first+1}, ...
// in one statement.
func (t *Table) InsertN(ctx context.Context, first, n int) error {
	args := make([]string, n)
	for i := range args {
		args[i] = `{"n":` + strconv.Itoa(first+i) + `}`
	}
	return t.Insert(ctx, args)
}

// CountAvailable returns how many jobs wait to be claimed.
func (t *Table) CountAvailable(ctx context.Context) (int, error) {
	var n int
	if err := t.pool.QueryRow(ctx, t.count).Scan(&n); err != nil {
		return 0, fmt.Errorf("floor: count available jobs: %w", err)
	}
	return n, nil
}

// CountLeft returns how many jobs are available or running.
func (t *Table) CountLeft(ctx context.Context) (int, error) {
	var n int
	if err := t.pool.QueryRow(ctx, t.left).Scan(&n); err != nil {
		return 0, fmt.Errorf("floor: count unfinished jobs: %w", err)
	}
	return n, nil
}

// Config configures a Runner.
type Config struct {
	// Workers is how many jobs run at once (goroutines): at least 1.
	Workers int
	// ClaimMax bounds the jobs of one claim; 0 means Workers.
	ClaimMax int
	// FinishMax bounds the completions of one UPDATE; 0 means 1000.
	FinishMax int
	// PollInterval is how long the fetch loop waits after a claim that
	// found fewer jobs than it asked for, unless Wake is called: 0 means
	// 20 ms.
	PollInterval time.Duration
	// OnCompleted, if set, is called by the completer after each UPDATE
	// committed, with the number of jobs it completed. It must not block.
	OnCompleted func(n int)
}

// Runner works the jobs of a Table; see the package comment. Start it
// with Start and stop it with Stop.
type Runner struct {
	t   *Table
	cfg Config

	cancel context.CancelFunc
	wake   chan struct{} // Wake: cap 1
	freed  chan struct{} // the completer freed slots: cap 1
	jobs   chan Claimed  // fetch loop -> workers
	done   chan int64    // workers -> completer

	mu      sync.Mutex // guards working, held and err
	working int        // jobs claimed whose worker has not handed them on
	held    int        // jobs claimed whose completion is not written
	err     error      // the first error of a claim or a finish

	fetchDone, workersDone, completerDone chan struct{}
}

// Claimed is a job that Claim took.
type Claimed struct {
	ID   int64
	Args []byte // JSON
}

// Start starts the fetch loop, the workers and the completer, and returns.
func (t *Table) Start(ctx context.Context, cfg Config) (*Runner, error) {
	if cfg.Workers < 1 {
		return nil, fmt.Errorf("floor: Workers %d: want at least 1", cfg.Workers)
	}
	if cfg.ClaimMax <= 0 {
		cfg.ClaimMax = cfg.Workers
	}
	if cfg.FinishMax <= 0 {
		cfg.FinishMax = 1000
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 20 * time.Millisecond
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r := &Runner{
		t: t, cfg: cfg, cancel: cancel,
		wake: make(chan struct{}, 1), freed: make(chan struct{}, 1),
		jobs: make(chan Claimed, cfg.Workers), done: make(chan int64, 2*cfg.Workers),
		fetchDone: make(chan struct{}), workersDone: make(chan struct{}), completerDone: make(chan struct{}),
	}
	go r.fetch(runCtx)
	var wg sync.WaitGroup
	for range cfg.Workers {
		wg.Go(r.work)
	}
	go func() {
		wg.Wait()
		close(r.workersDone)
	}()
	go r.complete()
	return r, nil
}

// Wake makes the fetch loop claim at once if it waits for its poll.
func (r *Runner) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Err returns the first error of a claim or a completion, if any: the
// Runner stops claiming after it.
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func (r *Runner) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = err
	}
}

// Stop stops claiming, lets the workers run the jobs already claimed,
// writes their completions, and returns once every goroutine of the
// Runner has exited, with Err.
func (r *Runner) Stop() error {
	r.cancel()
	<-r.fetchDone
	close(r.jobs)
	<-r.workersDone
	close(r.done)
	<-r.completerDone
	return r.Err()
}

// fetch claims jobs for the free slots until ctx is done.
func (r *Runner) fetch(ctx context.Context) {
	defer close(r.fetchDone)
	poll := time.NewTimer(0)
	defer poll.Stop()
	<-poll.C
	for ctx.Err() == nil && r.Err() == nil {
		r.mu.Lock()
		want := min(r.cfg.Workers-r.working, 2*r.cfg.Workers-r.held, r.cfg.ClaimMax)
		r.mu.Unlock()
		if want == 0 {
			select {
			case <-ctx.Done():
			case <-r.freed:
			}
			continue
		}
		got, err := r.claim(want)
		if err != nil {
			r.fail(err)
			return
		}
		if got == want {
			continue
		}
		poll.Reset(r.cfg.PollInterval)
		select {
		case <-ctx.Done():
		case <-r.wake:
		case <-poll.C:
		}
		if !poll.Stop() {
			select {
			case <-poll.C:
			default:
			}
		}
	}
}

// claim claims up to want jobs, takes their slots and hands them to the
// workers; it returns how many it claimed. It is not cancelled by Stop,
// so that no job is left claimed and never run.
func (r *Runner) claim(want int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	claimed, err := r.t.Claim(ctx, want)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	r.working += len(claimed)
	r.held += len(claimed)
	r.mu.Unlock()
	for _, j := range claimed {
		r.jobs <- j // never blocks: at most Workers jobs are out
	}
	return len(claimed), nil
}

// Claim claims up to want available jobs of Queue in one statement (FOR
// UPDATE SKIP LOCKED) and returns them.
func (t *Table) Claim(ctx context.Context, want int) ([]Claimed, error) {
	rows, err := t.pool.Query(ctx, t.claim, Queue, want)
	if err != nil {
		return nil, fmt.Errorf("floor: claim: %w", err)
	}
	var claimed []Claimed
	for rows.Next() {
		var j Claimed
		if err := rows.Scan(&j.ID, &j.Args); err != nil {
			rows.Close()
			return nil, fmt.Errorf("floor: claim: %w", err)
		}
		claimed = append(claimed, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("floor: claim: %w", err)
	}
	return claimed, nil
}

// work runs jobs until the fetch loop is done.
func (r *Runner) work() {
	for j := range r.jobs {
		var args struct {
			N int `json:"n"`
		}
		if err := json.Unmarshal(j.Args, &args); err != nil {
			r.fail(fmt.Errorf("floor: job %d: decode args: %w", j.ID, err))
		}
		r.done <- j.ID
		r.mu.Lock()
		r.working--
		r.mu.Unlock()
		r.signalFreed()
	}
}

// signalFreed wakes the fetch loop if it waits for a free slot.
func (r *Runner) signalFreed() {
	select {
	case r.freed <- struct{}{}:
	default:
	}
}

// complete writes completions in batches: everything that has arrived
// while the previous UPDATE ran, up to FinishMax.
func (r *Runner) complete() {
	defer close(r.completerDone)
	batch := make([]int64, 0, r.cfg.FinishMax)
	for id := range r.done {
		batch = append(batch[:0], id)
	gather:
		for len(batch) < r.cfg.FinishMax {
			select {
			case id, ok := <-r.done:
				if !ok {
					break gather
				}
				batch = append(batch, id)
			default:
				break gather
			}
		}
		if err := r.finish(batch); err != nil {
			r.fail(err)
		}
		r.mu.Lock()
		r.held -= len(batch)
		r.mu.Unlock()
		r.signalFreed()
		if r.cfg.OnCompleted != nil {
			r.cfg.OnCompleted(len(batch))
		}
	}
}

// finish marks the jobs of ids completed. It runs also while the Runner
// stops, so it has a deadline of its own rather than the Runner's context.
func (r *Runner) finish(ids []int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return r.t.Complete(ctx, ids)
}

// Complete marks the running jobs of ids completed in one UPDATE; it fails
// unless each of them was running.
func (t *Table) Complete(ctx context.Context, ids []int64) error {
	tag, err := t.pool.Exec(ctx, t.finish, ids)
	if err != nil {
		return fmt.Errorf("floor: complete %d jobs: %w", len(ids), err)
	}
	if int(tag.RowsAffected()) != len(ids) {
		return fmt.Errorf("floor: complete %d jobs: %d rows updated", len(ids), tag.RowsAffected())
	}
	return nil
}
