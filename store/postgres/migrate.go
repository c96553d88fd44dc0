package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
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

// loadMigrations reads migrationFiles once, in version order.
var loadMigrations = sync.OnceValues(func() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations")
})

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
// (pg_advisory_xact_lock). A migration marked as not transactional (its
// first line is "-- kiln:no-transaction", for statements such as CREATE
// INDEX CONCURRENTLY) runs so only while kiln_job holds fewer than
// ConcurrentIndexMinRows rows, with CONCURRENTLY left out of its CREATE
// INDEX and DROP INDEX statements (a moment's SHARE or ACCESS EXCLUSIVE
// lock on a small table). On a larger table it runs instead on one
// connection under a session-level advisory lock with the same key
// (pg_advisory_lock): it first drops the INVALID indexes (named kiln_*) of
// the schema, which an interrupted concurrent build leaves behind, then
// runs its statements one at a time, each committed on its own, and
// inserts its kiln_migration row last. Its statements are idempotent, so a
// run interrupted midway (an error, a cancelled ctx, a lost connection) is
// completed by the next Migrate. A pooler in transaction mode
// (Options.PgBouncer) keeps no session lock: there, such a migration on a
// large table fails with an error saying to run it on a direct connection.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, 0)
}

// migrateTo is Migrate, stopping after migration version upTo (0: the last
// one). Upgrade tests use it to build a schema of an earlier version.
func (s *Store) migrateTo(ctx context.Context, upTo int) error {
	ms, err := loadMigrations()
	if err != nil {
		return fail("migrate", err)
	}
	key := s.migrateLockKey()
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		_, err := tx.Exec(ctx, s.expand(sqlCreateSchema))
		return err
	})
	if err != nil {
		return fail(fmt.Sprintf("migrate: create schema %s", s.quoted), err)
	}
	err = migrate.Run(ctx, ms, upTo, func(ctx context.Context, m migrate.Migration) error {
		if m.NoTx {
			return s.applyNoTx(ctx, m, key)
		}
		return s.apply(ctx, m, key)
	})
	if err != nil {
		return fail("migrate", err)
	}
	return nil
}

// sqlMigrationApplied says whether migration $1 was applied.
const sqlMigrationApplied = `SELECT EXISTS (SELECT 1 FROM {s}.kiln_migration WHERE version = $1)`

// sqlMigrationRecord records migration $1, named $2, as applied.
const sqlMigrationRecord = `INSERT INTO {s}.kiln_migration (version, name) VALUES ($1, $2)`

// lockPending takes the transaction-level migration lock key in tx and
// reports whether m is still to apply (kiln_migration has no row for it).
func (s *Store) lockPending(ctx context.Context, tx pgx.Tx, m migrate.Migration, key int64) (bool, error) {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
		return false, fmt.Errorf("lock: %w", err)
	}
	var applied bool
	if err := tx.QueryRow(ctx, s.expand(sqlMigrationApplied), m.Version).Scan(&applied); err != nil {
		return false, err
	}
	return !applied, nil
}

// apply applies m unless kiln_migration says it was, under the lock key.
func (s *Store) apply(ctx context.Context, m migrate.Migration, key int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if pending, err := s.lockPending(ctx, tx, m, key); err != nil || !pending {
			return err
		}
		if _, err := tx.Exec(ctx, s.expand(m.SQL)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.expand(sqlMigrationRecord), m.Version, m.Name)
		return err
	})
}

// sqlInvalidIndexes lists the INVALID indexes named kiln_* of schema $1:
// those an interrupted CREATE INDEX CONCURRENTLY left. (An index being
// built concurrently is INVALID too, but Kiln builds its indexes only
// under the migration lock that applyConcurrently holds.)
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

// applyNoTx applies m, a migration marked migrate.NoTransactionMark, unless
// kiln_migration says it was: in one transaction under the lock key,
// without CONCURRENTLY, while kiln_job is small, else statement by
// statement (applyConcurrently). See Migrate.
func (s *Store) applyNoTx(ctx context.Context, m migrate.Migration, key int64) error {
	large := false
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if pending, err := s.lockPending(ctx, tx, m, key); err != nil || !pending {
			return err
		}
		if ConcurrentIndexMinRows <= 0 {
			large = true
			return nil
		}
		var n int
		if err := tx.QueryRow(ctx, s.expand(sqlJobRowsUpTo), ConcurrentIndexMinRows).Scan(&n); err != nil {
			return fmt.Errorf("count jobs: %w", err)
		}
		if large = n >= ConcurrentIndexMinRows; large {
			return nil
		}
		stmts, err := s.invalidIndexDrops(ctx, tx)
		if err != nil {
			return err
		}
		for _, stmt := range append(stmts, statements(s.expand(m.SQL))...) {
			if err := s.execMigration(ctx, tx, concurrently.ReplaceAllString(stmt, "$1")); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, s.expand(sqlMigrationRecord), m.Version, m.Name)
		return err
	})
	if err != nil || !large {
		return err
	}
	if s.pgBouncer {
		return fmt.Errorf("kiln_job holds %d jobs or more, so this migration builds its indexes concurrently, "+
			"outside a transaction and under a session lock, which a pooler in transaction mode (Options.PgBouncer) "+
			"does not keep: run it on a direct connection to PostgreSQL (kiln migrate with a URL that does not go "+
			"through the pooler, without kiln_pgbouncer)", ConcurrentIndexMinRows)
	}
	return s.applyConcurrently(ctx, m, key)
}

