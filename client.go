package kiln

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/internal/bulk"
	"github.com/kilnjobs/kiln/internal/completer"
	"github.com/kilnjobs/kiln/internal/heartbeat"
	"github.com/kilnjobs/kiln/internal/hosted"
	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/leader"
	"github.com/kilnjobs/kiln/internal/maintenance"
	"github.com/kilnjobs/kiln/internal/notifier"
	"github.com/kilnjobs/kiln/internal/producer"
	"github.com/kilnjobs/kiln/internal/recurring"
	"github.com/kilnjobs/kiln/internal/registry"
	"github.com/kilnjobs/kiln/internal/release"
	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/internal/telemetry"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Client enqueues and controls jobs, and, once started, runs them. It is
// safe for concurrent use. A Client without Workers only enqueues and
// controls jobs: it never claims one, and it can Start only to run hosted
// services.
type Client struct {
	cfg         *Config
	exec        *jobexec.Settings
	events      events
	hostedSpecs []hosted.Spec
	tel         *telemetry.Telemetry

	// lifecycle serializes Start and Stop, which may take long; it is never
	// held by code that jobs can call into.
	lifecycle sync.Mutex
	completer *completer.Completer // set by Start, under lifecycle
	heartbeat *heartbeat.Heartbeat // set by Start, under lifecycle
	registry  *registry.Registry   // set by Start, under lifecycle
	elector   *leader.Elector      // set by Start, under lifecycle
	notifier  *notifier.Notifier   // set by Start, under lifecycle; nil when the store sends no notifications
	releaser  *release.Releaser    // set by Start, under lifecycle
	ungauge   func()               // set by Start, under lifecycle: stops the queue gauges

	// rescuer is set by Start, under lifecycle; nil when maintenance is
	// disabled. Unlike the elector's services, it runs in every process.
	rescuer *maintenance.Services

	mu        sync.RWMutex // guards running, producers, scheduler and listener; held briefly
	running   bool
	producers map[string]*producer.Producer
	// listener is the notifier of the last Start (nil before, or when the
	// store sends no notifications), for wakeInserted.
	listener  *notifier.Notifier
	scheduler *recurring.Scheduler // nil when maintenance is disabled
	services  *hosted.Supervisor   // nil before the first Start

	// bulk runs this process's bulk operations, started or not; Stop
	// stops them.
	bulk *bulk.Runner

	// rates is the set of rate-limited kinds the producers' claims pass;
	// reset by Start.
	rates rateKinds

	// storeCallTimeout bounds each store call that Start makes before it
	// starts the background parts (the registration, the schema check, the
	// held migrations, the recurring entries) and each write of the
	// registry row; 0 means service.CallTimeout. Tests shorten it
	// (export_test.go).
	storeCallTimeout time.Duration
}

// NewClient returns a Client for cfg, or an error naming the first invalid
// setting. It does not touch the store: Start checks the schema.
func NewClient(cfg *Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	specs, err := hostedSpecs(cfg.HostedServices)
	if err != nil {
		return nil, err
	}
	tel, err := newTelemetry(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, hostedSpecs: specs, tel: tel}
	c.bulk = c.newBulkRunner()
	c.exec = &jobexec.Settings{
		ServerID:       cfg.ID,
		DefaultTimeout: cfg.JobTimeout,
		Backoff:        cfg.RetryPolicy.Backoff,
		Now:            c.now,
		StrictKinds:    cfg.StrictKinds,
		Observe:        tel.Attempt,
	}
	return c, nil
}

// ID returns the process ID the client uses in leases and attempt records.
func (c *Client) ID() string { return c.cfg.ID }

func (c *Client) now() time.Time { return c.cfg.Clock.Now().UTC().Truncate(time.Microsecond) }

// startCall runs fn, one store call of Start, under ctx and at most
// storeCallTimeout (service.CallTimeout, 30 s): a store that accepts the
// call and never answers fails it with a *service.TimeoutError naming the
// timeout, rather than hanging Start for as long as ctx allows.
func (c *Client) startCall(ctx context.Context, fn func(ctx context.Context) error) error {
	return service.BoundedCall(ctx, c.startTimeout(), fn)
}

// startTimeout is storeCallTimeout, or service.CallTimeout when it is 0.
func (c *Client) startTimeout() time.Duration {
	if c.storeCallTimeout > 0 {
		return c.storeCallTimeout
	}
	return service.CallTimeout
}

