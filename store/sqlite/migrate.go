package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"

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
func (s *Store) Migrate(ctx context.Context) error {
	if err := migrations.Run(ctx, migrator{s}, 0); err != nil {
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

// Record inserts m's row in kiln_migration.
func (c migrationTx) Record(ctx context.Context, m migrate.Migration) error {
	_, err := c.tx.ExecContext(ctx, `INSERT INTO kiln_migration (version, name) VALUES (?, ?)`, m.Version, m.Name)
	return err
}

// SchemaCheck returns nil when the database has every migration this build
// knows (or newer ones), and a wrapped kilntype.ErrSchemaMissing, whose
// message says to run `kiln migrate`, when a Kiln table is absent or a
// migration is missing. It reads from the reader pool.
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
	err = migrations.Check(migrate.Database{Name: "database", Tables: tables, Version: func() (int, error) {
		var have int
		err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM kiln_migration`).Scan(&have)
		return have, err
	}})
	if err != nil {
		return fail("check schema", err)
	}
	return nil
}
