package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
	"github.com/kilnjobs/kiln/store/storetest"
)

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		path := filepath.Join(t.TempDir(), "kiln.db")
		s := open(t, path, &sqlite.Options{Migrate: true})
		t.Cleanup(func() { checkCounters(t, path) })
		return s
	})
}

// checkCounters checks, when a contract test ends, that kiln_job_count
// holds as many jobs of each queue and state as kiln_job: whichever path
// the test took (counted by the triggers or by the statements themselves,
// migrations 026 and 027), the counters must be exact.
func checkCounters(t *testing.T, path string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.QueryContext(context.Background(), `SELECT coalesce(c.queue, j.queue), coalesce(c.state, j.state),
	coalesce(c.jobs, 0), coalesce(j.n, 0)
FROM kiln_job_count AS c FULL JOIN (SELECT queue, state, count(*) AS n FROM kiln_job GROUP BY queue, state) AS j
	ON j.queue = c.queue AND j.state = c.state
WHERE coalesce(c.jobs, 0) <> coalesce(j.n, 0)`)
	if err != nil {
		t.Fatalf("check the counters: %v", err)
	}
	defer rows.Close()
	for rows.Next() {
		var queue, state string
		var counted, n int
		if err := rows.Scan(&queue, &state, &counted, &n); err != nil {
			t.Fatal(err)
		}
		t.Errorf("kiln_job_count says %d jobs %s in queue %q; kiln_job holds %d", counted, state, queue, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestStoreAcrossStores runs the contract's races across two Stores on one
// file, as two processes would open it.
func TestStoreAcrossStores(t *testing.T) {
	t.Parallel()
	storetest.RunAcrossStores(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "kiln.db")
		a, b := open(t, path, &sqlite.Options{Migrate: true}), open(t, path, &sqlite.Options{Migrate: true})
		t.Cleanup(func() { checkCounters(t, path) })
		return a, b
	})
}

// open opens path and closes the store when t ends.
func open(t *testing.T, path string, opts *sqlite.Options) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts)
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

var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func TestSchemaMissingBeforeMigrate(t *testing.T) {
	t.Parallel()
	storetest.CheckSchemaMissingBeforeMigrate(t, open(t, filepath.Join(t.TempDir(), "kiln.db"), nil))
}

func TestOpenRejectsURIs(t *testing.T) {
	t.Parallel()
	for _, path := range []string{"", ":memory:", "file:kiln.db", "kiln.db?mode=ro"} {
		if s, err := sqlite.Open(t.Context(), path, nil); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", path)
		}
	}
}

func TestCloseTwice(t *testing.T) {
	t.Parallel()
	s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.JobGet(t.Context(), &store.JobGetParams{ID: 1}); !errors.Is(err, kilntype.ErrNotFound) {
		t.Fatalf("JobGet: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("first Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestMigrateConcurrently migrates one new file from several Stores at once,
// as several processes starting together would.
func TestMigrateConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	storetest.CheckMigrateConcurrently(t, func() store.Store { return open(t, path, nil) })
}

// TestReadersSeeWrites checks that the reader pool sees what the writer
// committed, through another Store too.
func TestReadersSeeWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kiln.db")
	a := open(t, path, &sqlite.Options{Migrate: true})
	b := open(t, path, &sqlite.Options{ReadConns: 1})
	res, err := a.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`),
		Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []*sqlite.Store{a, b} {
		if _, err := s.JobGet(ctx, &store.JobGetParams{ID: res[0].Job.ID}); err != nil {
			t.Errorf("JobGet: %v", err)
		}
	}
}
