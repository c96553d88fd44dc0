package kiln

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/jobreport"
	"github.com/kilnjobs/kiln/store"
)

// Worker runs jobs of one args type. Embed [WorkerDefaults] to get the
// optional settings, and override the ones you need. A worker is shared by
// every job of its kind and called from many goroutines at once: it holds
// its dependencies (as Hangfire injects them through constructors) and must
// be safe for concurrent use.
//
// Work must honour ctx: it is cancelled when the job times out, when the job
// is cancelled (from any process), when the client stops, and when this
// process lost the job's lease; context.Cause(ctx) is then ErrJobTimeout,
// ErrJobCancelRequested, ErrShutdown or ErrLeaseLost. A Work that ignores
// ctx delays shutdown and cannot be cancelled.
type Worker[T JobArgs] interface {
	// Work runs one attempt. nil completes the job; an error fails the
	// attempt (retried with backoff until MaxAttempts, then discarded);
	// JobCancel and JobSnooze errors cancel or postpone it; a panic is
	// recovered and recorded as a failed attempt with its stack.
	Work(ctx context.Context, job *Job[T]) error
	// Timeout bounds one attempt: 0 means Config.JobTimeout, negative means
	// no timeout.
	Timeout(job *Job[T]) time.Duration
	// Backoff is the wait after failed attempt job.Attempt before the next
	// one: 0 means the client's RetryPolicy.
	Backoff(job *Job[T]) time.Duration
	// MaxAttempts is the default attempt count of jobs of this kind enqueued
	// through a client that has this worker: 0 means Config.MaxAttempts.
	MaxAttempts() int
	// MaxConcurrency caps how many jobs of this kind run at once in one
	// process, across queues (Rystem's WithMaxParallelism): 0 means no cap.
	MaxConcurrency() int
	// ClusterMaxConcurrency caps how many jobs of this kind run at once
	// across every process sharing the store, in any queue: 0 means no cap.
	// A process claims such jobs only while fewer run anywhere (counted by
	// the store at each claim, and claims of the kind are serialized), so
	// the cap holds even as processes come and go; a job whose process died
	// keeps its slot until it is rescued (LeaseDuration). Each process
	// running the kind should return the same value.
	ClusterMaxConcurrency() int
}

// WorkerWithPartitionLimit is implemented by workers that cap how many
// jobs of their kind with the same partition key (JobRow.Partition, set by
// EnqueueOpts.Partition or the args' Partitioner) run at once across every
// process sharing the store, in any queue: River Pro's partitioned
// concurrency, Sidekiq Enterprise's per-key limiters. A claim takes no job
// of a key that has that many running anywhere (counted by the store at
// each claim; claims of the kind are serialized, as with
// ClusterMaxConcurrency), and visits the keys in rotation, as
// WorkerWithFairPartitions, so that one key's backlog never stalls the
// others. Jobs without a key are not capped. A job whose process died
// keeps its key's slot until it is rescued (LeaseDuration). Each process
// running the kind should return the same value; 0 means no cap. See
// docs/flow-control.md.
type WorkerWithPartitionLimit interface {
	PartitionMaxConcurrency() int
}

// WorkerWithFairPartitions is implemented by workers whose kind is
// claimed fairly between partition keys (Temporal's fairness keys, BullMQ
// groups): when PartitionFair returns true, a claim visits the keys that
// have available jobs of the kind in rotation, one job per key per
// rotation, rather than taking the oldest jobs first. A key with a due job
// then waits at most ceil(E / M) claims of a process, where E is the
// number of keys with due jobs and M the jobs a claim takes, however many
// jobs the other keys have queued; no worker idles while a key has a due
// job (work-conserving). Priorities order the jobs within a key only. See
// docs/flow-control.md.
type WorkerWithFairPartitions interface {
	PartitionFair() bool
}

// WorkerDefaults gives a Worker the default settings. Embed it and define
// only Work.
type WorkerDefaults[T JobArgs] struct{}

// Timeout returns 0: the client's JobTimeout.
func (WorkerDefaults[T]) Timeout(*Job[T]) time.Duration { return 0 }

// Backoff returns 0: the client's RetryPolicy.
func (WorkerDefaults[T]) Backoff(*Job[T]) time.Duration { return 0 }

