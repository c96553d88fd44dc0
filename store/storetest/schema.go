package storetest

import (
	"testing"
)

func testSchema(t *testing.T, newStore NewStoreFunc) {
	t.Run("CheckMigrated", func(t *testing.T) {
		f := newFixture(t, newStore)
		if err := f.s.SchemaCheck(f.ctx); err != nil {
			t.Errorf("SchemaCheck on a migrated store: %v", err)
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
