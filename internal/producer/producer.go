// Package producer runs one queue in one process: it claims due jobs for its
// free worker slots, runs them on its pool of worker goroutines, and hands
// the outcomes to the completer.
//
// A worker slot is freed as soon as its worker returns, while the outcome
// is still on its way to the store (as River's producer does): the next
// claim does not wait for the previous batch's write, and the completer can
// gather large batches. A job stays held (its lease renewed, Holds true)
// until its outcome is written, and a queue holds at most MaxWorkers jobs
// running plus MaxWorkers outcomes being written: when the store is slow to
// take outcomes, claims stop before the process holds more than twice its
// workers.
//
// After a claim that came back short, the producer waits for its next poll
// or an enqueue's wake, unless a concurrency limit was in force (the
// Limiter, ClusterKindLimits, Partitioned's MaxRunning): then the finish of
// a job of a limited kind claims again, since it made room for jobs the
// claim held back.
//
// Producers may also share a process-wide Pool of slots, by weight or in
// strict order (see Pool): a producer then claims only the slots the pool
// grants it, and the pool, not the producer, decides when a freed slot is
// worth a claim and wakes the producer it hands the slot to.
package producer

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/internal/completer"
	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Config configures a Producer. Every field is required unless marked.
type Config struct {
	Queue      string
	MaxWorkers int
	Store      store.Store
	// Kinds are the kinds to claim; without kinds the producer claims
	// nothing, unless AnyKind is set (store.JobClaimParams.AnyKind).
	Kinds   []string
	AnyKind bool
	Limiter *KindLimiter // optional
	// Pool (optional) is the process-wide pool of slots the producer
	// shares with the other queues' producers, with its Weight (at least
	// 1); MaxWorkers stays the queue's own cap.
	Pool   *Pool
	Weight int
	// ClusterKindLimits (optional) caps kinds across every process sharing
	// the store (store.JobClaimParams.ClusterKindLimits).
	ClusterKindLimits map[string]int
	// Partitioned (optional) lists the kinds claimed by partition key
	// (store.JobClaimParams.Partitioned).
	Partitioned   map[string]store.PartitionClaim
	Units         jobexec.UnitFactory
	Exec          *jobexec.Settings
	Completer     *completer.Completer
	LeaseDuration time.Duration
	PollInterval  time.Duration
	Logger        *slog.Logger
	// OnStart (optional) is called for each claimed job before it runs.
	OnStart func(row *kilntype.JobRow)
	// ObserveClaim (optional) is called around each claim (op "claim").
	ObserveClaim service.StoreObserver
	// OnFinish (optional) is called once a job's outcome is written and
	// applied (not when the job was taken back meanwhile).
	OnFinish func(row *kilntype.JobRow, p *store.JobFinishParams)
	// RateLimits (optional) returns, at each claim, the kinds whose claims
	// keep a cluster-wide rate limit, with their defaults: perKind for the
	// kind's own budget (store.JobClaimParams.RateLimits), perKey for each
	// partition key's (store.JobClaimParams.KeyRateLimits); nil or empty
	// maps: none. When a claim reports that a budget held jobs back
	// (RateWait), the producer claims again once its next slot opens, or
	// at its next poll if sooner.
	RateLimits func(ctx context.Context) (perKind, perKey map[string]kilntype.RateLimit)
}