// MaxAttempts returns 0: the client's MaxAttempts.
func (WorkerDefaults[T]) MaxAttempts() int { return 0 }

// MaxConcurrency returns 0: no cap.
func (WorkerDefaults[T]) MaxConcurrency() int { return 0 }

// ClusterMaxConcurrency returns 0: no cap.
func (WorkerDefaults[T]) ClusterMaxConcurrency() int { return 0 }

// WorkFunc adapts a function to a Worker with default settings.
func WorkFunc[T JobArgs](fn func(ctx context.Context, job *Job[T]) error) Worker[T] {
	return &funcWorker[T]{fn: fn}
}

type funcWorker[T JobArgs] struct {
	WorkerDefaults[T]
	fn func(ctx context.Context, job *Job[T]) error
}

func (w *funcWorker[T]) Work(ctx context.Context, job *Job[T]) error { return w.fn(ctx, job) }

// Workers is a bundle of workers, one per kind, to give to a Client. It is
// safe for concurrent use, but add every worker before the client starts.
type Workers struct {
	mu     sync.RWMutex // guards byKind
	byKind map[string]workerEntry
}

// workerEntry is the untyped face of a registered Worker[T].
type workerEntry interface {
	// unit binds row to the worker; its job records no progress or logs.
	unit(row *JobRow) jobexec.WorkUnit
	// reportingUnit is unit whose job records its progress and log lines
	// with a Reporter of report (nil: none) and reads outputs through env
	// (nil: none).
	reportingUnit(row *JobRow, report *jobreport.Config, env *jobEnv) jobexec.WorkUnit
	maxAttempts() int
	maxConcurrency() int
	clusterMaxConcurrency() int
	// rateLimit is the worker's RateLimiter default (zero: none).
	rateLimit() RateLimit
	// keyRateLimit is the worker's WorkerWithPartitionRateLimit default
	// (zero: none).
	keyRateLimit() RateLimit
	// partitioned returns how the kind is claimed by partition key, and
	// false when it is claimed as usual.
	partitioned() (store.PartitionClaim, bool)
	// checkArgs checks args of the kind, encoded as raw: decoded into the
	// worker's args type unless they are of that type, and validated.
	checkArgs(args JobArgs, raw []byte) error
	// argsType is the worker's args type T.
	argsType() reflect.Type
}

// NewWorkers returns an empty bundle.
func NewWorkers() *Workers { return &Workers{byKind: make(map[string]workerEntry)} }

// AddWorker registers w for the kind of T. It panics if the kind is empty or
// already has a worker, as http.Handle panics on a duplicate pattern: both
// are programming errors. Use AddWorkerSafely to get an error instead.
func AddWorker[T JobArgs](workers *Workers, w Worker[T]) {
	if err := AddWorkerSafely(workers, w); err != nil {
		panic(err)
	}
}

// AddWorkerSafely registers w for the kind of T, or returns an error if the
// kind is invalid (empty, over 255 bytes, not UTF-8 text without control
// characters) or already has a worker, or if w's MaxAttempts is outside 0
// to MaxAttemptsLimit or its MaxConcurrency or ClusterMaxConcurrency is
// outside 0 to 2,147,483,647, or, for a RateLimiter, its RateLimit (for a
// WorkerWithPartitionRateLimit, its PartitionRateLimit) is not valid
// (RateLimit.Validate). Out-of-range errors wrap a *ValidationError.
func AddWorkerSafely[T JobArgs](workers *Workers, w Worker[T]) error {
	var zero T
	kind := zero.Kind()
	if kind == "" {
		return fmt.Errorf("kiln: add worker %T: args type %T has an empty Kind()", w, zero)
	}
	if err := validateKind(kind); err != nil {
		return fmt.Errorf("kiln: add worker %T: args type %T: %w", w, zero, err)
	}
	for _, s := range []struct {
		field string
		n     int
	}{
		{"MaxAttempts", w.MaxAttempts()},
		{"MaxConcurrency", w.MaxConcurrency()},
		{"ClusterMaxConcurrency", w.ClusterMaxConcurrency()},
		{"PartitionMaxConcurrency", partitionLimit(w)},
	} {
		if err := store.CheckRange(s.field, int64(s.n), 0, math.MaxInt32); err != nil {
			return fmt.Errorf("kiln: add worker %T for kind %q: %w", w, kind, err)
		}
	}
	if rl, ok := any(w).(RateLimiter); ok {
		if err := rl.RateLimit().Validate(); err != nil {
			return fmt.Errorf("kiln: add worker %T for kind %q: RateLimit: %w", w, kind, err)
		}
	}
	if rl, ok := any(w).(WorkerWithPartitionRateLimit); ok {
		if err := rl.PartitionRateLimit().Validate(); err != nil {
			return fmt.Errorf("kiln: add worker %T for kind %q: PartitionRateLimit: %w", w, kind, err)
		}
	}
	workers.mu.Lock()
	defer workers.mu.Unlock()
	if _, dup := workers.byKind[kind]; dup {
		return fmt.Errorf("kiln: add worker %T: kind %q already has a worker", w, kind)
	}
	workers.byKind[kind] = &typedEntry[T]{worker: w, emptyIsZero: emptyArgsDecodeToZero(reflect.TypeFor[T]()),
		plain: plainArgsType(reflect.TypeFor[T]())}
	return nil
}

