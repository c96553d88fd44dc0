// Package postgres is Kiln's PostgreSQL storage backend, driven by pgx v5
// through a pgxpool connection pool. Several processes may share one
// database: claims lock the jobs they take with FOR UPDATE SKIP LOCKED, so
// they never wait for each other and never return the same job.
//
// Every table, index and sequence lives in one schema, [Options.Schema]
// ("kiln" by default), which Migrate creates; several Kiln installations (or
// parallel tests) can thus share a database, each in a schema of its own.
// The store names the schema in every statement and never relies on the
// connections' search_path, so [New] works on a pool the caller configured
// for other uses too.
//
// Open does not create the schema; call [Store.Migrate] (or run
// `kiln migrate --database postgres://...`), or set [Options.Migrate].
//
// The statements are written for READ COMMITTED, PostgreSQL's default
// isolation level, which the Store's own transactions ask for explicitly;
// a database whose default_transaction_isolation is stricter would make
// its single statements fail with serialization errors under contention.
//
// # Types
//
// IDs are bigint identity columns (never reused). Times are timestamptz,
// which keeps microseconds: a time is stored truncated to the microsecond,
// as the SQLite store keeps it, and returned in UTC. Args and Metadata are
// jsonb: PostgreSQL normalizes them (key order, white space, duplicate
// keys), so a job read back holds an equal JSON value, not the same bytes;
// a JSON string holding \u0000 cannot be stored. Tags are text[]. A job's
// state is text with a CHECK constraint rather than an enum type, so that
// no type needs registering on the connections of a caller's pool.
//
// # Hot paths
//
// JobClaim is one statement per round: the due jobs are read from two
// partial indexes (available jobs, and scheduled or retryable ones; the
// latter one priority at a time, seeking the due range, so jobs due in the
// future are never read), locked with FOR UPDATE SKIP LOCKED, capped per
// kind with a window function, and moved to running by the UPDATE that
// returns them. Without kind limits a claim is always one round; with them,
// a round that came short only because of the limits is followed by another
// that excludes the kinds whose limit it reached (see [Store.JobClaim]).
// JobInsertMany and JobFinishMany are one statement each, whatever their
// batch size: their rows are passed as arrays and expanded with unnest.
// JobLeaseRenew changes only lease_expires_at, which no index holds, so
// renewals can be HOT updates. JobLeaseRenew, JobFinishMany and a bulk
// cancel's cancel requests lock the running jobs they change in ID order,
// so that two of them never deadlock: the cancel requests and a finish of
// any outcomes lock them all before changing any; a renewal and a batch of
// completions, the common finish, are one UPDATE each whose only plan locks
// each job as it changes it, in ID order (see sqlCompleteJobs and
// sqlLeaseRenew; TestCompletePlan, TestFinishRacesWithoutDeadlock). A
// claim commits asynchronously (synchronous_commit off for its own
// transaction: see [Store.JobClaim]); every other write commits
// synchronously. A claim's statements use PostgreSQL's generic plans
// (plan_cache_mode for the claim's transaction only), so that the polls of
// an idle process are not planned again each time (see [Store.JobClaim]).
// TestQueryPlans checks with EXPLAIN, on tables of 10,000 rows and with
// both custom and generic plans, that no hot statement reads a table
// sequentially. Planner settings are changed only for the transaction of
// one batch: the claim's plan_cache_mode, the rescue's bitmap scans, and
// the sequential and bitmap scans of the completions and renewals.
//
// # Clocks
//
// Leases and leader terms (which hosted services' singleton leases use
// too) are read and written on the database server's clock, as River does:
// a claim or renewal sets a lease's end to now() plus the lease's length
// (the params' LeaseExpiresAt - Now), a rescue takes the leases that ended
// before now(), and an election starts a term at now() and compares terms
// with now(). So the hosts' clocks may disagree by any amount without two
// processes holding one job's lease or one leader's term: what must hold is
// that no process stalls between its renewals for longer than the margin a
// lease or term leaves (two thirds of it: the engine renews every third),
// and that the server's clock runs steadily (a jump forward of the server's
// clock ends every lease early). now() is the start of the statement's
// transaction: a claim with kind limits, whose rounds share a transaction,
// counts its leases from the first round, which errs on the short side.
//
// Every other time is the caller's (the client's Config.Clock): when a job
// is due (RunAt, retries, snoozes, a rescued job's retry, which is made due
// at the rescuer's time), finalization times, attempts, retention
// cut-offs, server registry refreshes, hosted service reports and recurring
// occurrences. A host whose clock is off runs scheduled jobs early or late
// by its error, and may see another process's registry row as stale, but a
// scheduled job still runs once (a claim takes it once; a recurring
// occurrence is keyed by its time).
//
// [Options.CallerClock] makes the lease and leadership times the callers'
// too, as the SQLite store's are (one machine, one clock): tests that move
// a kilntest.Clock to expire leases and terms need it.
//
// # Continuations and batches
//
// The store implements store.DependencyStore and store.ServiceStore.
// Continuations and batches live in kiln_job_parent (child, parent,
// policy), kiln_batch and kiln_batch_job, with the semantics of the SQLite
// store, which the contract suite checks for both:
//
//   - JobInsertMany (and JobInsertManyTx) lock the stored parents it names
//     (ParentIDs) FOR KEY SHARE before inserting anything, so an unknown
//     parent fails the call with kilntype.ErrNotFound having written
//     nothing, even in the caller's transaction; it does so also for a
//     param whose unique key turns out held. The parent rows, batches and
//     memberships are then written by one statement, in the same
//     transaction.
//   - A deleted child takes its parent rows with it: kiln_job_parent's
//     child_id is a foreign key ON DELETE CASCADE (a trigger that
//     PostgreSQL runs for any delete, JobDelete's, the cleaner's or an
//     operator's). A deleted parent's rows stay, and the child sees that
//     parent as "deleted".
//   - JobResolvePending is one statement that reads the pending jobs
//     through a partial index of their own (kiln_job_pending) and locks the
//     releasable ones FOR UPDATE SKIP LOCKED, so resolvers of several
//     processes never release one job twice. It visits pending jobs in ID
//     order and checks the parents of each, so a call costs in proportion
//     to the pending jobs before the first Max releasable ones.
//   - JobDeleteFinished keeps the jobs that a pending child waits on. It
//     locks its candidates FOR UPDATE SKIP LOCKED, then deletes them with a
//     second statement that checks again for pending children on a fresh
//     snapshot; with the insert's FOR KEY SHARE on parents, a continuation
//     committed while the cleaner runs never loses its parent.
//   - The lock on parents makes a claim skip an available parent (and
//     JobCancel, JobRetry or JobDelete of it wait) until the inserting
//     transaction ends; it does not block a running parent's finish or
//     lease renewal.
//   - RecurringEnqueue refuses occurrences with parents or a batch (the
//     client never builds them), rather than ignore the fields.
//
// # Decisions where store.Store is silent
//
// They are those of the SQLite store (see its package documentation), which
// the contract suite checks for both; in short: RecurringUpsert takes
// CreatedAt and UpdatedAt from params.Now and keeps LastError on update;
// RecurringSetPaused changes nothing when the entry already is as asked;
// RecurringSetError and RecurringEnqueue give ErrNotFound for an unknown
// entry, RecurringOccurrenceList an empty list; an occurrence whose job's
// unique key is held is a "duplicate" without an occurrence row; "newest
// occurrences" are by occurrence time; occurrence rows go with their entry
// and have no foreign key to kiln_job. Recurring IDs sort bytewise (their
// column has the "C" collation). In addition:
//
//   - RecurringEnqueue and RecurringEnqueueMany lock their entries (SELECT
//     ... FOR UPDATE, in ID order, so that two batches cannot deadlock)
//     before they read the entry's occurrences, so schedulers racing on one
//     entry take turns; the occurrence table's primary key still forbids a
//     second job for an occurrence.
//   - JobInsertMany: when a unique key conflicts with a job that finishes
//     before the call can read it, the row is inserted after all, by a
//     second round of the same statement; its ID is then greater than those
//     of the rows that follow it in the call.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
)

