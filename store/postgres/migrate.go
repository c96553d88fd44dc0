package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
)

// migrationFiles holds the schema migrations, named NNN_what.sql; NNN is the
// version, from 1, without gaps (see package store/internal/migrate). They
// name the schema as {s}. A migration whose first line is
// migrate.NoTransactionMark runs outside a transaction on a large kiln_job
// (see Store.Migrate): CREATE INDEX CONCURRENTLY and DROP INDEX
// CONCURRENTLY cannot run in one. Each of its statements ends with ";" at
// the end of a line, and must be idempotent (IF NOT EXISTS, IF EXISTS),
// since an interrupted run starts again from the first.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// ConcurrentIndexMinRows is the size of kiln_job from which a migration
// marked migrate.NoTransactionMark runs outside a transaction, statement by
// statement, building and dropping its indexes CONCURRENTLY, as written.
// Below it, the migration runs in one transaction, as the others do, with
// CONCURRENTLY left out: its index builds take a SHARE lock on the table
// (writers wait) and its drops an ACCESS EXCLUSIVE one, for the moment a
// small table takes, instead of waiting, as a concurrent build does, for
// every transaction in the database that holds an older snapshot, in any
// schema. Tests lower it to 0 to take the concurrent path on a small
// table; 0 or less always takes it.
var ConcurrentIndexMinRows = 10_000

// migrations are migrationFiles, read once.
var migrations = migrate.NewFiles(migrationFiles, "migrations")

