package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
)

// migrationFiles holds the schema migrations, named NNN_what.sql; NNN is the
// version, from 1, without gaps (see package store/internal/migrate).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrations are migrationFiles, read once.
var migrations = migrate.NewFiles(migrationFiles, "migrations")

// sqlCreateMigrationTable creates the table of applied migrations.
const sqlCreateMigrationTable = `CREATE TABLE IF NOT EXISTS kiln_migration (
	version INTEGER PRIMARY KEY,
	name    TEXT NOT NULL
) STRICT`

// Migrate applies the migrations that the database lacks, in version order,
// each in its own IMMEDIATE transaction together with its row in
// kiln_migration. It is a no-op on an up-to-date schema, and it is safe to
// call from several goroutines, Stores or processes at once: they take turns
// on the write lock and each migration is applied once. A migrator that
// waited the whole busy timeout for the lock waits again as long as another
// applied a migration meanwhile (several processes started at once on a
// slow machine take turns for longer than one timeout), and fails with the
// SQLITE_BUSY error otherwise, or when ctx ends.
//
// A contract migration (its leading comment has "-- kiln:contract N"; see
// package store/internal/migrate) is applied only when no process
// registered in kiln_server runs a build whose last migration is before N
// (kiln_server.schema_version), checked in its transaction. Otherwise
// Migrate records nothing for it (nor for the contract migrations after
// it), applies the later ordinary migrations, and returns nil: this build
// runs without it (SchemaCheck does not require it), and a later Migrate
// applies it once those processes have stopped. MigrationsHeld says which
// are held and by what.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrate(ctx, 0)
}

// migrate is Migrate up to migration upTo (0: all).
func (s *Store) migrate(ctx context.Context, upTo int) error {
	err := s.migrations.Run(ctx, migrator{s}, upTo)
	if _, held := errors.AsType[*migrate.HeldError](err); err != nil && !held {
		return fail("migrate", err)
	}
	return nil
}

// migrator is the SQLite dialect of package migrate: each migration in an
// IMMEDIATE transaction of the writer (which holds the write lock from its
// start). SQLite has no use for migrate.NoTransactionMark: such a
// migration runs as any other.
type migrator struct{ s *Store }

// Init creates kiln_migration.
func (d migrator) Init(ctx context.Context) error {
	err := d.whileOthersMigrate(ctx, func() error {
		_, err := d.s.w.ExecContext(ctx, sqlCreateMigrationTable)
		return err
	})
	if err != nil {
		return fmt.Errorf("create kiln_migration: %w", err)
	}
	return nil
}

// migrationsBusy, if set (by tests), is called after a step of
// whileOthersMigrate failed with SQLITE_BUSY, before kiln_migration is read.
var migrationsBusy func()

// whileOthersMigrate runs step, and again after each SQLITE_BUSY as long as
// kiln_migration, read by the reader pool (WAL readers do not wait for the
// writer), gained rows while step waited: the lock was held by migrators
// that are making progress. It returns step's error otherwise.
func (d migrator) whileOthersMigrate(ctx context.Context, step func() error) error {
	applied := func() int {
		var n int
		_ = d.s.r.QueryRowContext(ctx, `SELECT count(*) FROM kiln_migration`).Scan(&n) // none before Init
		return n
	}
	for {
		before := applied()
		err := step()
		if err == nil || !isBusy(err) || ctx.Err() != nil {
			return err
		}
		if migrationsBusy != nil {
			migrationsBusy()
		}
		if applied() <= before {
			return err
		}
	}
}

// InTx runs fn in an IMMEDIATE transaction of the writer, waiting for the
// write lock while other migrators make progress (whileOthersMigrate).
func (d migrator) InTx(ctx context.Context, fn func(migrate.Conn) error) error {
	return d.whileOthersMigrate(ctx, func() error { return d.inTx(ctx, fn) })
}

