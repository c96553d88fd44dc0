package kiln

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/kilnjobs/kiln/store"
)

// Config configures a Client. Only Store is required; every other field's
// zero value means the documented default. A Config must not be changed
// after it is passed to NewClient.
type Config struct {
	// Store is where jobs are kept (store/sqlite or store/postgres).
	// Required. The client does not close it.
	Store store.Store

	// Workers are the workers this process runs. Nil makes an enqueue-only
	// client, which can enqueue any kind but never claims a job; it can
	// Start only to run HostedServices. With Workers, an
	// enqueue of a kind that has no worker fails with ErrUnknownKind.
	Workers *Workers
	// Queues maps queue names to their settings; the process runs only these
	// queues. Default: {"default": {MaxWorkers: 100}}, or {"default": {}}
	// with MaxWorkers. A client without workers (Workers nil or empty) runs
	// no queue and never claims a job, whatever Queues says.
	Queues map[string]QueueConfig
	// MaxWorkers, if set, is a pool of worker slots (1 to 10,000) that the
	// queues of this process share: at most MaxWorkers jobs run at once
	// across Queues, each queue also bounded by its own
	// QueueConfig.MaxWorkers (default: the whole pool). When several queues
	// have waiting jobs and the pool is full, each slot that frees up goes to
	// one of them by QueueConfig.Weight (smooth weighted round robin: weights
	// 6/3/1 get 6, 3 and 1 of every 10 slots, evenly spread, so no queue
	// with a weight is starved), or by strict order (StrictPriority). A
	// queue with no waiting job gets no slot: the others use its share
	// (work-conserving), and it gets its share back, as slots free up, once
	// it has jobs. Running jobs are never stopped for another queue's.
	// Default 0: no pool, each queue has its own QueueConfig.MaxWorkers
	// slots (the behaviour before pools). See docs/flow-control.md, "Queue
	// weights".
	MaxWorkers int
	// StrictPriority serves the queues of the MaxWorkers pool in order of
	// QueueConfig.Weight, highest first, instead of sharing by weight (as
	// Asynq's StrictPriority): a slot that frees up goes to a lower queue
	// only when every higher one has no due job (its last claim came back
	// short) or runs its own MaxWorkers. Queues of equal weight share by
	// round robin. Requires MaxWorkers.
	StrictPriority bool
	// StrictKinds makes this process claim jobs of any kind and fail those
	// it has no worker for ("no worker for kind X"), retried as any failure.
	// By default such jobs stay available for a process that has a worker.
	StrictKinds bool

	// ID names this process in leases and attempt records; it must be unique
	// among the processes sharing the store, and UTF-8 without NUL.
	// Default: host-pid-random.
	ID string
	// Logger receives the client's logs. Default: slog.Default().
	Logger *slog.Logger
	// Clock is read for every stored time, except lease ends and leader
	// terms on a PostgreSQL store, which come from the database's clock
	// (see Clock). Default: the system clock (UTC).
	Clock Clock

	// JobTimeout bounds each attempt unless its worker says otherwise:
	// default 1 minute (River's); negative means no timeout.
	JobTimeout time.Duration
	// MaxAttempts is the default attempt count: default DefaultMaxAttempts;
	// at most MaxAttemptsLimit.
	MaxAttempts int
	// MaxArgsBytes caps the size of a job's args encoded as JSON, and of
	// its metadata, in bytes: a larger enqueue (through Enqueue, the HTTP
	// API, the CLI, the dashboard or a recurring entry) fails with a
	// *ValidationError for "args" or "metadata", before anything is
	// stored. Default DefaultMaxArgsBytes (1 MiB). Large payloads belong
	// in your own storage, with their key in the args.
	MaxArgsBytes int
	// MaxOutputBytes caps the size of a job's output (Job.SetOutput)
	// encoded as JSON, in bytes: a larger one is refused with an error
	// wrapping ErrOutputTooLarge, returned to the worker. Default
	// DefaultMaxOutputBytes (32 KiB); outputs are read back whole by
	// JobGet and by continuations, so keep large results in your own
	// storage, with their key in the output.
	MaxOutputBytes int
	// RetryPolicy gives the backoff between attempts: default
	// DefaultRetryPolicy (Sidekiq's formula).
	RetryPolicy RetryPolicy
	// Encryptor, if set, encrypts the args of every job this client
	// enqueues (AES-256-GCM; see Encryptor and docs/encryption.md), and
	// decrypts the args of the jobs it runs and reads (JobGet, JobList, the
	// dashboard and the HTTP API mounted on it). Without it, encrypted args
	// read back redacted, and a job with encrypted args that this process
	// claims fails its attempt with ErrArgsKeyMissing and stays retryable.
	// Default nil: args are stored as plain JSON.
	Encryptor *Encryptor

	// LeaseDuration is how long a running job's lease lasts without a
	// heartbeat; it is renewed every third of it. After a process dies, its
	// jobs are rescued, by any other process with maintenance enabled, at
	// most LeaseDuration + RescueInterval after its last renewal (so after
	// its death), whether or not it was the maintenance leader. Default
	// 20 s (so rescue within 25 s); minimum 1 s.
	LeaseDuration time.Duration
	// FetchPollInterval is how often each queue looks for due jobs when
	// nothing wakes it (an enqueue in this process, or in any process on a
	// store that sends notifications such as PostgreSQL, wakes it at once).
	// Default 200 ms; minimum 1 ms.
	FetchPollInterval time.Duration
	// CancelPollInterval is how often a process with running jobs reads
	// cancel requests made by other processes. Default 500 ms.
	CancelPollInterval time.Duration

	// Recurring are recurring entries defined in code: Start stores each
	// one with add-or-update semantics (changing the code changes the entry;
	// its paused state and history are kept).
	Recurring []RecurringJob
	// PruneRecurring makes Start delete stored recurring entries that are
	// not in Recurring (entries defined at run time included).
	PruneRecurring bool
	// RecurringPollInterval bounds how long the recurring scheduler sleeps:
	// it wakes at the next due occurrence and on changes made through this
	// client, and at least this often to see changes made by other
	// processes. Default 1 s.
	RecurringPollInterval time.Duration
	// MisfireThreshold is how late the scheduler may see an occurrence and
	// still run it as on time; older occurrences were missed (no scheduler
	// ran) and follow the entry's misfire policy. Default 1 min (Quartz's
	// misfireThreshold).
	MisfireThreshold time.Duration

	// HostedServices are long-running loops this process supervises next to
	// its jobs (see HostedService). A client with hosted services and no
	// Workers can Start: it runs only the services, and claims no job.
	HostedServices []HostedService

	// DisableMaintenance keeps this process out of leader election, so it
	// never runs the leader's services (the promoter, cleaner and
	// recurring scheduler, ...), and from rescuing expired
	// leases, which every other process does. Another process must.
	DisableMaintenance bool
	// LeaderTTL is the term of the maintenance leader; a dead leader is
	// replaced within it. Default 10 s.
	LeaderTTL time.Duration
	// ScheduleInterval is how often due scheduled and retryable jobs are
	// marked available. Default 1 s.
	ScheduleInterval time.Duration
	// RescueInterval is how often each process (not only the leader) looks
	// for expired leases and takes their jobs back. Default 5 s.
	RescueInterval time.Duration
	// CleanInterval is how often old finished jobs are deleted. Default 1 min.
	CleanInterval time.Duration
	// CompletedRetention is how long completed jobs are kept: default 24 h,
	// as Hangfire keeps succeeded jobs for a day.
	CompletedRetention time.Duration
	// CancelledRetention is how long cancelled jobs are kept: default 7 days.
	CancelledRetention time.Duration
	// DiscardedRetention is how long discarded jobs are kept: default 7 days.
	// A negative retention (KeepForever) keeps the state's jobs forever.
	DiscardedRetention time.Duration
	// Retention holds retention rules per kind, per queue or per kind and
	// queue (keep completed jobs of kind "email" 1 h, discarded jobs of
	// kind "invoice" forever); a job follows the most specific rule that
	// matches it, else its state's retention above. Rules set at run time
	// (Client.RetentionSet) win over these. At most one rule per state,
	// kind and queue. Nil: none.
	Retention []RetentionRule
	// AuditRetention is how long entries of the audit log (Client.AuditList)
	// are kept: the maintenance leader's cleaner deletes older ones.
	// Default DefaultAuditRetention (90 days); KeepForever (negative)
	// keeps them forever.
	AuditRetention time.Duration
	// BulkRetention is how long a bulk operation (Client.JobBulk) is kept
	// once it ended (completed, cancelled or failed): the maintenance
	// leader's cleaner deletes older ones; interrupted operations stay
	// until resumed or cancelled. Default DefaultBulkRetention (7 days);
	// KeepForever (negative) keeps them forever.
	BulkRetention time.Duration

	// ServerRefreshInterval is how often a started client refreshes its
	// row in the server registry (Client.ServerList): its queues, kinds and
	// busy workers. Default 5 s.
	ServerRefreshInterval time.Duration
	// TracerProvider makes the client's OpenTelemetry spans
	// (docs/observability.md): a producer span for each enqueue, whose W3C
	// trace context is stored in the job's metadata (MetadataTraceParent),
	// and a consumer span around each attempt, which TraceStyle relates to
	// it, in whatever process runs the job. Default: the global provider
	// (otel.GetTracerProvider), read at each use; while none is set, the
	// client makes no spans and allocates nothing for them. Pass a no-op
	// provider (go.opentelemetry.io/otel/trace/noop) for no spans
	// whatever the global provider.
	TracerProvider trace.TracerProvider
	// MeterProvider makes the client's OpenTelemetry metrics (attempt
	// duration and time in queue, and, while the client is started, the
	// store's queue gauges; see docs/observability.md). Default: the
	// global provider (otel.GetMeterProvider), which forwards to one set
	// later with otel.SetMeterProvider.
	MeterProvider metric.MeterProvider
	// TraceStyle is how an attempt's span relates to its enqueue's span:
	// TraceChild (the default), TraceLink or TraceNone.
	TraceStyle TraceStyle
	// TraceStoreCalls adds a span, a trace of its own, around each claim
	// of jobs and each write of attempt outcomes, for debugging latency.
	TraceStoreCalls bool

	// ServerTTL is how long a server may go without a refresh before the
	// maintenance leader removes it from the registry (as Hangfire's
	// ServerTimeout and Sidekiq's process expiry); its running jobs come
	// back through lease expiry (LeaseDuration). Default 1 min; at least
	// twice ServerRefreshInterval.
	ServerTTL time.Duration
}