// Kinds returns the registered kinds, sorted.
func (ws *Workers) Kinds() []string {
	if ws == nil {
		return nil
	}
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	kinds := make([]string, 0, len(ws.byKind))
	for k := range ws.byKind {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

func (ws *Workers) entry(kind string) (workerEntry, bool) {
	if ws == nil {
		return nil, false
	}
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	e, ok := ws.byKind[kind]
	return e, ok
}

// unitFor returns row's WorkUnit, whose Job reports to a Reporter made
// with report (nil: none) and reads outputs through env (nil: none), or
// false if no worker handles its kind.
func (ws *Workers) unitFor(row *JobRow, report *jobreport.Config, env *jobEnv) (jobexec.WorkUnit, bool) {
	e, ok := ws.entry(row.Kind)
	if !ok {
		return nil, false
	}
	return e.reportingUnit(row, report, env), true
}

// jobUnits is the jobexec.UnitFactory of a started client: the Workers'
// units, each job with a Reporter writing to the client's store, and its
// args decrypted when they are encrypted.
type jobUnits struct {
	workers   *Workers
	report    *jobreport.Config
	encryptor *Encryptor // nil without Config.Encryptor
	env       *jobEnv
}

func (u *jobUnits) Unit(row *JobRow) (jobexec.WorkUnit, bool) {
	env := openEnvelope(row.Args)
	if env == nil {
		return u.workers.unitFor(row, u.report, u.env)
	}
	// The worker gets a copy of the row with the plain args; the engine
	// keeps the stored row.
	plain, err := u.encryptor.decrypt(row.Kind, env)
	r := *row
	if err == nil {
		r.Args, r.ArgsBytes = plain, len(plain)
	}
	unit, ok := u.workers.unitFor(&r, u.report, u.env)
	if ok && err != nil {
		unit = &undecryptableUnit{WorkUnit: unit, err: err}
	}
	return unit, ok
}

// undecryptableUnit is the unit of a job whose args do not decrypt: its
// Decode fails with why, so the worker is never called.
type undecryptableUnit struct {
	jobexec.WorkUnit
	err error
}

func (u *undecryptableUnit) Decode() error { return u.err }

type typedEntry[T JobArgs] struct {
	worker Worker[T]
	// emptyIsZero: args {} decode to T's zero value (emptyArgsDecodeToZero).
	emptyIsZero bool
	// plain: no type in T's tree has an unmarshal method (plainArgsType):
	// its args are decoded by go-json first (decodeArgs).
	plain bool
}

// emptyArgsDecodeToZero reports whether encoding/json decodes the args {}
// into a zero t as nothing at all: t is a struct type, and neither t nor
// *t implements json.Unmarshaler (its UnmarshalJSON would be called) or
// encoding.TextUnmarshaler (an object is then an error). A map, for one,
// is made by the decode.
func emptyArgsDecodeToZero(t reflect.Type) bool {
	if t.Kind() != reflect.Struct {
		return false
	}
	for _, u := range []reflect.Type{reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler]()} {
		if t.Implements(u) || reflect.PointerTo(t).Implements(u) {
			return false
		}
	}
	return true
}

func (e *typedEntry[T]) unit(row *JobRow) jobexec.WorkUnit {
	return e.reportingUnit(row, nil, nil)
}

func (e *typedEntry[T]) reportingUnit(row *JobRow, report *jobreport.Config, env *jobEnv) jobexec.WorkUnit {
	u := &workUnit[T]{worker: e.worker, job: Job[T]{JobRow: row, env: env}, emptyIsZero: e.emptyIsZero, plain: e.plain}
	u.job.report = u.reporter.Init(report, row)
	return u
}
func (e *typedEntry[T]) maxAttempts() int    { return e.worker.MaxAttempts() }
func (e *typedEntry[T]) maxConcurrency() int { return e.worker.MaxConcurrency() }
func (e *typedEntry[T]) clusterMaxConcurrency() int {
	return e.worker.ClusterMaxConcurrency()
}

func (e *typedEntry[T]) rateLimit() RateLimit {
	if rl, ok := e.worker.(RateLimiter); ok {
		return rl.RateLimit()
	}
	return RateLimit{}
}

func (e *typedEntry[T]) keyRateLimit() RateLimit {
	if rl, ok := e.worker.(WorkerWithPartitionRateLimit); ok {
		return rl.PartitionRateLimit()
	}
	return RateLimit{}
}

func (e *typedEntry[T]) partitioned() (store.PartitionClaim, bool) {
	n := partitionLimit(e.worker)
	fair, _ := any(e.worker).(WorkerWithFairPartitions)
	return store.PartitionClaim{MaxRunning: n}, n > 0 || (fair != nil && fair.PartitionFair())
}

// partitionLimit returns w's PartitionMaxConcurrency, or 0 without one.
func partitionLimit(w any) int {
	if l, ok := w.(WorkerWithPartitionLimit); ok {
		return l.PartitionMaxConcurrency()
	}
	return 0
}

func (e *typedEntry[T]) argsType() reflect.Type { return reflect.TypeFor[T]() }

func (e *typedEntry[T]) checkArgs(args JobArgs, raw []byte) error {
	v, ok := args.(T)
	if !ok {
		if err := decodeArgsStrict(args.Kind(), raw, &v); err != nil {
			return err
		}
	}
	if val, ok := any(v).(interface{ Validate() error }); ok {
		return argsValidateError(val.Validate())
	}
	if val, ok := any(&v).(interface{ Validate() error }); ok {
		return argsValidateError(val.Validate())
	}
	return nil
}

// workUnit binds one job to its typed worker. The job and its reporter
// are fields, not pointers, so that a unit is one allocation per job.
type workUnit[T JobArgs] struct {
	worker   Worker[T]
	job      Job[T]
	reporter jobreport.Lazy // job.report points to it, if it reports
	// emptyIsZero: args {} leave job.Args as they are, its zero value
	// (typedEntry.emptyIsZero).
	emptyIsZero bool
	plain       bool // typedEntry.plain
}

// Decode decodes the job's args into job.Args, with encoding/json's
// results: through decodeArgs for a type without unmarshal methods
// (plainArgsType), with encoding/json itself for the others. Args {} of a
// type that they decode into as nothing at all are not decoded: the same
// zero value, without a decoder's work.
func (u *workUnit[T]) Decode() error {
	if u.emptyIsZero && string(u.job.JobRow.Args) == "{}" {
		return nil
	}
	if u.plain {
		return decodeArgs(u.job.JobRow.Args, &u.job.Args)
	}
	return json.Unmarshal(u.job.JobRow.Args, &u.job.Args)
}

// Work runs the worker, then writes the job's last reports (the lease is
// still held: the outcome is written after).
func (u *workUnit[T]) Work(ctx context.Context) error {
	defer u.job.report.Close(ctx)
	return u.worker.Work(ctx, &u.job)
}

func (u *workUnit[T]) Timeout() time.Duration { return u.worker.Timeout(&u.job) }
func (u *workUnit[T]) Backoff() time.Duration { return u.worker.Backoff(&u.job) }

// Output is what the job recorded with SetOutput (jobexec.OutputUnit).
func (u *workUnit[T]) Output() json.RawMessage { return u.job.storedOutput() }