// inTx runs fn in an IMMEDIATE transaction of the writer.
func (d migrator) inTx(ctx context.Context, fn func(migrate.Conn) error) error {
	tx, err := d.s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(migrationTx{tx}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

var _ migrate.GateDialect = migrator{}

// Older describes the processes registered in kiln_server whose build's
// last migration is before version, one line each, read in c's
// transaction. A row's schema_version counts only when the process that
// wrote it wrote the row's started_at too (schema_version_started_at,
// migration 034): a process of a build before 034 that took over the row
// of a later build's process (the same Config.ID) leaves that process's
// version behind, and builds before 032 write none; such rows read 0,
// older than any contract migration, and so do every row of builds 032
// and 033, which do not write schema_version_started_at.
func (d migrator) Older(ctx context.Context, c migrate.Conn, version int) ([]string, error) {
	rows, err := c.(migrationTx).tx.QueryContext(ctx, `SELECT id, host, pid, last, heartbeat_at FROM (
	SELECT id, host, pid, heartbeat_at,
		CASE WHEN schema_version_started_at = started_at THEN schema_version ELSE 0 END AS last
	FROM kiln_server)
WHERE last < ? ORDER BY id`, version)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var (
			id, host    string
			pid, last   int
			refreshedAt int64
		)
		if err := rows.Scan(&id, &host, &pid, &last, &refreshedAt); err != nil {
			return nil, err
		}
		out = append(out, migrate.OlderProcess(id, host, pid, last, fromMicros(refreshedAt)))
	}
	return out, rows.Err()
}

// migrationTx is a migrate.Conn: a transaction of the migrator's.
type migrationTx struct{ tx *sql.Tx }

// Applied reports whether kiln_migration has a row for version.
func (c migrationTx) Applied(ctx context.Context, version int) (bool, error) {
	var n int
	err := c.tx.QueryRowContext(ctx, `SELECT count(*) FROM kiln_migration WHERE version = ?`, version).Scan(&n)
	return n > 0, err
}

// Exec runs text.
func (c migrationTx) Exec(ctx context.Context, text string) error {
	_, err := c.tx.ExecContext(ctx, text)
	return err
}

// Record inserts m's row in kiln_migration, with its Contract for a
// contract migration (the column, added by migration 033, exists when a
// contract migration runs).
func (c migrationTx) Record(ctx context.Context, m migrate.Migration) error {
	if m.Contract > 0 {
		_, err := c.tx.ExecContext(ctx, `INSERT INTO kiln_migration (version, name, contract) VALUES (?, ?, ?)`,
			m.Version, m.Name, m.Contract)
		return err
	}
	_, err := c.tx.ExecContext(ctx, `INSERT INTO kiln_migration (version, name) VALUES (?, ?)`, m.Version, m.Name)
	return err
}

// SchemaCheck returns nil when the database has every migration this build
// knows (or newer ones), leaving aside the contract migrations that
// Migrate holds back (see Migrate), and a wrapped
// kilntype.ErrSchemaMissing, whose message says to run `kiln migrate`, when
// a Kiln table is absent or a migration is missing. It fails too (not
// ErrSchemaMissing) when a later build applied a contract migration for
// builds from a migration after this build's last (kiln_migration's
// contract column): this build would meet a schema it cannot run on. It
// reads from the reader pool.
func (s *Store) SchemaCheck(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'kiln\_%' ESCAPE '\'`)
	if err != nil {
		return fail("check schema", err)
	}
	var tables []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return fail("check schema", err)
		}
		tables = append(tables, name)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fail("check schema", err)
	}
	err = s.migrations.Check(migrate.Database{Name: "database", Tables: tables, Versions: func() ([]int, error) {
		rows, err := s.r.QueryContext(ctx, `SELECT version FROM kiln_migration`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var have []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			have = append(have, v)
		}
		return have, rows.Err()
	},
		Contract: func() (int, error) {
			var n int
			err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(contract), 0) FROM kiln_migration`).Scan(&n)
			return n, err
		}})
	if err != nil {
		return fail("check schema", err)
	}
	return nil
}

// MigrationsHeld returns the contract migrations of this build that the
// database lacks, in order, each with the registered processes of older
// builds that hold it back (see Migrate), nil when there are none. It
// takes the write lock for a moment (an IMMEDIATE transaction) and
// changes nothing. It is meant for a migrated database (SchemaCheck
// passes): before Migrate, it fails (wrapping kilntype.ErrSchemaMissing)
// if this build has a contract migration, and returns nil if not.
func (s *Store) MigrationsHeld(ctx context.Context) ([]store.HeldMigration, error) {
	held, err := s.migrations.Held(ctx, migrator{s})
	if err != nil {
		return nil, fail("list held migrations", err)
	}
	return held, nil
}