// stopCancelGrace is how long Stop waits for workers to return once their
// contexts are cancelled, before it gives their jobs back and returns.
const stopCancelGrace = 5 * time.Second

// Start checks the store's schema and starts running jobs: one fetcher per
// configured queue, the heartbeat that renews leases and relays cancels,
// and (unless DisableMaintenance) the campaign for maintenance leadership.
// It returns once everything runs. First it registers the process in the
// server registry (ServerList) and checks the schema, in that order (see
// docs/upgrading.md, "Contract migrations"), then stores the entries of
// Config.Recurring. It returns an error if the client has no Workers, is
// already started, the schema is missing (wrapping ErrSchemaMissing: run
// `kiln migrate`) or carries a contract migration of a newer build, the
// process cannot register (the store's error: a process that the gate of
// contract migrations cannot see does not claim), or a recurring entry
// cannot be stored; then nothing was started, and the row, if written, is
// removed.
//
// Each of these store calls, and the listing of held contract migrations
// that Start logs, is bounded by ctx and by 30 s: a store that does not
// answer within that (a PostgreSQL server that accepts connections and
// never replies, a SQLite file whose writer lock another process holds)
// makes Start return an error that names the call ("register this process
// in the server registry", "check the schema", a recurring entry) and the
// timeout ("no answer from the store within 30s"), wrapping
// context.DeadlineExceeded, with nothing started; the listing only logs
// its failure. When the registration times out, or ctx ends during it,
// Start returns at once, without checking the schema. The bound holds for
// a store that honours its calls' contexts, as both built-in stores do (a
// third-party store.Store that ignores them can still hang Start). On PostgreSQL the schema check waits for a
// migration under way: a start during a migration that holds its lock
// longer than 30 s fails so, and may be tried again. ctx's values reach
// job contexts; its cancellation does not stop the client: call Stop.
func (c *Client) Start(ctx context.Context) error {
	if c.cfg.Workers == nil && len(c.hostedSpecs) == 0 {
		return errors.New("kiln: start: Config.Workers is nil and there are no hosted services; this client can only enqueue")
	}
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	if c.isRunning() {
		return errors.New("kiln: start: client already started")
	}
	kinds := c.cfg.Workers.Kinds()
	var queues []string // those this process claims from: none without workers
	if len(kinds) > 0 {
		queues = slices.Sorted(maps.Keys(c.cfg.Queues))
	}
	// The process registers (writes its row in the server registry, with
	// its build's last migration) before it checks the schema: the gate of
	// contract migrations (store/internal/migrate) reads the registry, so
	// a contract migration that this build's statements still need is
	// either held back by the row, or was applied before it and the check
	// that follows refuses the schema. Checked first, a migration applied
	// between the check and the row would be neither. A process that
	// cannot register does not start: unseen by the gate, it must not
	// claim.
	c.registry = c.newRegistry(queues)
	regErr := c.registry.Register(ctx)
	if _, ok := errors.AsType[*service.TimeoutError](regErr); ok || (regErr != nil && ctx.Err() != nil) {
		// The store does not answer, or the caller's ctx ended during the
		// registration: the schema check below would wait as long again,
		// for the same, or fail on the dead ctx and hide which call it was.
		return fmt.Errorf("kiln: start: register this process in the server registry: %w", regErr)
	}
	if err := c.startCall(ctx, c.cfg.Store.SchemaCheck); err != nil {
		c.registry.Stop()
		if _, ok := errors.AsType[*service.TimeoutError](err); ok {
			return fmt.Errorf("kiln: start: check the schema: %w", err)
		}
		return fmt.Errorf("kiln: start: %w", err)
	}
	if regErr != nil {
		return fmt.Errorf("kiln: start: register this process in the server registry "+
			"(processes that cannot register do not claim: the gate of contract migrations would not see them): %w", regErr)
	}
	c.warnHeldMigrations(ctx)
	c.bulk.Reopen()
	if err := c.defineRecurring(ctx); err != nil {
		c.registry.Stop()
		return fmt.Errorf("kiln: start: %w", err)
	}
	c.completer = completer.New(c.cfg.Store, c.cfg.Logger, 3*completer.MaxBatch)
	var observeStore service.StoreObserver
	if c.cfg.TraceStoreCalls {
		observeStore = c.tel.StoreCall
		c.completer.Observe = observeStore
	}
	c.releaser = c.newReleaser()
	limits, clusterLimits := map[string]int{}, map[string]int{}
	partitioned := map[string]store.PartitionClaim{}
	for _, k := range c.cfg.Workers.Kinds() {
		e, _ := c.cfg.Workers.entry(k)
		if pc, ok := e.partitioned(); ok {
			partitioned[k] = pc
		}
		if n := e.maxConcurrency(); n > 0 {
			limits[k] = n
		}
		if n := e.clusterMaxConcurrency(); n > 0 {
			clusterLimits[k] = n
		}
	}
	limiter := producer.NewKindLimiter(limits)
	c.rates.reset(c)
	var pool *producer.Pool // shared by the queues' producers (Config.MaxWorkers)
	if c.cfg.MaxWorkers > 0 {
		pool = producer.NewPool(c.cfg.MaxWorkers, c.cfg.StrictPriority)
	}
	producers := make(map[string]*producer.Producer, len(queues))
	for _, name := range queues { // none without workers (hosted services only): never claim
		q := c.cfg.Queues[name]
		producers[name] = producer.New(producer.Config{
			Queue: name, MaxWorkers: q.MaxWorkers, Store: c.cfg.Store, Kinds: kinds, AnyKind: c.cfg.StrictKinds,
			Pool: pool, Weight: q.Weight,
			Limiter: limiter, ClusterKindLimits: clusterLimits, RateLimits: c.rates.get, Partitioned: partitioned,
			Units: c.jobUnits(), Exec: c.exec, Completer: c.completer,
			LeaseDuration: c.cfg.LeaseDuration, PollInterval: c.cfg.FetchPollInterval,
			Logger: c.cfg.Logger, OnStart: c.onStart, OnFinish: c.onFinish, ObserveClaim: observeStore,
		})
	}
	c.heartbeat = heartbeat.New(heartbeat.Config{
		Store: c.cfg.Store, ServerID: c.cfg.ID, LeaseDuration: c.cfg.LeaseDuration,
		PollInterval: c.cfg.CancelPollInterval, Now: c.now, Logger: c.cfg.Logger,
		Running: c.runningJobs, Cancel: c.cancelLocal, Finishing: c.finishingLocal,
	})
	c.elector, c.rescuer = nil, nil
	var scheduler *recurring.Scheduler
	if !c.cfg.DisableMaintenance {
		scheduler = recurring.New(recurring.Config{
			Store: c.cfg.Store, Now: c.now, Logger: c.cfg.Logger,
			PollInterval: c.cfg.RecurringPollInterval, MisfireThreshold: c.cfg.MisfireThreshold,
			JobParams: func(row *RecurringRow, at time.Time) (*store.JobInsertParams, error) {
				return recurringJobParams(row, at, c.now())
			},
			HasWorker: func(kind string) bool {
				_, ok := c.cfg.Workers.entry(kind)
				return ok
			},
			OnEnqueued: func(_ *RecurringRow, job *JobRow) { c.wake(job.Queue) },
		})
		maintCfg := maintenance.Config{
			Store: c.cfg.Store, Now: c.now, Logger: c.cfg.Logger,
			ScheduleInterval: c.cfg.ScheduleInterval, RescueInterval: c.cfg.RescueInterval,
			CleanInterval:      c.cfg.CleanInterval,
			CompletedRetention: c.cfg.CompletedRetention, CancelledRetention: c.cfg.CancelledRetention,
			DiscardedRetention: c.cfg.DiscardedRetention, Retention: c.cfg.Retention, AuditRetention: c.cfg.AuditRetention, BulkRetention: c.cfg.BulkRetention,
			OnRescued: c.onRescued,
			ServerTTL: c.cfg.ServerTTL,
			OnReleased: func(rows []*JobRow) {
				for _, r := range rows {
					c.wake(r.Queue)
				}
			},
		}
		maint := maintenance.New(maintCfg)
		// Every process rescues, leader or not: a dead process's jobs come
		// back RescueInterval after their leases end, even when it was the
		// leader and no other process is elected yet.
		c.rescuer = maintenance.NewRescuer(maintCfg)
		c.elector = leader.New(leader.Config{
			Store: c.cfg.Store, Name: "maintenance", LeaderID: c.cfg.ID, TTL: c.cfg.LeaderTTL,
			Now: c.now, Logger: c.cfg.Logger,
			OnElected: func(ctx context.Context) {
				maint.Start(ctx)
				scheduler.Start(ctx)
			},
			OnDeposed: func() {
				scheduler.Stop()
				maint.Stop()
			},
		})
	}
	services := hosted.New(hosted.Config{
		ProcessID: c.cfg.ID, Store: c.cfg.Store, LeaderTTL: c.cfg.LeaderTTL, Now: c.now, Logger: c.cfg.Logger,
	}, c.hostedSpecs)
	c.mu.Lock()
	c.producers, c.scheduler, c.services, c.running = producers, scheduler, services, true
	c.mu.Unlock()
	c.notifier = c.startNotifier(ctx)
	c.mu.Lock()
	c.listener = c.notifier
	c.mu.Unlock()
	c.releaser.Start(ctx)
	c.completer.Start(ctx)
	c.registry.Start(ctx) // refreshes the row written above
	for _, p := range producers {
		p.Start(ctx)
	}
	c.heartbeat.Start(ctx)
	if c.rescuer != nil {
		c.rescuer.Start(ctx)
	}
	if c.elector != nil {
		c.elector.Start(ctx)
	}
	services.Start(ctx)
	c.ungauge = c.registerGauges()
	c.cfg.Logger.Info("kiln: started", "id", c.cfg.ID, "queues", len(producers), "kinds", len(c.cfg.Workers.Kinds()))
	return nil
}

