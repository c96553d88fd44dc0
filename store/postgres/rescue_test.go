package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

// TestRescueMarksDeadEntries: after a burn-down, before any VACUUM, the
// rescuer's index entries of the jobs that ran point at dead rows; the
// rescue (JobRescueExpired, every RescueInterval in every process) must
// read them with an index scan, which marks them dead, so that later
// rescues skip their heap pages, rather than with a bitmap scan, which
// visits every dead row's page on every run (sqlRescueSettings). 20,000
// jobs ran (inserted running, then completed; the table's autovacuum off);
// the test calls JobRescueExpired until a bitmap scan of the same
// statement, which honours the marks without making any, reads fewer
// than 300 buffers (about 1,200 while unmarked): it never does if the
// rescue does not mark them.
func TestRescueMarksDeadEntries(t *testing.T) {
	// Not parallel: dead rows become removable only once every transaction
	// of the database older than them has ended, and this package's
	// parallel tests hold some for seconds (TestCompletePlan's 100,000-row
	// insert, TestVacuumClearsClaimIndex's holder): run beside them under
	// load, the wait below timed out. Go runs it while they are paused.
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	if _, err := s.pool.Exec(ctx, s.expand(`ALTER TABLE {s}.kiln_job SET (autovacuum_enabled = false)`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	attempt, max_attempts, created_at, scheduled_at, attempted_at, leased_by, lease_expires_at)
SELECT 'k', 'q', '{}', 'running', 1, 1, 1, $1, $1, $1, 'p', $2
FROM generate_series(1, 20000)`), now.Add(-time.Hour), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`UPDATE {s}.kiln_job SET state = 'completed', finalized_at = $1,
	leased_by = NULL, lease_expires_at = NULL`), now); err != nil {
		t.Fatal(err)
	}
	// A bitmap scan of the rescue's statement honours the marks without
	// making any.
	bitmapBuffers := func() (int, error) {
		return explainBuffers(ctx, s.pool, []string{"SET LOCAL enable_indexscan = off", "SET LOCAL enable_seqscan = off"},
			s.sql(sqlRescue), now, 1000, now)
	}
	before, err := bitmapBuffers()
	if err != nil {
		t.Fatal(err)
	}
	testutil.EventuallyNil(t, "rescues to mark the dead entries", func() error {
		if _, err := s.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now, Max: 1000}); err != nil {
			t.Fatal(err)
		}
		after, err := bitmapBuffers()
		if err != nil {
			t.Fatal(err)
		}
		if after >= 300 {
			return fmt.Errorf("a rescue reads %d buffers (%d before any rescue): the dead entries are not marked", after, before)
		}
		t.Logf("buffers of a rescue: %d before any, %d after", before, after)
		return nil
	})
}
