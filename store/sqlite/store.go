// Package sqlite is Kiln's embedded storage backend: one SQLite database
// file, driven by the pure-Go modernc.org/sqlite driver (no cgo).
//
// The database runs in WAL mode, so readers never block the writer. A Store
// keeps two connection pools: a writer pool of one connection whose
// transactions start with BEGIN IMMEDIATE, so that the writers of one process
// queue in Go instead of failing with SQLITE_BUSY, and a reader pool of
// several read-only connections. Several processes on one host may share one
// database file: their writers wait for each other up to the busy timeout.
// The file must be on a local file system (WAL needs shared memory).
//
// Every time, lease ends and leader terms included, is the caller's (the
// client's Config.Clock): the processes that share a file run on one host,
// and so read one clock. (The PostgreSQL store, whose processes may run on
// hosts whose clocks disagree, times leases and terms on the database's
// clock instead.)
//
// Open does not create the schema; call [Store.Migrate] (or run
// `kiln migrate`), or set [Options.Migrate].
//
// # Recurring entries
//
// Recurring entries live in kiln_recurring, and the occurrences they
// enqueued in kiln_recurring_occurrence, whose primary key (entry ID,
// occurrence time) admits one job per occurrence: [Store.RecurringEnqueue]
// checks it and writes the row in the job's transaction, under the write
// lock, so schedulers racing in several processes enqueue one job between
// them. Where [store.RecurringStore] leaves a case open, this store decides
// as follows (the contract suite checks the same):
//
//   - RecurringUpsert takes CreatedAt and UpdatedAt from params.Now, not from
//     the row. An update keeps LastError too (RecurringUpsertParams ignores
//     it on update). An empty ID or an unknown overlap or misfire policy is
//     refused.
//   - RecurringSetPaused changes nothing, not even UpdatedAt, when the entry
//     already is as asked: resuming an entry that is not paused keeps its
//     NextRunAt, so an occurrence about to be due is not lost.
//   - RecurringSetError and RecurringEnqueue give a wrapped
//     kilntype.ErrNotFound for an unknown entry; RecurringOccurrenceList
//     gives an empty list, as JobAttemptList does for an unknown job. Lists
//     take store.DefaultListLimit for a limit of 0 and cut at
//     store.MaxListLimit, as JobList does.
//   - RecurringEnqueue: an occurrence whose job's UniqueKey is held by a job
//     that may still run is skipped as a "duplicate" (an equivalent job
//     exists); it gets no occurrence row, and LastRunAt and LastJobID stay.
//     An unknown Overlap fails a call that has occurrences. "Newest
//     occurrences" are by occurrence time. UpdatedAt becomes params.Now
//     only when the call inserted a job or moved NextRunAt. Occurrences are
//     enqueued whether or not the entry is paused (a manual trigger runs a
//     paused entry too). Occurrence times are kept to the microsecond, so
//     two times less than 1 µs apart are one occurrence.
//   - Occurrence rows are deleted with their entry (ON DELETE CASCADE), and
//     the cleaner prunes those older than the longest job retention whose
//     job is gone, keeping each entry's newest (RecurringOccurrenceDeleteOld):
//     a late scheduler's occurrences within that time are still duplicates. They have no foreign key to
//     kiln_job: when the cleaner or JobDelete removes a job, the row stays,
//     its job counts as finished, and its state lists as "".
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
)

var _ store.Store = (*Store)(nil)

// Options configures Open. The zero value, and a nil *Options, give the
// defaults documented on each field.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock held by another
	// process (or another Store on the same file) before it fails with
	// SQLITE_BUSY. Zero means 10 s. It is rounded down to the millisecond.
	BusyTimeout time.Duration
	// ReadConns is the number of connections of the reader pool, which
	// serves JobGet, JobList, JobCountByState, JobAttemptList,
	// JobListCancelRequested, RecurringGet, RecurringList, RecurringNextDue,
	// RecurringListDue, RecurringOccurrenceList and SchemaCheck. Zero means 4.
	ReadConns int
	// Migrate makes Open apply missing migrations before it returns, as
	// [Store.Migrate] does.
	Migrate bool
	// Synchronous is SQLite's synchronous setting for every connection:
	// SynchronousNormal (the default, also for "") or SynchronousFull. See
	// [Synchronous] for what each keeps after a power loss. Any other value
	// makes Open fail.
	Synchronous Synchronous
}

