package postgres

import (
	"slices"
	"testing"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestStoreBeforeContract runs the contract suite on schemas migrated up
// to 032, without the contract migration 033: the schema this build runs
// on while a registered process of an older build holds 033 back, where
// kiln_job_partition and kiln_job_state_inflight (which older builds read)
// are written beside migration 032's indexes, and the planner may read
// either. The suite must pass there as on the contracted schema
// (TestStore).
func TestStoreBeforeContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s := OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 4, CallerClock: true})
		MigrateToForTest(t, s, 32)
		indexes, _, _ := jobIndexes(t, s)
		for _, want := range []string{"kiln_job_partition", "kiln_job_state_inflight", "kiln_job_running",
			"kiln_job_partition_available", "kiln_job_state_waiting"} {
			if !slices.Contains(indexes, want) {
				t.Fatalf("indexes of kiln_job before 033: %v, want %s among them", indexes, want)
			}
		}
		return s
	})
}
