package postgres

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
)

// migrationFiles holds the schema migrations, named NNN_what.sql; NNN is the
// version, from 1, without gaps. They name the schema as {s}.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one versioned schema change.
type migration struct {
	version int
	name    string // file name without .sql, e.g. "001_init"
	sql     string // with schemaToken for the schema
}

// loadMigrations parses migrationFiles once, in version order.
var loadMigrations = sync.OnceValues(func() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".sql")
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version: %w", e.Name(), err)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: version, name: name, sql: string(b)})
	}
	slices.SortFunc(ms, func(a, b migration) int { return a.version - b.version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
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
// lacks, in version order, each in its own transaction together with its
// row in kiln_migration. Every transaction first takes a transaction-level
// advisory lock (pg_advisory_xact_lock) keyed by the schema name, so it is
// safe to call from several goroutines, Stores or processes at once: they
// take turns and each migration is applied once. It is a no-op on an
// up-to-date schema.
func (s *Store) Migrate(ctx context.Context) error {
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
	for _, m := range ms {
		if err := s.apply(ctx, m, key); err != nil {
			return fail("migrate: "+m.name, err)
		}
	}
	return nil
}

// apply applies m unless kiln_migration says it was, under the lock key.
func (s *Store) apply(ctx context.Context, m migration, key int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, key); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		var applied bool
		if err := tx.QueryRow(ctx, s.expand(`SELECT EXISTS (SELECT 1 FROM {s}.kiln_migration WHERE version = $1)`),
			m.version).Scan(&applied); err != nil {
			return err
		}
		if applied {
			return nil
		}
		if _, err := tx.Exec(ctx, s.expand(m.sql)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_migration (version, name) VALUES ($1, $2)`),
			m.version, m.name)
		return err
	})
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
	want := ms[len(ms)-1].version

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