// sqlCreateSchema creates the schema and its table of applied migrations.
const sqlCreateSchema = `CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.kiln_migration (
	version    integer     PRIMARY KEY,
	name       text        NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// migrateLockKey returns the key of the advisory lock that serializes the
// migrations of one schema: migrations of other schemas do not wait.
func (s *Store) migrateLockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("kiln migrate\x00" + s.schema))
	return int64(h.Sum64())
}

// Migrate creates the schema if needed and applies the migrations that it
// lacks, in version order. It is safe to call from several goroutines,
// Stores or processes at once: they take turns on an advisory lock keyed by
// the schema name, and each migration is applied once. It is a no-op on an
// up-to-date schema.
//
// A migration runs in its own transaction together with its row in
// kiln_migration, under a transaction-level advisory lock
// (pg_try_advisory_xact_lock: while another migrator holds it, Migrate
// tries again after a pause, never waiting inside a statement, whose
// snapshot a concurrent index build of that migrator would wait for). A
// migration marked as not transactional (its
// first line is "-- kiln:no-transaction", for statements such as CREATE
// INDEX CONCURRENTLY) runs so only while kiln_job holds fewer than
// ConcurrentIndexMinRows rows, with CONCURRENTLY left out of its CREATE
// INDEX and DROP INDEX statements (a moment's SHARE or ACCESS EXCLUSIVE
// lock on a small table). On a larger table it runs instead on one
// connection under a session-level advisory lock with the same key
// (pg_try_advisory_lock, the same way): it first drops the INVALID indexes (named kiln_*) of
// the schema, which an interrupted concurrent build leaves behind, then
// runs its statements one at a time, each committed on its own, and
// inserts its kiln_migration row last. Its statements are idempotent, so a
// run interrupted midway (an error, a cancelled ctx, a lost connection) is
// completed by the next Migrate. A pooler in transaction mode
// (Options.PgBouncer) keeps no session lock: there, such a migration on a
// large table fails with an error saying to run it on a direct connection.
//
// A statement of a migration that takes kiln_job's ACCESS EXCLUSIVE lock
// sets a short lock_timeout (2 s) for its transaction, so that it never
// keeps every enqueue, claim and finish waiting behind it while a long
// transaction holds the table. When it gives up (SQLSTATE 55P03), Migrate
// waits and runs the migrations again, from the one that gave up, up to
// migrateLockRetries times; then it returns that error.
//
// A contract migration (its leading comment has "-- kiln:contract N"; see
// package store/internal/migrate) is applied only when no process
// registered in kiln_server runs a build whose last migration is before N
// (kiln_server.schema_version), checked in its transaction, or before each
// statement when it runs outside one. Otherwise Migrate records nothing for
// it (nor for the contract migrations after it), applies the later
// ordinary migrations, and returns nil: this build runs without it
// (SchemaCheck does not require it), and a later Migrate applies it once
// those processes have stopped. MigrationsHeld says which are held and by
// what.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, 0)
}

// migrate is Migrate up to migration upTo (0: all), with its retries.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	for retry := 0; ; retry++ {
		err := s.migrations.Run(ctx, migrator{s}, upTo)
		if _, held := errors.AsType[*migrate.HeldError](err); err == nil || held {
			return nil
		}
		if !isLockTimeout(err) || retry == migrateLockRetries {
			return fail("migrate", err)
		}
		if s.migrateRetryHook != nil {
			s.migrateRetryHook(err)
		}
		t := time.NewTimer(migrateLockPause * time.Duration(retry+1))
		select {
		case <-ctx.Done():
			t.Stop()
			return fail("migrate", fmt.Errorf("%w (waiting to retry after: %w)", ctx.Err(), err))
		case <-t.C:
		}
	}
}

// migrateLockRetries is how many times Migrate runs the migrations again
// after a statement gave up waiting for kiln_job's lock (lock_timeout), and
// migrateLockPause the pause before the first retry, one more for each
// next: 1, 2, 3, 4, then 5 s, 27 s in all with the six 2 s waits.
const (
	migrateLockRetries = 5
	migrateLockPause   = time.Second
)

// migrator is the PostgreSQL dialect of package migrate: transactions
// under a transaction-level advisory lock keyed by the schema, and
// migrations marked migrate.NoTransactionMark run without CONCURRENTLY in
// one while kiln_job is small, else statement by statement under a
// session-level lock with the same key. See Store.Migrate.
type migrator struct{ s *Store }

var (
	_ migrate.NoTxDialect = migrator{}
	_ migrate.GateDialect = migrator{}
)

// Init creates the schema and kiln_migration, under the lock.
func (d migrator) Init(ctx context.Context) error {
	err := d.InTx(ctx, func(c migrate.Conn) error {
		return c.Exec(ctx, sqlCreateSchema)
	})
	if err != nil {
		return fmt.Errorf("create schema %s: %w", d.s.quoted, err)
	}
	return nil
}

// InTx runs fn in a transaction that holds the lock
// (pg_try_advisory_xact_lock; while another holds it, a new transaction
// tries again after a pause: see untilLocked).
func (d migrator) InTx(ctx context.Context, fn func(migrate.Conn) error) error {
	return d.s.untilLocked(ctx, func() error {
		return d.s.inTx(ctx, func(tx pgx.Tx) error {
			if err := tryLock(ctx, tx, `SELECT pg_try_advisory_xact_lock($1)`, d.s.migrateLockKey()); err != nil {
				return err
			}
			return fn(migrationConn{s: d.s, q: tx})
		})
	})
}

// errLockBusy is tryLock's error when another session holds the
// migration lock.
var errLockBusy = errors.New("the migration lock is held by another session")

// tryLock runs sql, a pg_try_advisory_*lock* of key on q, and returns
// errLockBusy when it did not get the lock.
func tryLock(ctx context.Context, q querier, sql string, key int64) error {
	var locked bool
	if err := q.QueryRow(ctx, sql, key).Scan(&locked); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	if !locked {
		return errLockBusy
	}
	return nil
}

// The pause between two tries of the migration lock (untilLocked): the
// first, then doubled after each try up to the longest.
const (
	lockPauseFirst = 20 * time.Millisecond
	lockPauseMax   = 500 * time.Millisecond
)

// untilLocked runs try, which takes the migration lock without waiting
// (tryLock), again after a pause each time it returns errLockBusy, until
// it returns something else or ctx ends. No session waits for the lock
// inside a statement: a statement waiting for an advisory lock holds a
// snapshot, and a CREATE INDEX CONCURRENTLY of a migration under way
// (which holds the lock for its session) waits for every older snapshot
// of the database; each would wait for the other, and PostgreSQL's
// deadlock detector would abort one, the index build or the waiter.
func (s *Store) untilLocked(ctx context.Context, try func() error) error {
	pause := lockPauseFirst
	for {
		err := try()
		if !errors.Is(err, errLockBusy) {
			return err
		}
		if s.lockRetryHook != nil {
			s.lockRetryHook()
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("wait for the migration lock: %w", ctx.Err())
		case <-t.C:
		}
		pause = min(2*pause, lockPauseMax)
	}
}

// OutsideTx reports whether kiln_job holds ConcurrentIndexMinRows rows or
// more (always, when it is 0 or less).
func (d migrator) OutsideTx(ctx context.Context, c migrate.Conn, _ migrate.Migration) (bool, error) {
	if ConcurrentIndexMinRows <= 0 {
		return true, nil
	}
	var n int
	if err := c.(migrationConn).q.QueryRow(ctx, d.s.expand(sqlJobRowsUpTo), ConcurrentIndexMinRows).Scan(&n); err != nil {
		return false, fmt.Errorf("count jobs: %w", err)
	}
	return n >= ConcurrentIndexMinRows, nil
}

// Statements returns a DROP INDEX CONCURRENTLY IF EXISTS statement for
// each INVALID index that an interrupted concurrent build left
// (sqlInvalidIndexes), then m's statements; in a transaction, with
// CONCURRENTLY left out.
func (d migrator) Statements(ctx context.Context, c migrate.Conn, m migrate.Migration, inTx bool) ([]string, error) {
	rows, err := c.(migrationConn).q.Query(ctx, sqlInvalidIndexes, d.s.schema)
	if err != nil {
		return nil, fmt.Errorf("list invalid indexes: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list invalid indexes: %w", err)
	}
	var stmts []string
	for _, name := range names {
		stmts = append(stmts, `DROP INDEX CONCURRENTLY IF EXISTS `+d.s.quoted+`.`+pgx.Identifier{name}.Sanitize())
	}
	stmts = append(stmts, migrate.Statements(m.SQL)...)
	if inTx {
		for i, stmt := range stmts {
			stmts[i] = concurrently.ReplaceAllString(stmt, "$1")
		}
	}
	return stmts, nil
}

// InSession runs fn on a connection of its own, closed after, under a
// session advisory lock (pg_try_advisory_lock, tried again after a pause
// while another holds it: see untilLocked; closing the connection
// releases it, however the run ends). Behind a pooler in transaction mode
// (Options.PgBouncer), which keeps no session lock, it fails with an error
// that says to run the migration on a direct connection.
func (d migrator) InSession(ctx context.Context, fn func(migrate.Conn) error) error {
	if d.s.pgBouncer {
		return fmt.Errorf("kiln_job holds %d jobs or more, so this migration builds its indexes concurrently, "+
			"outside a transaction and under a session lock, which a pooler in transaction mode (Options.PgBouncer) "+
			"does not keep: run it on a direct connection to PostgreSQL (kiln migrate with a URL that does not go "+
			"through the pooler, without kiln_pgbouncer)", ConcurrentIndexMinRows)
	}
	pooled, err := d.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The session's lock and whatever state an interrupted statement left
	// must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	err = d.s.untilLocked(ctx, func() error {
		return tryLock(ctx, conn, `SELECT pg_try_advisory_lock($1)`, d.s.migrateLockKey())
	})
	if err != nil {
		return err
	}
	return fn(migrationConn{s: d.s, q: conn})
}

// sqlServersOlder lists the registered processes whose build's last
// migration is before $1. A row's schema_version counts only when the
// process that wrote it wrote the row's started_at too
// (schema_version_started_at, migration 031): a process of a build before
// 031 that took over the row of a later build's process (the same
// Config.ID) leaves that process's version behind, and builds before 029
// write none; such rows read 0, older than any contract migration, and so
// do every row of builds 029 and 030, which do not write
// schema_version_started_at.
const sqlServersOlder = `SELECT id, host, pid, last, heartbeat_at FROM (
	SELECT id, host, pid, heartbeat_at,
		CASE WHEN schema_version_started_at = started_at THEN schema_version ELSE 0 END AS last
	FROM {s}.kiln_server) AS s
