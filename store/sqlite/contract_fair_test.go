package sqlite

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
)

// beforeFairContract is the last migration before the contract migration
// 037, which drops kiln_job_claim_partition and kiln_job_partition_key:
// 035 added the fair order, 036 marks the build whose per-key rate limits
// walk it.
const beforeFairContract = 36

// TestStoreBeforeContract runs the contract suite on files migrated up to
// 036 and past it (038, 039), without the contract migrations 037 and 040
// (which drops kiln_job_claim_kind, still written there beside 039's
// kiln_job_claim_untagged: this build must work with both): the schema
// this build runs on
// while a registered process of an older build holds 037 back, where
// kiln_job_claim_partition and kiln_job_partition_key (which older builds
// read) are still written by the triggers. Nothing of this build reads
// them, and the suite must pass there as on the contracted schema
// (TestStore). Before per-key rate limits walked the fair order, their
// claims listed keys through those two, and the contracted schema failed
// them (and every claim by key: their statements were prepared together).
func TestStoreBeforeContract(t *testing.T) {
	if raceEnabled {
		// Its code paths run under -race in TestStore; this second
		// run of the whole suite doubled the package's time under -race
		// past CI's 30 minutes. CI runs it without -race (.ci/run).
		t.Skip("the contract suite on the schema before 037 runs without -race (.ci/run)")
	}
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		ctx := t.Context()
		s, err := Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if err := s.migrateTo(ctx, beforeFairContract); err != nil {
			t.Fatal(err)
		}
		// A process of a build before 036 holds 037 and 040 back; the
		// later, ordinary migrations (038, 039) apply past them.
		if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_server (id, host, pid, queues, kinds, started_at, heartbeat_at, limits)
VALUES ('older', 'old', 1, '[]', '[]', ?1, ?1, '[]')`, micros(time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := s.migrateTo(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.w.ExecContext(ctx, `DELETE FROM kiln_server WHERE id = 'older'`); err != nil {
			t.Fatal(err)
		}
		if got := jobIndexes(t, s); !slices.Contains(got, "kiln_job_claim_partition") || !slices.Contains(got, "kiln_job_claim_fair") ||
			!slices.Contains(got, "kiln_job_claim_kind") || !slices.Contains(got, "kiln_job_claim_untagged") {
			t.Fatalf("indexes of kiln_job before 037 and 040: %v, want kiln_job_claim_partition, kiln_job_claim_fair, "+
				"kiln_job_claim_kind and kiln_job_claim_untagged among them", got)
		}
		return s
	})
}