// Synchronous is how hard SQLite pushes each commit to disk (its
// synchronous pragma, in WAL mode). Both settings keep the database file
// consistent whatever happens; they differ in what a power loss or an
// operating-system crash (not a process crash, which loses nothing in
// either) may take back.
type Synchronous string

const (
	// SynchronousNormal syncs the write-ahead log only at checkpoints: a
	// power loss or OS crash may roll back the last commits (jobs
	// enqueued, outcomes written) made since the last checkpoint. A job
	// whose enqueue was rolled back is lost; an outcome rolled back runs the
	// job again. This is the default: commits are cheaper (see
	// docs/benchmarks.md for the measured difference).
	SynchronousNormal Synchronous = "NORMAL"
	// SynchronousFull syncs the write-ahead log on every commit: once
	// Enqueue returns, the job survives a power loss. Every write
	// transaction then waits for an fsync.
	SynchronousFull Synchronous = "FULL"
)

// defaultBusyTimeout is Options.BusyTimeout's default.
const defaultBusyTimeout = 10 * time.Second

// defaultReadConns is Options.ReadConns's default.
const defaultReadConns = 4

// Store is a [store.Store] backed by one SQLite database file. It is safe for
// concurrent use by many goroutines, and several Stores (in one process or
// in several) may share one file. Create it with Open; its zero value is not
// usable.
type Store struct {
	w *sql.DB // writer pool: one connection, BEGIN IMMEDIATE
	r *sql.DB // reader pool: read-only connections

	// mu guards st, the writer's prepared statements, prepared on first use
	// because they need the schema to exist.
	mu sync.Mutex
	st *stmts

	// finishing holds JobFinishMany's statement arguments between calls.
	finishing finishingBuffers

	// cursors are where the partitioned claims of each queue and kind
	// stopped (store.ClaimPartitioned), and whose turn it is to go first
	// in a claim of partitioned and other kinds (InTurn).
	cursors store.PartitionCursors

	// migrations are the migrations that Migrate applies, SchemaCheck
	// requires and ServerUpsert records the last of (kiln_server's
	// schema_version): the embedded ones, or, in tests, more.
	migrations *migrate.Files
}