// Producer claims and runs the jobs of one queue. Create it with New.
type Producer struct {
	cfg     Config
	wake    chan struct{}
	fetcher service.Runner
	share   *poolQueue // the queue's account in cfg.Pool; nil without a pool

	// limited holds the kinds under a concurrency limit (Limiter,
	// ClusterKindLimits, Partitioned with MaxRunning); read-only.
	limited map[string]bool

	mu      sync.Mutex            // guards running, working, moreDue, limitHeld, jobBase
	running map[int64]*runningJob // claimed jobs whose outcome is not written
	working int                   // jobs of running whose worker has not returned
	moreDue bool                  // the last claim filled every slot it asked for
	// limitHeld: the last claim came back short while a concurrency limit
	// was in force, so it may have left due jobs behind a full limit.
	limitHeld bool
	jobBase   context.Context
	jobsDone  sync.WaitGroup // one count per claimed job, until its outcome is written

	// The worker pool: goroutines that run one job after another, so that
	// a job does not pay for a new goroutine and the growth of its stack.
	// A claimed job is queued in q for the workers (see workQueue: a
	// worker that ends a job takes the next queued one itself, and a
	// sleeping worker is woken, or a new one started, only when no woken
	// worker is on its way to the queue). StopFetching closes q (the fetch
	// loop, its only sender, has exited); the workers then run what is
	// queued and exit.
	q          workQueue
	workers    sync.WaitGroup
	closeWork  sync.Once
	workClosed atomic.Bool

	// claimed is the fetch loop's own list of the jobs of a claim, kept
	// between claims so that handing them out costs no allocation.
	claimed []*runningJob
	// handing (nil but in tests) is called by the fetch loop before each
	// job of a claim is handed to a worker.
	handing func(j *runningJob)
	// arriving (nil but in tests) is called by each new worker goroutine
	// before it first looks at the queue.
	arriving func()
}

type runningJob struct {
	row *kilntype.JobRow
	// ctx is the job's context (its cancel cause tells why it ended): a
	// field, so that a job's context costs no allocation of its own.
	ctx jobexec.Context
	// params is the attempt's outcome: a field, like ctx, so that it costs
	// no allocation of its own. The record itself is its way to the
	// completer (a completer.Item).
	params store.JobFinishParams
	// finishing is set once the worker returned and the outcome is on its
	// way to the store: a lease renewal that misses the job then is no
	// sign of a lost lease.
	finishing atomic.Bool
	// p is the producer that runs the job, told by Finished.
	p *Producer
}

// Outcome returns the job's row and the params of its finish: j is its
// outcome's completer.Item.
func (j *runningJob) Outcome() (*kilntype.JobRow, *store.JobFinishParams) { return j.row, &j.params }

// Finished releases the job once its outcome is written.
func (j *runningJob) Finished(applied bool) { j.p.finished(j, applied) }

// New returns a Producer; Start runs it.
func New(cfg Config) *Producer {
	p := &Producer{cfg: cfg, wake: make(chan struct{}, 1), running: make(map[int64]*runningJob),
		limited: make(map[string]bool)}
	p.q.cond.L = &p.q.mu
	for kind := range cfg.Limiter.limitsOf() {
		p.limited[kind] = true
	}
	for kind := range cfg.ClusterKindLimits {
		p.limited[kind] = true
	}
	for kind, c := range cfg.Partitioned {
		if c.MaxRunning > 0 {
			p.limited[kind] = true
		}
	}
	if cfg.Pool != nil {
		p.share = cfg.Pool.join(cfg.Queue, cfg.Weight, cfg.MaxWorkers, p.poolWake)
	}
	return p
}

// poolWake is the pool's wake: at once if force (a share handed on), else
// only if the grants, up to the producer's own free slots, are worth a
// claim (wantMoreLocked), so that a producer whose holding is full of
// outcomes being written does not claim a few slots at a time.
func (p *Producer) poolWake(force bool) {
	if !force {
		p.mu.Lock()
		force = p.wantMoreLocked()
		p.mu.Unlock()
	}
	if force {
		p.Wake()
	}
}

// Queue is the name of the queue the Producer runs.
func (p *Producer) Queue() string { return p.cfg.Queue }

// Start starts fetching. Jobs run under contexts derived from ctx's values
// (not its cancellation: only CancelAll and CancelJob cancel them).
func (p *Producer) Start(ctx context.Context) {
	p.mu.Lock()
	p.jobBase = context.WithoutCancel(ctx)
	p.mu.Unlock()
	p.fetcher.Start(ctx, p.fetchLoop)
}

