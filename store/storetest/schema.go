package storetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func testSchema(t *testing.T, newStore NewStoreFunc) {
	t.Run("CheckMigrated", func(t *testing.T) {
		f := newFixture(t, newStore)
		if err := f.s.SchemaCheck(f.ctx); err != nil {
			t.Errorf("SchemaCheck on a migrated store: %v", err)
		}
	})

	t.Run("NoMigrationsHeld", func(t *testing.T) {
		f := newFixture(t, newStore)
		// A process of this build is registered: it holds back no
		// migration of its own build.
		row := &kilntype.ServerRow{ID: "p", Host: "h", PID: 1, StartedAt: base, RefreshedAt: base}
		if err := f.s.ServerUpsert(f.ctx, &store.ServerUpsertParams{Row: row}); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Migrate(f.ctx); err != nil {
			t.Fatal(err)
		}
		if held, err := f.s.MigrationsHeld(f.ctx); err != nil || len(held) != 0 {
			t.Errorf("MigrationsHeld on a migrated store: %v, %v; want none", held, err)
		}
	})

	t.Run("MigrateAgainIsNoOp", func(t *testing.T) {
		f := newFixture(t, newStore)
		job := f.insert()
		for range 2 {
			if err := f.s.Migrate(f.ctx); err != nil {
				t.Fatalf("Migrate on a migrated store: %v", err)
			}
		}
		if err := f.s.SchemaCheck(f.ctx); err != nil {
			t.Errorf("SchemaCheck: %v", err)
		}
		wantSameJob(t, f.get(job.ID), job)
	})
}

// CheckSchemaMissingBeforeMigrate checks a store s opened on a new,
// unmigrated database: SchemaCheck, JobClaim, JobGet and RecurringGet
// return a wrapped kilntype.ErrSchemaMissing (SchemaCheck's message says to
// run `kiln migrate`); after s.Migrate, SchemaCheck passes and the store
// works (no statement of the failed first uses is kept: a claim succeeds
// and JobGet of a job that does not exist says ErrNotFound). s stays
// migrated, for checks of the backend's own.
func CheckSchemaMissingBeforeMigrate(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	err := s.SchemaCheck(ctx)
	if !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Fatalf("SchemaCheck before Migrate: %v, want ErrSchemaMissing", err)
	}
	if !strings.Contains(err.Error(), "kiln migrate") {
		t.Errorf("SchemaCheck error %q does not say to run `kiln migrate`", err)
	}
	claim := &store.JobClaimParams{Queue: "default", Max: 1, AnyKind: true, Now: base}
	if _, err := s.JobClaim(ctx, claim); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("JobClaim before Migrate: %v, want ErrSchemaMissing", err)
	}
	if _, err := s.JobGet(ctx, &store.JobGetParams{ID: 1}); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("JobGet before Migrate: %v, want ErrSchemaMissing", err)
	}
	if _, err := s.RecurringGet(ctx, &store.RecurringGetParams{ID: "e"}); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("RecurringGet before Migrate: %v, want ErrSchemaMissing", err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Errorf("SchemaCheck after Migrate: %v", err)
	}
	if _, err := s.JobClaim(ctx, claim); err != nil {
		t.Errorf("JobClaim after Migrate: %v", err)
	}
	if _, err := s.JobGet(ctx, &store.JobGetParams{ID: 1}); !errors.Is(err, kilntype.ErrNotFound) {
		t.Errorf("JobGet after Migrate: %v, want ErrNotFound", err)
	}
}
