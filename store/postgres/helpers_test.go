package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// This file holds the helpers that the tests of this package and of
// package postgres_test share.

// EnvTestURL names the environment variable that gives the test database.
const EnvTestURL = pgtest.EnvURL

// URLForTest returns the test database's URL (see pgtest.URL).
func URLForTest(t testing.TB) string { t.Helper(); return pgtest.URL(t) }

// SchemaForTest returns a schema of the test's own (see pgtest.Schema).
func SchemaForTest(t testing.TB) string { t.Helper(); return pgtest.Schema(t) }

// OpenForTest opens a Store on the test database with opts and closes it
// when t ends.
func OpenForTest(t testing.TB, opts *Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), URLForTest(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// NewForTest returns a migrated Store in a schema of its own. Its lease and
// leadership times are the callers' (Options.CallerClock), so that the
// contract suite, which passes every time in, controls them.
func NewForTest(t testing.TB) *Store {
	t.Helper()
	return OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 4, Migrate: true, CallerClock: true})
}

// migrateTo is Migrate, stopping after migration version upTo (0: the
// last one): upgrade tests build a schema of an earlier version with it.
func (s *Store) migrateTo(ctx context.Context, upTo int) error {
	return s.migrate(ctx, upTo)
}

// MigrateToForTest applies the migrations up to version (see migrateTo),
// for upgrade tests of package postgres_test.
func MigrateToForTest(t testing.TB, s *Store, version int) {
	t.Helper()
	if err := s.migrateTo(t.Context(), version); err != nil {
		t.Fatal(err)
	}
}

// tracedForTest returns a Store on s's schema (CallerClock) whose pool of
// its own passes every statement to tracer; the pool closes when t ends.
func tracedForTest(t testing.TB, s *Store, tracer pgx.QueryTracer) *Store {
	t.Helper()
	return storeOnPoolForTest(t, s, &Options{CallerClock: true}, func(cfg *pgxpool.Config) { cfg.ConnConfig.Tracer = tracer })
}

// storeOnPoolForTest returns a Store with opts on s's schema, on a pool of
// its own whose configuration configure may change (a tracer, an
// execution mode, a connection setting); the pool closes when t ends.
func storeOnPoolForTest(t testing.TB, s *Store, opts *Options, configure func(*pgxpool.Config)) *Store {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URLForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	configure(cfg)
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	o := *opts
	o.Schema = s.schema
	on, err := New(pool, &o)
	if err != nil {
		t.Fatal(err)
	}
	return on
}