// Stop shuts the client down gracefully: it gives up maintenance leadership
// (its recurring scheduler enqueues nothing more; another process takes
// over), cancels the contexts of hosted services and stops fetching, waits
// for running jobs and services until ctx is done (services get at least
// 1 s), then cancels the jobs' contexts and waits up to 5 s more for them
// to return; jobs that return then are put back to available, without
// using an attempt. It returns when every goroutine of the client has
// exited. If some workers or services ignore their cancelled contexts,
// their jobs are put back to available anyway and Stop returns an error
// wrapping ErrStopTimeout that names them (only the services still
// running), leaving those goroutines behind; HostedServices reports them as
// running until they return. So Stop returns by ctx's deadline (or 1 s
// after it was called, if later), plus 5 s when workers ignore
// cancellation, plus its last store writes. First of all, whether or not
// the client was started, it stops the bulk operations running in this
// process (JobBulk) after their batch under way, leaving them interrupted
// for JobBulkResume. Stopping a client that is not running does nothing
// more.
func (c *Client) Stop(ctx context.Context) error { return c.stop(ctx, false) }

// StopAndCancel is Stop's impatient twin: it cancels running jobs' contexts
// at once, then waits for them as Stop does.
func (c *Client) StopAndCancel(ctx context.Context) error { return c.stop(ctx, true) }