var _ store.Store = (*Store)(nil)
var _ store.TxStore[pgx.Tx] = (*Store)(nil)
var _ store.TxJobLister[pgx.Tx] = (*Store)(nil)

// DefaultSchema is the schema of Options.Schema's zero value.
const DefaultSchema = "kiln"

// Options configures Open and New. The zero value, and a nil *Options, give
// the defaults documented on each field.
type Options struct {
	// Schema is the PostgreSQL schema that holds Kiln's tables; "" means
	// DefaultSchema. Migrate creates it. Any name PostgreSQL accepts (at
	// most 63 bytes) works: it is always quoted.
	Schema string
	// MaxConns is the size of the pool that Open creates. 0 means
	// DefaultMaxConns (1), or 2 with PgBouncer, unless the URL sets
	// pool_max_conns: with the connection that a client's notifications
	// hold outside the pool (see [Store.Listen]), a process then uses at
	// most 2 PostgreSQL connections, so that a server's max_connections
	// (100 by default) serves about 50 processes. Measured on a loaded
	// 2-CPU machine, a burn-down ran as fast with 1 as with 4 (see
	// docs/benchmarks.md). Set it higher when the caller holds the Store's
	// connections itself (a transaction of its own taken from [Store.Pool]
	// while it calls other Store methods waits for a connection that only
	// that transaction's end frees), or when maintenance statements on
	// large tables should not delay claims. New ignores it.
	MaxConns int32
	// Migrate makes Open apply missing migrations before it returns, as
	// [Store.Migrate] does. New ignores it.
	Migrate bool
	// CallerClock makes lease ends, leader terms and singleton leases come
	// from the times the callers pass (the client's Config.Clock), as they
	// do on SQLite, instead of from the database server's clock (now()).
	// It is for tests that move a fake clock to expire leases; on hosts
	// whose clocks disagree by more than a renewal margin it lets two
	// processes run one job or both lead. See the package documentation,
	// Clocks.
	CallerClock bool
	// PgBouncer says that the URL (or the pool given to New) reaches
	// PostgreSQL through a pooler in transaction-pooling mode, such as
	// PgBouncer's pool_mode = transaction, where a client's statements may
	// run on a different server session at each transaction. It is an
	// option rather than detected because nothing in PostgreSQL's protocol
	// tells a pooled session from a direct one reliably (PgBouncer forwards
	// the server's version and parameters); guessing wrong either way would
	// break a deployment silently. The CLI sets it from the URL parameter
	// kiln_pgbouncer=1. With it:
	//
	//   - Open's pool runs statements in pgx's cache_describe mode (unnamed
	//     prepared statements, whose descriptions pgx caches per
	//     connection on the client side) unless the URL's
	//     default_query_exec_mode names exec, simple_protocol or
	//     cache_describe: pgx's default, cache_statement, keeps named
	//     prepared statements on the server session ("prepared statement
	//     does not exist"), and describe_exec's Describe and Execute may
	//     reach different sessions. New returns an error for a pool in one
	//     of those two modes.
	//   - Notifications are unavailable: LISTEN needs a session of its own,
	//     and behind the pooler it receives nothing. NotificationsAvailable
	//     reports false, so the client does not listen and finds new jobs
	//     and cancel requests by polling (set the client's
	//     FetchPollInterval lower than its 200 ms default, 50 ms for
	//     example, if enqueue-to-start latency matters); Listen returns an
	//     error; the store sends no notifications of its own after inserts
	//     and cancels (Notify still sends, for listeners connected
	//     directly).
	//
	// Kiln takes only transaction-level advisory locks and sets
	// synchronous_commit for one transaction at a time, which work behind
	// the pooler. See docs/clusters.md.
	PgBouncer bool
	// NoVacuum turns off the VACUUM of kiln_job that the maintenance
	// leader runs once many jobs have run while few wait (see
	// [Store.JobVacuum]): for a server whose autovacuum already vacuums
	// kiln_job often (its autovacuum_vacuum_scale_factor and threshold set
	// low for the table), or a database where only its owner may run
	// maintenance.
	NoVacuum bool
}