// StopFetching stops claiming new jobs and returns once the fetch loop has
// exited; running jobs go on, and each worker goroutine exits when its job
// is done (Wait waits for them).
func (p *Producer) StopFetching() {
	p.fetcher.Stop()
	p.closeWork.Do(func() {
		p.q.close()
		p.workClosed.Store(true)
	})
}

// Wake makes the fetch loop claim at once (an enqueue into this queue).
func (p *Producer) Wake() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Wait blocks until every claimed job's outcome is written, and, after
// StopFetching, until every worker goroutine has exited; or until ctx is
// done (then it returns ctx's error).
func (p *Producer) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		p.jobsDone.Wait()
		if p.workClosed.Load() {
			p.workers.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CancelAll cancels the context of every running job with cause.
func (p *Producer) CancelAll(cause error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, j := range p.running {
		j.ctx.Cancel(cause)
	}
}

// CancelJob cancels the context of job id with cause, and reports whether
// the job runs here.
func (p *Producer) CancelJob(id int64, cause error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.running[id]
	if ok {
		j.ctx.Cancel(cause)
	}
	return ok
}

// Holds reports whether job id is claimed here with its outcome not yet
// written and, if it is, whether its worker has returned and its outcome
// is being written.
func (p *Producer) Holds(id int64) (held, finishing bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.running[id]
	return ok, ok && j.finishing.Load()
}

// Running returns the jobs claimed by this Producer whose outcome is not yet
// written.
func (p *Producer) Running() []*kilntype.JobRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	rows := make([]*kilntype.JobRow, 0, len(p.running))
	for _, j := range p.running {
		rows = append(rows, j.row)
	}
	return rows
}

func (p *Producer) fetchLoop(ctx context.Context) {
	service.Poll(ctx, p.wake, p.cfg.PollInterval,
		func(ctx context.Context) (time.Duration, error) {
			wait, err := p.fetch(ctx)
			if wait <= 0 || wait > p.cfg.PollInterval {
				wait = p.cfg.PollInterval
			}
			return wait, err
		},
		func(err error, failures int, wait time.Duration) {
			p.cfg.Logger.Error("kiln: cannot claim jobs; retrying", "queue", p.cfg.Queue, "try", failures, "retry_in", wait, "err", err)
		})
}

// freeLocked returns how many jobs the producer may claim now: its free
// worker slots, fewer when outcomes being written fill the rest of its
// holding (2 × MaxWorkers). The caller holds p.mu.
func (p *Producer) freeLocked() int {
	return min(p.cfg.MaxWorkers-p.working, 2*p.cfg.MaxWorkers-len(p.running))
}

// wantMoreLocked reports whether the fetch loop should claim again now: more
// jobs were due at the last claim (or a finish made room under a limit that
// held some back), and a quarter of the slots (or all of
// them) are free. Each claim is a write transaction with a fixed cost, so
// claiming slot by slot would spend the database on overhead. With a pool,
// the pool's grants decide instead (Pool.ready). The caller holds p.mu (and
// takes the pool's after it).
func (p *Producer) wantMoreLocked() bool {
	free := p.freeLocked()
	if p.share != nil {
		return p.cfg.Pool.ready(p.share, free)
	}
	return p.moreDue && free > 0 && (free >= max(p.cfg.MaxWorkers/4, 1) || p.working == 0)
}