WHERE last < $1 ORDER BY id`

// Older describes the processes registered in kiln_server whose build's
// last migration is before version, one line each, read on c.
func (d migrator) Older(ctx context.Context, c migrate.Conn, version int) ([]string, error) {
	rows, err := c.(migrationConn).q.Query(ctx, d.s.expand(sqlServersOlder), version)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
		var (
			id, host    string
			pid, last   int
			refreshedAt time.Time
		)
		if err := row.Scan(&id, &host, &pid, &last, &refreshedAt); err != nil {
			return "", err
		}
		return migrate.OlderProcess(id, host, pid, last, refreshedAt), nil
	})
}

// migrationConn is a migrate.Conn: a transaction or a session of the
// migrator's.
type migrationConn struct {
	s *Store
	q querier
}

// sqlMigrationApplied says whether migration $1 was applied.
const sqlMigrationApplied = `SELECT EXISTS (SELECT 1 FROM {s}.kiln_migration WHERE version = $1)`

// sqlMigrationRecord records migration $1, named $2, as applied;
// sqlMigrationRecordContract a contract migration, with its N ($3: the
// column, added by migration 030, exists when a contract migration runs).
const (
	sqlMigrationRecord         = `INSERT INTO {s}.kiln_migration (version, name) VALUES ($1, $2)`
	sqlMigrationRecordContract = `INSERT INTO {s}.kiln_migration (version, name, contract) VALUES ($1, $2, $3)`
)

// Applied reports whether kiln_migration has a row for version.
func (c migrationConn) Applied(ctx context.Context, version int) (bool, error) {
	var applied bool
	err := c.q.QueryRow(ctx, c.s.expand(sqlMigrationApplied), version).Scan(&applied)
	return applied, err
}

// Exec runs sql with the schema in place of {s}, after telling
// s.migrateHook.
func (c migrationConn) Exec(ctx context.Context, sql string) error {
	sql = c.s.expand(sql)
	if c.s.migrateHook != nil {
		c.s.migrateHook(sql)
	}
	_, err := c.q.Exec(ctx, sql)
	return err
}

// Record inserts m's row in kiln_migration, with its Contract for a
// contract migration.
func (c migrationConn) Record(ctx context.Context, m migrate.Migration) error {
	if m.Contract > 0 {
		_, err := c.q.Exec(ctx, c.s.expand(sqlMigrationRecordContract), m.Version, m.Name, m.Contract)
		return err
	}
	_, err := c.q.Exec(ctx, c.s.expand(sqlMigrationRecord), m.Version, m.Name)
	return err
}

// sqlInvalidIndexes lists the INVALID indexes named kiln_* of schema $1:
// those an interrupted CREATE INDEX CONCURRENTLY left. (An index being
// built concurrently is INVALID too, but Kiln builds its indexes only
// under the migration lock that the migrator holds.)
const sqlInvalidIndexes = `SELECT c.relname FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND NOT i.indisvalid AND c.relname LIKE 'kiln\_%'
ORDER BY c.relname`

// sqlJobRowsUpTo counts the rows of kiln_job, up to $1: it reads at most
// $1 of them, whatever the table's size.
const sqlJobRowsUpTo = `SELECT count(*) FROM (SELECT FROM {s}.kiln_job LIMIT $1) AS j`

// concurrently matches the CONCURRENTLY of a CREATE INDEX or DROP INDEX
// statement.
var concurrently = regexp.MustCompile(`^((?:CREATE\s+(?:UNIQUE\s+)?|DROP\s+)INDEX\s+)CONCURRENTLY\s+`)

// SchemaCheck returns nil when the schema has every migration this build
// knows (or newer ones), leaving aside the contract migrations that
// Migrate holds back (see Migrate), and a wrapped kilntype.ErrSchemaMissing,
// whose message says to run `kiln migrate`, when the schema or a Kiln
// table is absent or a migration is missing. It fails too (not
// ErrSchemaMissing) when a later build applied a contract migration for
// builds from a migration after this build's last (kiln_migration's
// contract column): this build would meet a schema it cannot run on.
//
// It reads in a transaction that first takes the migration lock in
// shared mode (pg_try_advisory_xact_lock_shared; while a migrator holds
// it, a new transaction tries again after a pause, until ctx ends: see
// untilLocked), so it waits for a migration under way (in a transaction,
// or statement by statement under the session lock) to end, and reads
// what it left. A client registers
// (ServerUpsert) before it checks the schema: a contract migration whose
// gate read the registry before the row was written has then been
// recorded by the time the check reads kiln_migration, and the check
// refuses it; one whose gate reads after sees the row and is held back.
func (s *Store) SchemaCheck(ctx context.Context) error {
	err := s.untilLocked(ctx, func() error { return s.schemaCheck(ctx) })
	if err != nil {
		return fail("check schema", err)
	}
	return nil
}

// schemaCheck is SchemaCheck's transaction; it returns errLockBusy when a
// migrator holds the migration lock.
func (s *Store) schemaCheck(ctx context.Context) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := tryLock(ctx, tx, `SELECT pg_try_advisory_xact_lock_shared($1)`, s.migrateLockKey()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT tablename FROM pg_catalog.pg_tables
		WHERE schemaname = $1 AND tablename LIKE 'kiln\_%'`, s.schema)
		if err != nil {
			return err
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		return s.migrations.Check(migrate.Database{Name: "schema " + s.quoted, TablePrefix: s.quoted + ".", Tables: tables,
			Versions: func() ([]int, error) {
				rows, err := tx.Query(ctx, s.sql(`SELECT version FROM {s}.kiln_migration`))
				if err != nil {
					return nil, err
				}
				return pgx.CollectRows(rows, pgx.RowTo[int])
			},
			Contract: func() (int, error) {
				var n int
				err := tx.QueryRow(ctx, s.sql(`SELECT coalesce(max(contract), 0) FROM {s}.kiln_migration`)).Scan(&n)
				return n, err
			}})
	})
}

// MigrationsHeld returns the contract migrations of this build that the
// schema lacks, in order, each with the registered processes of older
// builds that hold it back (see Migrate), nil when there are none. It
// takes the migration lock for a moment and changes nothing. It is meant
// for a migrated schema (SchemaCheck passes): before Migrate, it fails
// (wrapping kilntype.ErrSchemaMissing when the schema or its tables are
// missing) if this build has a contract migration, and returns nil if not.
func (s *Store) MigrationsHeld(ctx context.Context) ([]store.HeldMigration, error) {
	held, err := s.migrations.Held(ctx, migrator{s})
	if err != nil {
		return nil, fail("list held migrations", err)
	}
	return held, nil
}