// DefaultMaxConns is the pool size of Open when neither Options.MaxConns
// nor the URL's pool_max_conns sets one and Options.PgBouncer is not set:
// one connection for statements, which with the LISTEN connection of a
// client's notifications makes 2 per process. See Options.MaxConns.
const DefaultMaxConns = 1

// DefaultConnectTimeout bounds each new connection of a pool that Open
// creates, unless the URL sets connect_timeout: without it, a server that
// accepts TCP connections but never answers (hung, or not PostgreSQL) would
// hold Open, and every later call that needs a new connection, forever.
const DefaultConnectTimeout = 10 * time.Second

// Store is a [store.Store] backed by a PostgreSQL database. It is safe for
// concurrent use by many goroutines, and any number of Stores, in one
// process or in many, may share a schema. Create it with Open or New; its
// zero value is not usable.
type Store struct {
	pool    *pgxpool.Pool
	ownPool bool   // Close closes pool
	schema  string // unquoted, as given
	quoted  string // schema as a quoted identifier
	// lockSpace is "kiln/" + schema, the namespace of the kinds' advisory
	// locks (sqlRoundSettings, sqlLockLookup), made once rather than at
	// every claim.
	lockSpace string

	// callerClock is Options.CallerClock: lease and leadership times come
	// from the params rather than now().
	callerClock bool
	// pgBouncer is Options.PgBouncer: no LISTEN, no notifications sent.
	pgBouncer bool
	// noVacuum is Options.NoVacuum: JobVacuum never vacuums.
	noVacuum bool
	// describes is set when the pool's query exec mode describes each
	// statement, so that pgx encodes its parameters for the types the
	// statement expects: its hot array parameters are then sent without an
	// allocation per element (arrayArg).
	describes bool
	// vacuumRefused is set once the server skipped JobVacuum's VACUUM with
	// a warning (not the table's owner): JobVacuum no longer tries.
	vacuumRefused atomic.Bool
	// vacuumLeft is the dead rows of kiln_job that JobVacuum's last vacuum
	// could not remove, counted out of the next one's condition.
	vacuumLeft atomic.Int64

	// queries caches the statements expanded by sql, by template.
	queries sync.Map // string -> string

	// completeArgs keeps the arrays of completed batches for the next
	// (completeJobs).
	completeArgs completeArgsList

	// anyKindsListed is how many kinds the last claim of any kind of each
	// queue listed (claim.runPlainAny): the next one sends the plain claim
	// for as many in its first batch.
	anyKindsListed sync.Map // queue -> int

	// claimMarks is where each queue's plain claims of named kinds start:
	// past the jobs the last one took (claim.runPlain).
	claimMarks claimMarks

	// runningReads says, per queue and kind capped per key, whether the
	// next in-order claim reads the kind's running jobs once or seeks each
	// key's (sqlPartitionInOrder).
	runningReads runningReads

	// rateRoom is, per rate-limited kind (string -> int), the allowance that
	// this Store's last read of the kind's budget found in a claim's
	// transaction (math.MaxInt: no limit in force; 0 after a one-trip claim
	// found that a limit might bind): a hint of whether the next claim may
	// try claimRateOneTrip (rateRoomy).
	rateRoom sync.Map

	// rateDueSkip is, per queue (string -> *atomic.Int32), how many more
	// claims of rate-limited kinds skip claimRateOneTrip because the last
	// one found a due scheduled or retryable job ('due'): while due jobs
	// keep coming, one claim in rateDueSkipClaims+1 pays a batch that
	// takes nothing, not every claim (rateRoomy).
	rateDueSkip sync.Map
	// rateIsolationSkip is how many more claims of rate-limited kinds skip
	// claimRateOneTrip because the last one found its batch's transaction
	// in an isolation other than READ COMMITTED (the database's default,
	// which an administrator may change back): one claim in
	// rateIsolationSkipClaims+1 pays a batch that takes nothing while it
	// lasts, and the one batch comes back when it is over (rateRoomy).
	rateIsolationSkip atomic.Int32

	// cursors are where the partitioned claims of each queue and kind
	// stopped (store.ClaimPartitioned), and whose turn it is to go first
	// in a claim of partitioned and other kinds (InTurn).
	cursors store.PartitionCursors

	// subs are the open subscriptions (Listen): JobVacuum runs its VACUUM
	// on one's connection when it can.
	subs subscriptions
	// notices routes the notices of the pool's connections (nil for a pool
	// passed to New, whose connections' notice handler is the caller's).
	notices *noticeRouter
	// cancelRequestHook, when set (by tests, before Listen), replaces the
	// cancel request that ends a statement cut short on a subscription's
	// connection (runCancellable).
	cancelRequestHook func(context.Context, *pgconn.PgConn) error
	// vacuumHook, when set (by tests), is called with the server process ID
	// of the connection that each VACUUM of JobVacuum ran on.
	vacuumHook func(pid uint32)

	// migrateHook, when set (by tests, before Migrate), is called with each
	// statement that Migrate sends: a migration's whole text, or, for one
	// marked migrate.NoTransactionMark, each of its statements.
	migrateHook func(stmt string)
	// migrateRetryHook, when set (by tests, before Migrate), is called
	// with the error of each run of the migrations that Migrate retries.
	migrateRetryHook func(err error)
	// lockRetryHook, when set (by tests, before the call), is called each
	// time a try of the migration lock finds it held (untilLocked).
	lockRetryHook func()
	// migrations are the migrations that Migrate applies, SchemaCheck
	// requires and ServerUpsert records the last of (kiln_server's
	// schema_version): the embedded ones, or, in tests, more.
	migrations *migrate.Files

	// pingEvery, when set (by tests, before Listen), replaces pingInterval
	// for the subscriptions of this Store; pingHook, when set, is called
	// with the outcome of each of their pings.
	pingEvery time.Duration
	pingHook  func(err error)

	closeOnce sync.Once
}