// fetch claims jobs for the free slots and starts them. It returns how
// long until a rate limit that held jobs back has its next slot (0: none
// did).
func (p *Producer) fetch(ctx context.Context) (time.Duration, error) {
	p.mu.Lock()
	free := p.freeLocked()
	p.mu.Unlock()
	if free <= 0 {
		return 0, nil
	}
	var rateLimits, keyRateLimits map[string]kilntype.RateLimit
	if p.cfg.RateLimits != nil {
		rateLimits, keyRateLimits = p.cfg.RateLimits(ctx)
	}
	if p.share != nil {
		if free = p.cfg.Pool.reserve(p.share, free); free == 0 {
			return 0, nil // the pool's slots are taken or handed to other queues
		}
	}
	reserved := p.cfg.Limiter.Reserve()
	now := p.cfg.Exec.Now()
	var observed func(int, error)
	if p.cfg.ObserveClaim != nil {
		ctx, observed = p.cfg.ObserveClaim(ctx, "claim", p.cfg.Queue)
	}
	params := &store.JobClaimParams{
		Queue:             p.cfg.Queue,
		Max:               free,
		Kinds:             p.cfg.Kinds,
		AnyKind:           p.cfg.AnyKind,
		KindLimits:        reserved,
		ClusterKindLimits: p.cfg.ClusterKindLimits,
		RateLimits:        rateLimits,
		KeyRateLimits:     keyRateLimits,
		Partitioned:       p.cfg.Partitioned,
		LeasedBy:          p.cfg.Exec.ServerID,
		LeaseExpiresAt:    now.Add(p.cfg.LeaseDuration),
		Now:               now,
	}
	rows, err := p.cfg.Store.JobClaim(ctx, params)
	if observed != nil {
		observed(len(rows), err)
	}
	var claimed map[string]int
	if reserved != nil {
		claimed = make(map[string]int)
		for _, row := range rows {
			claimed[row.Kind]++
		}
	}
	p.cfg.Limiter.Settle(reserved, claimed)
	if p.share != nil {
		p.cfg.Pool.settle(p.share, free, len(rows))
	}
	if err != nil {
		return 0, err
	}
	jobs := p.claimed[:0]
	p.mu.Lock()
	p.moreDue = len(rows) == free
	p.limitHeld = len(rows) < free && len(p.limited) > 0
	for _, row := range rows {
		if stale, ok := p.running[row.ID]; ok {
			// The job was rescued from this very process (its lease lapsed
			// while it ran) and claimed again: the old copy's outcome will
			// not apply, so stop it.
			stale.ctx.Cancel(jobexec.ErrLeaseLost)
		}
		j := &runningJob{row: row, p: p}
		j.ctx.Init(p.jobBase)
		p.running[row.ID] = j
		p.working++
		p.jobsDone.Add(1)
		jobs = append(jobs, j)
	}
	p.mu.Unlock()
	// The jobs are queued once p.mu is released: a worker whose job ends
	// while the batch is being queued takes p.mu to free its slot, and
	// would otherwise sleep on p.mu until the last job is queued, and
	// wake again.
	for _, j := range jobs {
		p.dispatch(j)
	}
	clear(jobs) // the records belong to their workers now
	p.claimed = jobs
	return params.RateWait, nil
}

// dispatch queues j for a worker goroutine, and wakes one (or starts a
// new one) if none is on its way to the queue. Only the fetch loop calls
// it, before StopFetching closes the queue.
func (p *Producer) dispatch(j *runningJob) {
	if p.handing != nil {
		p.handing(j)
	}
	q := &p.q
	q.mu.Lock()
	q.jobs = append(q.jobs, j)
	if q.waking == 0 {
		p.wakeWorkerLocked()
	}
	q.mu.Unlock()
}

// wakeWorkerLocked wakes an idle worker goroutine, or starts a new one if
// none is idle, to take the queue's next job. The caller holds p.q.mu.
func (p *Producer) wakeWorkerLocked() {
	q := &p.q
	q.waking++
	if q.idle > 0 {
		q.idle--
		q.cond.Signal()
		return
	}
	q.started++
	p.workers.Add(1)
	go p.worker()
}