// applyConcurrently applies m, a migration marked
// migrate.NoTransactionMark, unless kiln_migration says it was: on a
// connection of its own, closed after, under a session advisory lock on
// key (closing the connection releases it, however the run ends),
// dropping the INVALID indexes first and each statement committed on its
// own. See Migrate.
func (s *Store) applyConcurrently(ctx context.Context, m migrate.Migration, key int64) error {
	pooled, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The session's lock and whatever state an interrupted statement left
	// must not go back to the pool.
	conn := pooled.Hijack()
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	var applied bool
	if err := conn.QueryRow(ctx, s.expand(sqlMigrationApplied), m.Version).Scan(&applied); err != nil {
		return err
	}
	if applied {
		return nil
	}
	stmts, err := s.invalidIndexDrops(ctx, conn)
	if err != nil {
		return err
	}
	for _, stmt := range append(stmts, statements(s.expand(m.SQL))...) {
		if err := s.execMigration(ctx, conn, stmt); err != nil {
			return err
		}
	}
	_, err = conn.Exec(ctx, s.expand(sqlMigrationRecord), m.Version, m.Name)
	return err
}

// invalidIndexDrops returns a DROP INDEX CONCURRENTLY IF EXISTS statement
// for each INVALID index of sqlInvalidIndexes.
func (s *Store) invalidIndexDrops(ctx context.Context, q querier) ([]string, error) {
	rows, err := q.Query(ctx, sqlInvalidIndexes, s.schema)
	if err != nil {
		return nil, fmt.Errorf("list invalid indexes: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("list invalid indexes: %w", err)
	}
	stmts := make([]string, len(names))
	for i, name := range names {
		stmts[i] = `DROP INDEX CONCURRENTLY IF EXISTS ` + s.quoted + `.` + pgx.Identifier{name}.Sanitize()
	}
	return stmts, nil
}

// execMigration runs one statement of a migration marked
// migrate.NoTransactionMark on q, and tells s.noTxHook.
func (s *Store) execMigration(ctx context.Context, q querier, stmt string) error {
	if s.noTxHook != nil {
		s.noTxHook(stmt)
	}
	if _, err := q.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", firstLine(stmt), err)
	}
	return nil
}

// statements splits a migration run outside a transaction into its
// statements: each ends with ";" at the end of a line. Lines that are only
// comments are left out, and so are the chunks they leave empty.
func statements(sql string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for line := range strings.Lines(sql) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// firstLine returns stmt's first line, to name it in an error.
func firstLine(stmt string) string {
	line, _, _ := strings.Cut(stmt, "\n")
	return line
}

// schemaTables are the tables the current schema must have.
var schemaTables = []string{"kiln_migration", "kiln_job", "kiln_job_attempt", "kiln_leader",
	"kiln_recurring", "kiln_recurring_occurrence", "kiln_service",
	"kiln_job_parent", "kiln_batch", "kiln_batch_job", "kiln_queue"}

// SchemaCheck returns nil when the schema has every migration this build
// knows (or newer ones), and a wrapped kilntype.ErrSchemaMissing, whose
// message says to run `kiln migrate`, when the schema or a Kiln table is
// absent or a migration is missing.
func (s *Store) SchemaCheck(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fail("check schema", err)
	}
	want := migrate.Latest(ms)

	rows, err := s.pool.Query(ctx, `SELECT tablename FROM pg_catalog.pg_tables
		WHERE schemaname = $1 AND tablename LIKE 'kiln\_%'`, s.schema)
	if err != nil {
		return fail("check schema", err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fail("check schema", err)
	}
	if len(tables) == 0 {
		return fail("check schema", fmt.Errorf("schema %s has no Kiln tables: %w", s.quoted, kilntype.ErrSchemaMissing))
	}
	for _, t := range schemaTables {
		if !slices.Contains(tables, t) {
			return fail("check schema", fmt.Errorf("table %s.%s is missing: %w", s.quoted, t, kilntype.ErrSchemaMissing))
		}
	}

	var have int
	if err := s.pool.QueryRow(ctx, s.sql(`SELECT coalesce(max(version), 0) FROM {s}.kiln_migration`)).Scan(&have); err != nil {
		return fail("check schema", err)
	}
	if have < want {
		return fail("check schema", fmt.Errorf("schema %s is at version %d, want %d: %w",
			s.quoted, have, want, kilntype.ErrSchemaMissing))
	}
	return nil
}
