package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store/internal/migrate"
)

// migrationFiles holds the schema migrations, named NNN_what.sql; NNN is the
// version, from 1, without gaps (see package store/internal/migrate).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// loadMigrations reads migrationFiles once, in version order.
var loadMigrations = sync.OnceValues(func() ([]migrate.Migration, error) {
	return migrate.Load(migrationFiles, "migrations")
})

// sqlCreateMigrationTable creates the table of applied migrations.
const sqlCreateMigrationTable = `CREATE TABLE IF NOT EXISTS kiln_migration (
	version INTEGER PRIMARY KEY,
	name    TEXT NOT NULL
) STRICT`

// Migrate applies the migrations that the database lacks, in version order,
// each in its own IMMEDIATE transaction together with its row in
// kiln_migration. It is a no-op on an up-to-date schema, and it is safe to
// call from several goroutines, Stores or processes at once: they take turns
// on the write lock (waiting up to the busy timeout) and each migration is
// applied once.
func (s *Store) Migrate(ctx context.Context) error {
	return s.migrateTo(ctx, 0)
}

// migrateTo is Migrate, stopping after migration version upTo (0: the last
// one). Upgrade tests use it to build a database of an earlier version.
func (s *Store) migrateTo(ctx context.Context, upTo int) error {
	ms, err := loadMigrations()
	if err != nil {
		return fail("migrate", err)
	}
	if _, err := s.w.ExecContext(ctx, sqlCreateMigrationTable); err != nil {
		return fail("migrate: create kiln_migration", err)
	}
	if err := migrate.Run(ctx, ms, upTo, s.apply); err != nil {
		return fail("migrate", err)
	}
	return nil
}

// apply applies m unless kiln_migration says it was.
func (s *Store) apply(ctx context.Context, m migrate.Migration) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var applied int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM kiln_migration WHERE version = ?`,
		m.Version).Scan(&applied); err != nil {
		return err
	}
	if applied > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO kiln_migration (version, name) VALUES (?, ?)`,
		m.Version, m.Name); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// schemaTables are the tables the current schema must have.
var schemaTables = []string{"kiln_migration", "kiln_job", "kiln_job_attempt", "kiln_leader",
	"kiln_recurring", "kiln_recurring_occurrence", "kiln_job_parent", "kiln_batch", "kiln_batch_job", "kiln_service",
	"kiln_queue"}

// SchemaCheck returns nil when the database has every migration this build
// knows (or newer ones), and a wrapped kilntype.ErrSchemaMissing when a Kiln
// table is absent or a migration is missing. It reads from the reader pool.
func (s *Store) SchemaCheck(ctx context.Context) error {
	ms, err := loadMigrations()
	if err != nil {
		return fail("check schema", err)
	}
	want := migrate.Latest(ms)

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
	for _, t := range schemaTables {
		if !slices.Contains(tables, t) {
			return fail("check schema", fmt.Errorf("table %s is missing: %w", t, kilntype.ErrSchemaMissing))
		}
	}

	var have int
	if err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM kiln_migration`).Scan(&have); err != nil {
		return fail("check schema", err)
	}
	if have < want {
		return fail("check schema", fmt.Errorf("schema version %d, want %d: %w", have, want, kilntype.ErrSchemaMissing))
	}
	return nil
}