// Open connects to the database at url (a postgres:// or postgresql:// URL,
// or a key=value connection string, as pgx accepts them) with a pool of its
// own, and checks that the server answers: a malformed URL or an unreachable
// server is an error here, not at the first call. Each connection attempt
// gives up after DefaultConnectTimeout unless the URL sets connect_timeout
// (seconds). It does not create the schema unless opts.Migrate is set. The
// caller must Close the Store.
func Open(ctx context.Context, url string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	schema, err := checkSchema(o.Schema)
	if err != nil {
		return nil, fail("open", err)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's error does not show the password.
		return nil, fail("open", fmt.Errorf("parse connection URL: %w", err))
	}
	set := urlSettings(url)
	switch {
	case o.MaxConns > 0:
		cfg.MaxConns = o.MaxConns
	case set["pool_max_conns"]:
		// The URL's size stands.
	case o.PgBouncer:
		cfg.MaxConns = 2 // no LISTEN connection behind the pooler
	default:
		cfg.MaxConns = DefaultMaxConns
	}
	if o.PgBouncer && !pooledMode(cfg.ConnConfig.DefaultQueryExecMode) {
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	shrinkUnusedCache(cfg.ConnConfig, set)
	where := describe(cfg)
	notices := &noticeRouter{prev: cfg.ConnConfig.OnNotice}
	cfg.ConnConfig.OnNotice = notices.route
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fail("open "+where, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fail("open "+where, fmt.Errorf("cannot connect: %w", err))
	}
	s := newStore(pool, schema, true)
	s.notices = notices
	s.callerClock = o.CallerClock
	s.pgBouncer = o.PgBouncer
	s.noVacuum = o.NoVacuum
	if o.Migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// New returns a Store that uses pool, which the caller owns: Close leaves it
// open. It neither connects nor migrates (opts.MaxConns and opts.Migrate
// are ignored); only opts.Schema, opts.CallerClock, opts.PgBouncer and
// opts.NoVacuum are used. With opts.PgBouncer, a pool whose default_query_exec_mode is
// cache_statement (pgx's default) or describe_exec is an error. The pool's
// connections may have any search_path.
func New(pool *pgxpool.Pool, opts *Options) (*Store, error) {
	if pool == nil {
		return nil, fail("new", errors.New("nil pool"))
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	schema, err := checkSchema(o.Schema)
	if err != nil {
		return nil, fail("new", err)
	}
	if mode := pool.Config().ConnConfig.DefaultQueryExecMode; o.PgBouncer && !pooledMode(mode) {
		return nil, fail("new", fmt.Errorf("the pool's default_query_exec_mode (%s) does not work behind a pooler in transaction mode (Options.PgBouncer): use cache_describe, exec or simple_protocol", mode))
	}
	s := newStore(pool, schema, false)
	s.callerClock = o.CallerClock
	s.pgBouncer = o.PgBouncer
	s.noVacuum = o.NoVacuum
	return s, nil
}

// unusedCacheCapacity is the capacity shrinkUnusedCache gives the statement
// cache that a connection's query mode does not use.
const unusedCacheCapacity = 16

// shrinkUnusedCache gives the statement cache that cfg's default query mode
// does not use a capacity of unusedCacheCapacity, unless the connection
// string sets it (set, from urlSettings): pgx makes each connection's two caches (prepared
// statements, for QueryExecModeCacheStatement; descriptions, for
// QueryExecModeCacheDescribe) as maps sized for their capacity, 512 by
// default, though its queries use the cache of their mode alone. The
// unused one was ~27 KB of each connection's live heap (a quarter of a
// burn-down's, whose collections the runtime's minimum heap goal paces:
// docs/benchmarks.md). A query that asks for the other mode by argument
// still has a cache, of 16 statements.
func shrinkUnusedCache(cfg *pgx.ConnConfig, set map[string]bool) {
	if !set["statement_cache_capacity"] && cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheStatement {
		cfg.StatementCacheCapacity = min(cfg.StatementCacheCapacity, unusedCacheCapacity)
	}
	if !set["description_cache_capacity"] && cfg.DefaultQueryExecMode != pgx.QueryExecModeCacheDescribe {
		cfg.DescriptionCacheCapacity = min(cfg.DescriptionCacheCapacity, unusedCacheCapacity)
	}
}

// urlSettings returns the names of the settings that the connection
// string url (URL or keywords) sets, as pgconn parses it (the
// environment's PG... variables included), parsed once per Open: pgx and
// pgxpool take their own settings (pool and cache sizes) out of the
// settings pgconn parses, so whether one was set is read there, not in the
// text, where the name could be part of a password or of another value.
// It is empty for a string pgconn refuses.
func urlSettings(url string) map[string]bool {
	pc, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil
	}
	set := make(map[string]bool, len(pc.RuntimeParams))
	for name := range pc.RuntimeParams {
		set[name] = true
	}
	return set
}

// pooledMode reports whether pgx's query exec mode m works through a pooler
// in transaction mode: it keeps no named prepared statement on the server
// session, and sends each statement's messages in one round trip.
func pooledMode(m pgx.QueryExecMode) bool {
	switch m {
	case pgx.QueryExecModeCacheDescribe, pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol:
		return true
	}
	return false
}

func newStore(pool *pgxpool.Pool, schema string, own bool) *Store {
	s := &Store{pool: pool, ownPool: own, schema: schema, quoted: pgx.Identifier{schema}.Sanitize(),
		lockSpace: "kiln/" + schema, migrations: migrations}
	if pool != nil { // tests make Stores without a pool
		s.describes = describesParams(pool.Config().ConnConfig.DefaultQueryExecMode)
	}
	return s
}

// checkSchema applies Options.Schema's default and checks its length.
func checkSchema(schema string) (string, error) {
	switch {
	case schema == "":
		return DefaultSchema, nil
	case len(schema) > 63:
		return "", fmt.Errorf("schema name %q is longer than 63 bytes", schema)
	case strings.ContainsRune(schema, 0):
		return "", fmt.Errorf("schema name %q holds a NUL byte", schema)
	}
	return schema, nil
}

// describe names the server and database of cfg for error messages, without
// the password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("database %q on %s:%d as user %q", c.Database, c.Host, c.Port, c.User)
}

// Schema returns the schema that holds the Store's tables.
func (s *Store) Schema() string { return s.schema }

// Pool returns the connection pool the Store uses, to run statements of the
// caller's own beside Kiln's (for example, a transaction that inserts jobs
// with [Store.JobInsertManyTx]).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// SingleWriter reports false: the Store's writes run on as many
// connections of its pool as are free (see store.Store).
func (s *Store) SingleWriter() bool { return false }

// Close closes the pool if Open created it; a pool passed to New stays
// open. The Store is unusable after. Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		if s.ownPool {
			s.pool.Close()
		}
	})
	return nil
}