func (c *Client) stop(ctx context.Context, cancelNow bool) error {
	c.lifecycle.Lock()
	defer c.lifecycle.Unlock()
	// Bulk operations run whether or not the client was started; they
	// stop at their next batch and are left interrupted.
	c.bulk.Stop()
	if !c.isRunning() {
		return nil
	}
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	// Leadership goes first: the recurring scheduler must not enqueue
	// occurrences while jobs drain, and another process can take over the
	// schedule and the maintenance at once instead of after the drain.
	if c.elector != nil {
		c.elector.Stop()
	}
	// Hosted services stop through their contexts at once, and may take
	// until the deadline (at least hosted.StopGrace) to return.
	servicesStopped := make(chan error, 1)
	go func() { servicesStopped <- c.services.Stop(ctx) }()
	for _, p := range c.producerList() {
		p.StopFetching()
	}
	if cancelNow {
		c.cancelAll()
	}
	var err error
	if c.waitJobs(ctx) != nil {
		c.cancelAll()
		graceCtx, cancel := context.WithTimeout(context.Background(), stopCancelGrace)
		if c.waitJobs(graceCtx) != nil {
			err = c.releaseStuck()
		}
		cancel()
	}
	c.heartbeat.Stop()
	c.notifier.Stop()
	if c.rescuer != nil {
		c.rescuer.Stop()
	}
	c.ungauge()
	c.completer.Stop()
	c.releaser.Stop()
	c.registry.Stop()
	if svcErr := <-servicesStopped; svcErr != nil {
		err = errors.Join(err, fmt.Errorf("%w: %v", ErrStopTimeout, svcErr))
	}
	c.cfg.Logger.Info("kiln: stopped", "id", c.cfg.ID)
	return err
}