// worker runs the queued jobs, one after another, until the queue is
// closed and empty. Its jobs' timeouts share one timer, which each job's
// context disarms as it ends.
func (p *Producer) worker() {
	defer p.workers.Done()
	var reserve stackReserve
	reserve.hold()
	timer := new(jobexec.Timer)
	defer timer.Stop()
	if p.arriving != nil {
		p.arriving()
	}
	q := &p.q
	q.mu.Lock()
	q.waking-- // started by wakeWorkerLocked
	for {
		j := q.popLocked()
		if j == nil {
			if q.closed {
				q.mu.Unlock()
				return
			}
			q.idle++
			q.cond.Wait()
			q.waking-- // moved from idle to waking by whoever woke it
			continue
		}
		if q.queuedLocked() && q.waking == 0 {
			// More jobs wait: wake the next worker before running this
			// one, which may take long.
			p.wakeWorkerLocked()
		}
		q.mu.Unlock()
		p.execute(j, timer)
		q.mu.Lock()
		q.waking-- // counted by execute as on its way back
	}
}

// stackReserve is stack space a worker goroutine holds while it waits for
// a job. The GC halves the stack of a goroutine that uses less than a
// quarter of it: without the reserve, a worker waiting in its loop (~1 KB)
// lost half its stack at every GC cycle and copied it back on its next
// job's deepest call (its args' JSON decode), a stack copy per worker per
// cycle.
type stackReserve [1536]byte

// hold keeps r on its goroutine's stack: a variable that nothing reads
// could be left out of the frame.
//
//go:noinline
func (r *stackReserve) hold() { r[0] = 1 }

func (p *Producer) execute(j *runningJob, timer *jobexec.Timer) {
	row := j.row
	if p.cfg.OnStart != nil {
		p.cfg.OnStart(row)
	}
	unit, _ := p.cfg.Units.Unit(row)
	params := &j.params
	j.ctx.UseTimer(timer)
	jobexec.RunInto(params, &j.ctx, p.cfg.Exec, row, unit)
	j.finishing.Store(true)
	j.ctx.Cancel(nil)
	p.cfg.Completer.Finish(j)
	// The slot is free once the outcome is queued (Finish blocks while the
	// completer's queue is full); the job stays held until it is written.
	// From here this worker is on its way back to the queue: counted as
	// waking, so that a claim made for the freed slot before it gets there
	// does not start another goroutine for a job it will take itself
	// (worker goroutines thus never outnumber MaxWorkers).
	q := &p.q
	q.mu.Lock()
	q.waking++
	q.mu.Unlock()
	p.mu.Lock()
	p.working--
	more := p.share == nil && p.wantMoreLocked()
	p.mu.Unlock()
	if p.share != nil {
		// The pool hands the slot on, and wakes whichever producer gets it
		// (this one included); working is already down, so that a fetch
		// woken here sees the slot free.
		p.cfg.Pool.release(p.share)
	} else if more {
		p.Wake()
	}
}

// finished releases the job once its outcome, j.params, is written.
func (p *Producer) finished(j *runningJob, applied bool) {
	row, params := j.row, &j.params
	p.cfg.Limiter.Release(row.Kind)
	p.mu.Lock()
	if p.running[row.ID] == j { // not a newer claim of the same job
		delete(p.running, row.ID)
	}
	// A job of a kind under a concurrency limit made room under it: if the
	// last claim came back short while a limit was in force, jobs it held
	// back (the same kind, or the same partition key) may be claimable
	// now, and waiting for the poll would leave workers idle: claim as if
	// more were due. With a pool, wake the fetch loop, whose reserve marks
	// the queue as having waiting work again.
	freed := p.limitHeld && p.limited[row.Kind]
	if freed {
		p.moreDue = true
	}
	more := p.wantMoreLocked() || (freed && p.share != nil)
	p.mu.Unlock()
	if !applied {
		p.cfg.Logger.Warn("kiln: job outcome not recorded: the job was taken back (its lease expired) or the store was unreachable at shutdown",
			"job_id", row.ID, "kind", row.Kind, "outcome", params.Attempt.Outcome)
	} else if p.cfg.OnFinish != nil {
		p.cfg.OnFinish(row, params)
	}
	p.jobsDone.Done()
	if more {
		p.Wake()
	}
}