// Open opens the SQLite database at path, creating the file if it does not
// exist, and checks that it can be reached. It does not create the schema
// unless opts.Migrate is set. path is a file system path: not a "file:" URI,
// not ":memory:" (the pools would not share it), without '?'. The caller
// must Close the Store.
func Open(ctx context.Context, path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.BusyTimeout <= 0 {
		o.BusyTimeout = defaultBusyTimeout
	}
	if o.ReadConns <= 0 {
		o.ReadConns = defaultReadConns
	}
	switch o.Synchronous {
	case "":
		o.Synchronous = SynchronousNormal
	case SynchronousNormal, SynchronousFull:
	default:
		return nil, fmt.Errorf("sqlite: open %q: Options.Synchronous %q: want %q or %q", path, o.Synchronous, SynchronousNormal, SynchronousFull)
	}
	if path == "" || path == ":memory:" || strings.ContainsRune(path, '?') || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open %q: want a file path without '?'", path)
	}

	// The writer connects first: it turns WAL on, a persistent setting of
	// the file that the readers then find.
	w, err := openPool(ctx, path, o, true)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: writer: %w", path, err)
	}
	r, err := openPool(ctx, path, o, false)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: readers: %w", path, err)
	}
	s := &Store{w: w, r: r, migrations: migrations}
	if o.Migrate {
		if err := s.Migrate(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Page cache sizes, in KiB, per connection: the writer's holds the hot
// index pages of claims and finishes; readers serve the dashboard.
const (
	writerCacheKiB = 32 << 10
	readerCacheKiB = 8 << 10
)

// writerCheckpointFrames is the writer's wal_autocheckpoint: once a commit
// leaves the write-ahead log this many frames (pages) long, the writer
// copies the log's pages to the database file before its call returns
// (SQLite's default is 1,000). A checkpoint copies each page the log holds
// once, whatever the number of frames of it, and syncs both files: a
// longer interval copies pages that many commits rewrite (the index
// entries a per-key claim removes across its keys, the front of the claim
// order) once per interval instead of four times, and syncs a quarter as
// often. Measured (docs/benchmarks.md, "Per-key claims on SQLite: the
// checkpoint interval"): pages copied to the database file per job in the
// burn-down over 1,000 keys 0.400 -> 0.159, plain 0.072 -> 0.063;
// checkpoints 42 -> 11 and 17 -> 5 per 50,000 jobs. The log file grows to
// at least about 16 MB (4,000 pages of 4 KiB and their headers) and is not
// truncated: SQLite writes it again from its start after a checkpoint that
// copied every frame, but a reader that still reads an older snapshot
// while a checkpoint runs keeps the log growing past that until a later
// checkpoint completes. Each checkpoint holds its commit longer (more
// distinct pages), a quarter as often.
const writerCheckpointFrames = 4000

// openPool opens the writer pool (one connection, immediate transactions) or
// the reader pool (o.ReadConns read-only connections) and connects once.
//
// Every connection waits o.BusyTimeout for locks, syncs the WAL as
// o.Synchronous says, enforces foreign keys and keeps temporary data, such
// as statement journals, in memory. The writer checkpoints the WAL every
// writerCheckpointFrames frames (readers write nothing to it).
func openPool(ctx context.Context, path string, o Options, writer bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "synchronous("+string(o.Synchronous)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "temp_store(MEMORY)")
	conns, cache := o.ReadConns, readerCacheKiB
	if writer {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "wal_autocheckpoint("+strconv.Itoa(writerCheckpointFrames)+")")
		q.Set("_txlock", "immediate")
		conns, cache = 1, writerCacheKiB
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	q.Add("_pragma", "cache_size(-"+strconv.Itoa(cache)+")")
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// SingleWriter reports true: every write of a Store goes through its one
// writer connection (see store.Store).
func (s *Store) SingleWriter() bool { return true }

// Close closes the Store's connections. Calls in progress may fail; the Store
// is unusable after. Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.st != nil {
		s.st.close()
		s.st = nil
	}
	s.mu.Unlock()
	return errors.Join(s.r.Close(), s.w.Close())
}

// write runs fn in a writer transaction (BEGIN IMMEDIATE: it holds the
// database's write lock from the start) and commits it if fn returns nil.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx, st *stmts) error) error {
	st, err := s.stmts(ctx)
	if err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx, st); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// batch returns the statements of the multi-row statement that pick selects
// for a batch of n rows, by size (see batchStmt.prepared). Like stmts, it
// must not be called inside a writer transaction.
func (s *Store) batch(ctx context.Context, pick func(*stmts) *batchStmt, n int) (map[int]*sql.Stmt, error) {
	st, err := s.stmts(ctx)
	if err != nil {
		return nil, err
	}
	return pick(st).prepared(ctx, s.w, n)
}

// stmts returns the writer's prepared statements, preparing them on first
// use. It must not be called inside a writer transaction: preparing needs the
// writer's only connection.
func (s *Store) stmts(ctx context.Context) (*stmts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st != nil {
		return s.st, nil
	}
	st, err := prepareStmts(ctx, s.w)
	if err != nil {
		return nil, err
	}
	s.st = st
	return st, nil
}
