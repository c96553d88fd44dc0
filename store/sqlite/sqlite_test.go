package sqlite_test

import (
	"context"
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
		return open(t, filepath.Join(t.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	})
}

// TestStoreAcrossStores runs the contract's races across two Stores on one
// file, as two processes would open it.
func TestStoreAcrossStores(t *testing.T) {
	t.Parallel()
	storetest.RunAcrossStores(t, func(t *testing.T) (store.Store, store.Store) {
		path := filepath.Join(t.TempDir(), "kiln.db")
		return open(t, path, &sqlite.Options{Migrate: true}), open(t, path, &sqlite.Options{Migrate: true})
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