// isRunning reports whether the client is started.
func (c *Client) isRunning() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.running
}

// producerList returns the producers of the last Start; they stay valid
// after Stop, idle.
func (c *Client) producerList() []*producer.Producer {
	c.mu.RLock()
	defer c.mu.RUnlock()
	list := make([]*producer.Producer, 0, len(c.producers))
	for _, p := range c.producers {
		list = append(list, p)
	}
	return list
}

func (c *Client) cancelAll() {
	for _, p := range c.producerList() {
		p.CancelAll(jobexec.ErrShutdown)
	}
}

func (c *Client) waitJobs(ctx context.Context) error {
	for _, p := range c.producerList() {
		if err := p.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// releaseStuck puts back the jobs of workers that ignored cancellation.
func (c *Client) releaseStuck() error {
	var params []*store.JobFinishParams
	for _, p := range c.producerList() {
		for _, row := range p.Running() {
			now := c.now()
			params = append(params, &store.JobFinishParams{
				ID: row.ID, LeasedBy: c.cfg.ID, AttemptedAt: *row.AttemptedAt, State: JobStateAvailable,
				ScheduledAt: now, UndoAttempt: true, Now: now,
				Attempt: JobAttempt{
					JobID: row.ID, Attempt: row.Attempt, StartedAt: *row.AttemptedAt, FinishedAt: &now,
					Server: c.cfg.ID, Outcome: AttemptInterrupted,
					Error: "interrupted by shutdown: worker did not return after its context was cancelled",
				},
			})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.cfg.Store.JobFinishMany(ctx, params); err != nil {
		return fmt.Errorf("%w (%d jobs; giving them back failed too, their leases will expire: %v)", ErrStopTimeout, len(params), err)
	}
	return fmt.Errorf("%w (%d jobs given back)", ErrStopTimeout, len(params))
}

// runningJobs lists the jobs this process holds, for the heartbeat.
func (c *Client) runningJobs() []*JobRow {
	var rows []*JobRow
	for _, p := range c.producerList() {
		rows = append(rows, p.Running()...)
	}
	return rows
}

// finishingLocal reports whether job id's worker returned in this process:
// its outcome is being written, or was written since the heartbeat listed
// the job (no producer holds it any more).
func (c *Client) finishingLocal(id int64) bool {
	for _, p := range c.producerList() {
		if held, finishing := p.Holds(id); held {
			return finishing
		}
	}
	return true
}

// cancelLocal cancels job id's context if it runs in this process.
func (c *Client) cancelLocal(id int64, cause error) {
	for _, p := range c.producerList() {
		if p.CancelJob(id, cause) {
			return
		}
	}
}

func (c *Client) onStart(row *JobRow) {
	if !c.events.wanted(EventJobStarted) {
		return
	}
	ev := new(eventStorage)
	ev.row = *row
	ev.Event = Event{Kind: EventJobStarted, At: c.now(), Job: &ev.row}
	c.events.emit(&ev.Event)
}

// eventStorage is an Event with the storage its Job points to: one
// allocation per event instead of two. A finish's Attempt (and the
// FinalizedAt of its Job) point into the params of the finish, which
// nothing changes once written: copied here, the attempt took the event
// from 448 bytes to 576.
type eventStorage struct {
	Event
	row kilntype.JobRow
}

// finishEvent returns the event of the state a job's attempt ended in ("" for
// a state no attempt ends in).
func finishEvent(state JobState) EventKind {
	switch state {
	case JobStateCompleted:
		return EventJobCompleted
	case JobStateRetryable:
		return EventJobFailed
	case JobStateDiscarded:
		return EventJobDiscarded
	case JobStateCancelled:
		return EventJobCancelled
	case JobStateScheduled:
		return EventJobSnoozed
	case JobStateAvailable:
		return EventJobInterrupted
	}
	return ""
}

func (c *Client) onFinish(row *JobRow, p *store.JobFinishParams) {
	defer c.releaseWaiting(row, p)
	kind := finishEvent(p.State)
	if !c.events.wanted(kind) {
		return
	}
	ev := new(eventStorage)
	ev.row = *row
	r := &ev.row
	r.State, r.LeasedBy, r.LeaseExpiresAt, r.CancelRequestedAt = p.State, "", nil, nil
	if p.UndoAttempt {
		r.Attempt--
	}
	if p.State.Finalized() {
		r.FinalizedAt = &p.Now
	} else {
		r.ScheduledAt = p.ScheduledAt
	}
	if p.Attempt.Error != "" {
		r.LastError = p.Attempt.Error
	}
	ev.Event = Event{Kind: kind, At: p.Now, Job: r, Attempt: &p.Attempt}
	c.events.emit(&ev.Event)
}

func (c *Client) onRescued(rows []*JobRow) {
	now := c.now()
	for _, r := range rows {
		c.events.emit(&Event{Kind: EventJobRescued, At: now, Job: r})
	}
}

// wakeRecurring makes this process's recurring scheduler, if it runs one,
// look at the entries at once.
func (c *Client) wakeRecurring() {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.scheduler != nil {
		c.scheduler.Wake()
	}
}

// wake makes the fetchers of the given queues look for jobs at once.
func (c *Client) wake(queues ...string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	c.wakeLocked(queues)
}

// wakeInserted makes the fetchers of queues look for the available jobs
// that this client just stored with the store's JobInsertMany, unless this
// client's notifier is listening: JobInsertMany then sends an insert
// notification per queue once the jobs are committed
// (store.TopicInsert), which reaches the notifier and wakes the same
// fetchers. Waking them here as well would make each fetcher claim twice
// for one enqueue, the second claim finding nothing; on PostgreSQL an
// empty claim still reads its index range, the dead entries of the jobs
// that ran since the last VACUUM included, and a job enqueued while it
// runs waits for it (issue 11). A notifier that is not listening (before
// its subscription, while its connection is restored, or a store without
// notifications) leaves the wake to this call.
func (c *Client) wakeInserted(queues ...string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.listener.Listening() {
		return
	}
	c.wakeLocked(queues)
}

// wakeLocked is wake with c.mu held.
func (c *Client) wakeLocked(queues []string) {
	for _, q := range queues {
		if p, ok := c.producers[q]; ok {
			p.Wake()
		}
	}
}

// Enqueue stores one job and returns it. args are encoded to JSON now;
// opts may be nil. It returns an error, and stores nothing, if the kind has
// no worker in this client's Workers (ErrUnknownKind), if args do not
// encode, exceed Config.MaxArgsBytes, do not decode into the worker's args
// type (RawArgs with an unknown field or a value of the wrong type) or fail
// their Validate (JobArgsWithValidate), or if an option is out of range or
// holds text no store keeps (NUL, invalid UTF-8); such errors name the kind
// and wrap a *ValidationError naming the field. With
// Unique options, a matching unfinished job is returned instead, with
// UniqueSkipped set. In this process the job's queue is woken at once (by
// the store's insert notification when the client listens to it, else by
// the enqueue itself).
func (c *Client) Enqueue(ctx context.Context, args JobArgs, opts *EnqueueOpts) (*EnqueueResult, error) {
	res, err := c.EnqueueMany(ctx, []EnqueueParams{{Args: args, Opts: opts}})
	if err != nil {
		return nil, err
	}
	return res[0], nil
}

// EnqueueMany stores many jobs in one transaction: all or none. It returns
// one result per param, in order. Errors are as Enqueue's, naming the index
// of the faulty param.
func (c *Client) EnqueueMany(ctx context.Context, params []EnqueueParams) ([]*EnqueueResult, error) {
	return c.enqueue(ctx, params, c.cfg.Store.JobInsertMany)
}

// enqueue validates params, inserts them with insert, and wakes the local
// producers of their queues.
func (c *Client) enqueue(ctx context.Context, params []EnqueueParams,
	insert func(context.Context, []*store.JobInsertParams) ([]store.JobInsertResult, error)) ([]*EnqueueResult, error) {
	if len(params) == 0 {
		return nil, nil
	}
	now := c.now()
	ins := make([]*store.JobInsertParams, len(params))
	for i, p := range params {
		var err error
		if ins[i], err = c.insertParams(p, now); err != nil {
			if len(params) == 1 {
				return nil, fmt.Errorf("kiln: enqueue: %w", err)
			}
			return nil, fmt.Errorf("kiln: enqueue job %d: %w", i, err)
		}
	}
	ctx, spans := c.tel.StartEnqueue(ctx, ins)
	results, err := insert(ctx, ins)
	spans.End(results, err)
	if err != nil {
		return nil, fmt.Errorf("kiln: enqueue %d jobs: %w", len(ins), err)
	}
	out := make([]*EnqueueResult, len(results))
	var queues []string
	for i, r := range results {
		c.reveal(r.Job, 0)
		out[i] = &EnqueueResult{Job: r.Job, UniqueSkipped: r.UniqueSkipped, UniqueReplaced: r.UniqueReplaced}
		if (!r.UniqueSkipped || r.UniqueReplaced) && r.Job.State == kilntype.JobStateAvailable && !slices.Contains(queues, r.Job.Queue) {
			queues = append(queues, r.Job.Queue)
		}
	}
	c.wakeInserted(queues...)
	if _, ok := ActorFrom(ctx); ok {
		rows := make([]*JobRow, 0, len(results))
		for _, r := range results {
			if !r.UniqueSkipped {
				rows = append(rows, r.Job)
			}
		}
		if len(rows) > 0 {
			target, d := enqueueDetail(rows, "")
			c.audit(ctx, AuditJobEnqueue, target, d)
		}
	}
	return out, nil
}

// enqueueRole is what an enqueue makes of its job: a plain job (or
// continuation), a batch's job, or a batch's callback. The options a
// batch sets itself are refused for its jobs.
type enqueueRole int

const (
	roleJob enqueueRole = iota
	roleBatchJob
	roleBatchCallback
)

// insertParams validates one enqueue and turns it into a store insert.
// Errors caused by the caller's input wrap a *ValidationError.
func (c *Client) insertParams(p EnqueueParams, now time.Time) (*store.JobInsertParams, error) {
	return c.insertParamsAs(p, now, roleJob)
}

// checkRole refuses the options, merged with the args' own, that a batch
// overrides or cannot keep for a job of role.
func checkRole(opts *EnqueueOpts, role enqueueRole) error {
	switch role {
	case roleBatchJob:
		if opts.Unique != nil {
			return invalid("unique", "a batch's job cannot be unique: a duplicate would not be inserted, so not be in the batch, yet the batch's callback would wait for the job that holds the key")
		}
	case roleBatchCallback:
		switch {
		case opts.Unique != nil:
			return invalid("unique", "a batch callback cannot be unique: a duplicate would not be inserted, and the batch would have no callback")
		case !opts.RunAt.IsZero():
			return invalid("run_at", "a batch callback runs when its batch ends; RunAt and RunIn are not allowed in CallbackOpts")
		case opts.RunIn != 0:
			return invalid("run_in", "a batch callback runs when its batch ends; RunAt and RunIn are not allowed in CallbackOpts")
		case len(opts.Parents) > 0:
			return invalid("parents", "a batch callback's parents are its batch's jobs; Parents is not allowed in CallbackOpts")
		case opts.ParentFailure != "":
			return invalid("parent_failure", "a batch callback runs whatever its batch's outcome; ParentFailure is not allowed in CallbackOpts")
		}
	}
	return nil
}

// insertParamsAs is insertParams for a job of role.
func (c *Client) insertParamsAs(p EnqueueParams, now time.Time, role enqueueRole) (*store.JobInsertParams, error) {
	if p.Args == nil {
		return nil, invalid("args", "nil args")
	}
	kind := p.Args.Kind()
	if kind == "" {
		return nil, invalid("kind", "args type %T has an empty Kind()", p.Args)
	}
	if err := validateKind(kind); err != nil {
		return nil, err
	}
	var opts EnqueueOpts
	if p.Opts != nil {
		opts = *p.Opts
	}
	if a, ok := p.Args.(JobArgsWithEnqueueOpts); ok {
		opts = opts.merge(a.EnqueueOpts())
	}
	if a, ok := p.Args.(Partitioner); ok && opts.Partition == "" {
		opts.Partition = a.Partition()
	}
	if c.cfg.Workers != nil {
		e, ok := c.cfg.Workers.entry(kind)
		if !ok {
			return nil, &ValidationError{Field: "kind",
				Err: fmt.Errorf("%w %q: no worker registered for it (kinds: %v)", ErrUnknownKind, kind, c.cfg.Workers.Kinds())}
		}
		opts = opts.merge(EnqueueOpts{MaxAttempts: e.maxAttempts()})
	}
	opts = opts.merge(EnqueueOpts{Queue: QueueDefault, Priority: PriorityDefault, MaxAttempts: c.cfg.MaxAttempts})

	fail := func(err error) (*store.JobInsertParams, error) { return nil, fmt.Errorf("kind %q: %w", kind, err) }
	if err := validateOpts(&opts); err != nil {
		return fail(err)
	}
	if err := checkRole(&opts, role); err != nil {
		return fail(err)
	}
	args, err := json.Marshal(p.Args)
	if err != nil {
		return fail(&ValidationError{Field: "args", Message: "do not encode to JSON", Err: err})
	}
	if len(args) > c.cfg.MaxArgsBytes {
		return fail(invalid("args", "%d bytes of JSON; at most %d (Config.MaxArgsBytes)", len(args), c.cfg.MaxArgsBytes))
	}
	opts.Parents = uniqueIDs(opts.Parents)
	if len(opts.Parents) > 0 {
		if !opts.RunAt.IsZero() || opts.RunIn != 0 {
			return fail(invalid("parents", "a continuation runs when its parents end; RunAt and RunIn are not allowed with Parents"))
		}
		if opts.ParentFailure == "" {
			opts.ParentFailure = ParentFailureCancel
		}
		if !opts.ParentFailure.Valid() {
			return fail(invalid("parent_failure", "unknown parent failure policy %q (want cancel or run)", opts.ParentFailure))
		}
	}
	metadata := []byte("{}")
	if len(opts.Metadata) > 0 {
		metadata, _ = json.Marshal(opts.Metadata) // a map[string]string always encodes
		if len(metadata) > c.cfg.MaxArgsBytes {
			return fail(invalid("metadata", "%d bytes of JSON; at most %d (Config.MaxArgsBytes)", len(metadata), c.cfg.MaxArgsBytes))
		}
	}
	ip := &store.JobInsertParams{
		Kind: kind, Queue: opts.Queue, Args: args, Priority: opts.Priority, MaxAttempts: opts.MaxAttempts,
		State: JobStateAvailable, ScheduledAt: now, CreatedAt: now, Tags: opts.Tags, Metadata: metadata,
		Partition: opts.Partition,
	}
	runAt := opts.RunAt
	if runAt.IsZero() && opts.RunIn > 0 {
		runAt = now.Add(opts.RunIn)
	}
	if runAt.After(now) {
		ip.State, ip.ScheduledAt = kilntype.JobStateScheduled, runAt.UTC().Truncate(time.Microsecond)
	}
	if opts.Unique != nil {
		h := sha256.New()
		if c.cfg.Encryptor != nil {
			h = c.cfg.Encryptor.hash()
		}
		ip.UniqueKey = opts.Unique.uniqueKey(h, kind, args, opts.Queue, now)
		if err := opts.Unique.check(len(opts.Parents) > 0); err != nil {
			return fail(err)
		}
		ip.UniqueReplace = store.UniqueReplace{Args: opts.Unique.Replace.Args, Schedule: opts.Unique.Replace.Schedule}
	}
	if len(opts.Parents) > 0 {
		ip.State, ip.ParentIDs, ip.ParentFailure = kilntype.JobStatePending, opts.Parents, opts.ParentFailure
		ip.Metadata = withMetadata(ip.Metadata, MetadataParentIDs, opts.Parents)
	}
	// What every store must keep exactly (ranges, text, JSON), then the
	// args against their kind's worker.
	if err := store.ValidateJobInsert(ip); err != nil {
		return fail(err)
	}
	if err := c.checkArgs(kind, p.Args, args); err != nil {
		return fail(err)
	}
	if hasEncKey(args) {
		return fail(invalid("args", "the top-level key %q is reserved for encrypted args; rename it", encKey))
	}
	if c.cfg.Encryptor != nil {
		if ip.Args, err = c.cfg.Encryptor.encrypt(kind, args); err != nil {
			return fail(err)
		}
	}
	return ip, nil
}
