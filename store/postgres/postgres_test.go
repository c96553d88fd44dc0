package postgres_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/storetest"
)

var (
	testURL   = postgres.URLForTest
	newSchema = postgres.SchemaForTest
	open      = postgres.OpenForTest
	newStore  = postgres.NewForTest
)

func TestStore(t *testing.T) {
	t.Parallel()
	testURL(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t) })
}

// TestStoreAcrossStores runs the contract's races across two Stores (two
// pools) on one schema, as two processes would open it.
func TestStoreAcrossStores(t *testing.T) {
	t.Parallel()
	testURL(t)
	storetest.RunAcrossStores(t, func(t *testing.T) (store.Store, store.Store) {
		schema := newSchema(t)
		return open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true}),
			open(t, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: true})
	})
}

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// jobParams returns n insert params of available jobs of kind "noop".
func jobParams(n int) []*store.JobInsertParams {
	ps := make([]*store.JobInsertParams, n)
	for i := range ps {
		ps[i] = &store.JobInsertParams{Kind: "noop", Queue: "default", Args: []byte(`{}`),
			Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
	}
	return ps
}

func TestSchemaMissingBeforeMigrate(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, &postgres.Options{Schema: newSchema(t)})
	// pgx's statement cache must hold no stale statement of the failed
	// first uses.
	storetest.CheckSchemaMissingBeforeMigrate(t, s)

	// A schema behind this build's migrations: without its last ordinary
	// one (SchemaCheck does not require a contract migration).
	if _, err := s.Pool().Exec(ctx, `DELETE FROM `+pgx.Identifier{s.Schema()}.Sanitize()+
		`.kiln_migration WHERE version = (SELECT max(version) FROM `+pgx.Identifier{s.Schema()}.Sanitize()+
		`.kiln_migration WHERE contract = 0)`); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("SchemaCheck of an old schema: %v, want ErrSchemaMissing", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	testURL(t)
	ctx := t.Context()
	for _, tc := range []struct {
		name, url string
		want      []string
	}{
		{"Malformed", "postgres://kiln:s3cret@[::1/kiln", []string{"postgres: open", "parse connection URL"}},
		{"UnknownParam", "postgres://kiln:s3cret@127.0.0.1/kiln?pool_max_conns=many", []string{"postgres: open"}},
		{"Unreachable", "postgres://kiln:s3cret@127.0.0.1:1/kiln?connect_timeout=5&sslmode=disable",
			[]string{"postgres: open", `database "kiln" on 127.0.0.1:1`, "cannot connect"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := postgres.Open(ctx, tc.url, nil)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded, want an error", tc.url)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows the password", err)
			}
		})
	}
	if _, err := postgres.Open(ctx, testURL(t), &postgres.Options{Schema: strings.Repeat("x", 64)}); err == nil {
		t.Error("Open with a 64-byte schema name succeeded")
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s, err := postgres.Open(t.Context(), testURL(t), &postgres.Options{Schema: newSchema(t), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobGet(t.Context(), &store.JobGetParams{ID: 1}); !errors.Is(err, kilntype.ErrNotFound) {
		t.Fatalf("JobGet: %v", err)
	}
	for i := range 2 {
		if err := s.Close(); err != nil {
			t.Errorf("Close %d: %v", i+1, err)
		}
	}
}

// TestNewOnCallersPool runs a Store on a pool the test owns, whose
// connections have a search_path without the Store's schema: Close leaves
// the pool open, and the caller's transaction decides about
// JobInsertManyTx's jobs.
func TestNewOnCallersPool(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = "pg_catalog"
	cfg.ConnConfig.RuntimeParams["timezone"] = "America/New_York"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schema := newSchema(t)
	s, err := postgres.New(pool, &postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.JobInsertManyTx(ctx, tx, jobParams(2))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobGet(ctx, &store.JobGetParams{ID: res[0].Job.ID}); !errors.Is(err, kilntype.ErrNotFound) {
		t.Errorf("job of a rolled back transaction: %v, want ErrNotFound", err)
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		res, err = s.JobInsertManyTx(ctx, tx, jobParams(1))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.JobGet(ctx, &store.JobGetParams{ID: res[0].Job.ID})
	if err != nil {
		t.Fatal(err)
	}
	if got.CreatedAt.Location() != time.UTC || !got.CreatedAt.Equal(base) {
		t.Errorf("CreatedAt = %v, want %v in UTC whatever the session's time zone", got.CreatedAt, base)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.Ping(ctx); err != nil {
		t.Errorf("the caller's pool after Close: %v", err)
	}
}

// TestMigrateConcurrently migrates one new schema from several Stores at
// once, as several processes starting together would.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	schema := newSchema(t)
	stores := storetest.CheckMigrateConcurrently(t, func() store.Store {
		return open(t, &postgres.Options{Schema: schema, MaxConns: 2})
	})
	var applied, versions int
	if err := stores[0].(*postgres.Store).Pool().QueryRow(t.Context(), `SELECT count(*), count(DISTINCT version) FROM `+
		pgx.Identifier{schema}.Sanitize()+`.kiln_migration`).Scan(&applied, &versions); err != nil {
		t.Fatal(err)
	}
	if applied != versions || applied < 2 {
		t.Errorf("kiln_migration has %d rows for %d versions", applied, versions)
	}
}