// callerTime returns the parameter of a lease or leadership statement for
// the caller's time t: t, truncated, with CallerClock; else nil, for which
// the statement reads the database's clock, now(), instead.
func (s *Store) callerTime(t time.Time) *time.Time {
	if !s.callerClock {
		return nil
	}
	u := truncate(t)
	return &u
}

// schemaToken stands for the quoted schema in the SQL templates of this
// package and its migrations: "{s}.kiln_job".
const schemaToken = "{s}"

// sql returns the statement tmpl with the Store's schema in place of
// schemaToken, expanding each template once. Only templates from a finite
// set (constants, and JobList's combinations of filters) may go through it:
// the cache is never pruned. See expand.
func (s *Store) sql(tmpl string) string {
	if q, ok := s.queries.Load(tmpl); ok {
		return q.(string)
	}
	q := s.expand(tmpl)
	s.queries.Store(tmpl, q)
	return q
}

// expand returns tmpl with the Store's schema in place of schemaToken.
func (s *Store) expand(tmpl string) string {
	return strings.ReplaceAll(tmpl, schemaToken, s.quoted)
}

// querier is what a statement runs on: the pool, a connection or a
// transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// txOptions are the options of the Store's transactions: READ COMMITTED,
// whose per-statement snapshots and re-checks of locked rows the
// statements of this package are written for, whatever the database's
// default_transaction_isolation.
var txOptions = pgx.TxOptions{IsoLevel: pgx.ReadCommitted}

// inTx runs fn in a transaction and commits it if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, txOptions, fn)
}