// QueueConfig configures one queue in one process.
type QueueConfig struct {
	// MaxWorkers is how many jobs of the queue run at once in this process;
	// 1 to 10,000. With a pool (Config.MaxWorkers) it is the queue's own
	// cap within the pool: 0 (the default there) means the whole pool, and
	// a larger value counts as the pool's size.
	MaxWorkers int
	// Weight is the queue's share of the pool (Config.MaxWorkers) when
	// several queues have waiting jobs: a queue of weight 6 beside queues of
	// weights 3 and 1 starts 60% of the jobs while all three have jobs
	// waiting; under Config.StrictPriority it is the queue's priority
	// (highest first). 0 to 1,000,000; 0 means 1. Requires
	// Config.MaxWorkers.
	Weight int
}

// maxQueueWeight bounds QueueConfig.Weight.
const maxQueueWeight = 1_000_000

// withDefaults returns a copy of c with defaults applied, or an error naming
// the first invalid field.
func (c *Config) withDefaults() (*Config, error) {
	if c == nil {
		return nil, errors.New("kiln: nil Config")
	}
	cfg := *c
	if cfg.Store == nil {
		return nil, errors.New("kiln: Config.Store is required")
	}
	if err := cfg.queuesWithDefaults(); err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = defaultID()
	}
	if err := store.CheckText("ID", cfg.ID); err != nil {
		return nil, fmt.Errorf("kiln: Config.%w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = systemClock{}
	}
	defDuration(&cfg.JobTimeout, time.Minute)
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.MaxAttempts < 1 || cfg.MaxAttempts > MaxAttemptsLimit {
		return nil, fmt.Errorf("kiln: Config.MaxAttempts is %d; want 1 to %d", cfg.MaxAttempts, MaxAttemptsLimit)
	}
	if cfg.MaxArgsBytes == 0 {
		cfg.MaxArgsBytes = DefaultMaxArgsBytes
	}
	if cfg.MaxArgsBytes < 0 {
		return nil, fmt.Errorf("kiln: Config.MaxArgsBytes is %d; want a positive size in bytes", cfg.MaxArgsBytes)
	}
	if cfg.MaxOutputBytes == 0 {
		cfg.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if cfg.MaxOutputBytes < 0 {
		return nil, fmt.Errorf("kiln: Config.MaxOutputBytes is %d; want a positive size in bytes", cfg.MaxOutputBytes)
	}
	if cfg.RetryPolicy == nil {
		cfg.RetryPolicy = DefaultRetryPolicy{}
	}
	defDuration(&cfg.LeaseDuration, 20*time.Second)
	defDuration(&cfg.FetchPollInterval, 200*time.Millisecond)
	defDuration(&cfg.CancelPollInterval, 500*time.Millisecond)
	defDuration(&cfg.LeaderTTL, 10*time.Second)
	defDuration(&cfg.ScheduleInterval, time.Second)
	defDuration(&cfg.RescueInterval, 5*time.Second)
	defDuration(&cfg.CleanInterval, time.Minute)
	defDuration(&cfg.RecurringPollInterval, time.Second)
	defDuration(&cfg.MisfireThreshold, time.Minute)
	seen := make(map[string]bool, len(cfg.Recurring))
	for _, r := range cfg.Recurring {
		if seen[r.ID] {
			return nil, fmt.Errorf("kiln: Config.Recurring: ID %q defined twice", r.ID)
		}
		seen[r.ID] = true
	}
	defDuration(&cfg.CompletedRetention, 24*time.Hour)
	defDuration(&cfg.CancelledRetention, 7*24*time.Hour)
	defDuration(&cfg.DiscardedRetention, 7*24*time.Hour)
	defDuration(&cfg.AuditRetention, DefaultAuditRetention)
	defDuration(&cfg.BulkRetention, DefaultBulkRetention)
	if err := validateRetention(cfg.Retention); err != nil {
		return nil, err
	}
	defDuration(&cfg.ServerRefreshInterval, 5*time.Second)
	defDuration(&cfg.ServerTTL, time.Minute)
	if cfg.ServerTTL < 2*cfg.ServerRefreshInterval {
		return nil, fmt.Errorf("kiln: Config.ServerTTL is %s; want at least twice ServerRefreshInterval (%s)",
			cfg.ServerTTL, cfg.ServerRefreshInterval)
	}
	for _, d := range []struct {
		name     string
		v, least time.Duration
	}{
		{"LeaseDuration", cfg.LeaseDuration, time.Second},
		{"FetchPollInterval", cfg.FetchPollInterval, time.Millisecond},
		{"CancelPollInterval", cfg.CancelPollInterval, time.Millisecond},
		{"LeaderTTL", cfg.LeaderTTL, 30 * time.Millisecond},
		{"ScheduleInterval", cfg.ScheduleInterval, time.Millisecond},
		{"RescueInterval", cfg.RescueInterval, time.Millisecond},
		{"CleanInterval", cfg.CleanInterval, time.Millisecond},
		{"RecurringPollInterval", cfg.RecurringPollInterval, time.Millisecond},
		{"MisfireThreshold", cfg.MisfireThreshold, time.Second},
		{"ServerRefreshInterval", cfg.ServerRefreshInterval, time.Millisecond},
	} {
		if d.v < d.least {
			return nil, fmt.Errorf("kiln: Config.%s is %s; want at least %s", d.name, d.v, d.least)
		}
	}
	return &cfg, nil
}

// queuesWithDefaults checks Queues, MaxWorkers and StrictPriority, and
// replaces Queues by a copy with the defaults applied (the caller's map is
// left alone).
func (cfg *Config) queuesWithDefaults() error {
	pool := cfg.MaxWorkers
	if pool < 0 || pool > 10_000 {
		return fmt.Errorf("kiln: Config.MaxWorkers is %d; want 1 to 10000, or 0 for no pool shared by the queues", pool)
	}
	if cfg.StrictPriority && pool == 0 {
		return errors.New("kiln: Config.StrictPriority orders the queues of a pool; set Config.MaxWorkers (the pool's size)")
	}
	queues := cfg.Queues
	if queues == nil && cfg.Workers != nil {
		queues = map[string]QueueConfig{QueueDefault: {MaxWorkers: 100}}
		if pool > 0 {
			queues = map[string]QueueConfig{QueueDefault: {}}
		}
	}
	if queues == nil {
		return nil
	}
	cfg.Queues = make(map[string]QueueConfig, len(queues))
	for _, name := range slices.Sorted(maps.Keys(queues)) {
		q := queues[name]
		if err := validateQueue("Config.Queues", name); err != nil {
			return fmt.Errorf("kiln: %w", err)
		}
		switch {
		case pool == 0 && (q.MaxWorkers < 1 || q.MaxWorkers > 10_000):
			return fmt.Errorf("kiln: Config.Queues[%q].MaxWorkers is %d; want 1 to 10000", name, q.MaxWorkers)
		case q.MaxWorkers < 0 || q.MaxWorkers > 10_000:
			return fmt.Errorf("kiln: Config.Queues[%q].MaxWorkers is %d; want 1 to 10000, or 0 for the whole pool (Config.MaxWorkers)", name, q.MaxWorkers)
		case q.Weight < 0 || q.Weight > maxQueueWeight:
			return fmt.Errorf("kiln: Config.Queues[%q].Weight is %d; want 1 to %d, or 0 for 1", name, q.Weight, maxQueueWeight)
		case q.Weight > 0 && pool == 0:
			return fmt.Errorf("kiln: Config.Queues[%q].Weight is %d, but weights share a pool that is not set; set Config.MaxWorkers (the pool's size)", name, q.Weight)
		}
		if pool > 0 {
			q.Weight = max(q.Weight, 1)
			if q.MaxWorkers == 0 || q.MaxWorkers > pool {
				q.MaxWorkers = pool
			}
		}
		cfg.Queues[name] = q
	}
	return nil
}

func defDuration(d *time.Duration, def time.Duration) {
	if *d == 0 {
		*d = def
	}
}

// validateQueue checks a queue name: 1 to 128 bytes of UTF-8 text without
// spaces or control characters (C0, DEL and C1), as kinds are checked, so
// that every store keeps it as given. Its error is a *ValidationError for
// field ("queue", or "name" where the name is the subject).
func validateQueue(field, name string) error {
	if name == "" || len(name) > 128 || !utf8.ValidString(name) ||
		strings.IndexFunc(name, func(r rune) bool { return r <= ' ' || unicode.IsControl(r) }) >= 0 {
		return invalid(field, "invalid queue name %q: want 1 to 128 bytes of UTF-8 text without spaces or control characters", name)
	}
	return nil
}

func defaultID() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "kiln"
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
}
