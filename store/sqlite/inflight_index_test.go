package sqlite

import (
	"slices"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/store/storetest"
)

// inflightPredicate031 is kiln_job_state_inflight's predicate since
// migration 031, as sqlite_schema holds it.
const inflightPredicate031 = `WHERE state = 'running' OR ` + sqlInflightInList

// TestUpgradeFrom030 migrates a database of version 30 holding a job in
// each state to the current version, whose migration 031 rewrites
// kiln_job_state_inflight's predicate to test state = 'running' before its
// IN list: the definition is 031's, the index holds the same entries as
// before (the in-flight jobs, checked against a scan of the table and by
// integrity_check), and the jobs run through the store
// (storetest.CheckUpgradedJobs), the index following their claims and
// finishes. It fails without migration 031 (the definition).
func TestUpgradeFrom030(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ids := oldJobs(t, 30)
	entries := func() []string {
		return queryTexts(t, s.r, `SELECT state || ' ' || id FROM kiln_job INDEXED BY kiln_job_state_inflight
WHERE `+sqlInflightPredicate+` ORDER BY state, id`)
	}
	inflight := func() []string {
		return queryTexts(t, s.r, `SELECT state || ' ' || id FROM kiln_job NOT INDEXED
WHERE state IN ('running', 'scheduled', 'retryable', 'pending') ORDER BY state, id`)
	}
	before := entries()
	if len(before) != 4 || !slices.Equal(before, inflight()) {
		t.Fatalf("kiln_job_state_inflight at version 30: %v, want the 4 in-flight jobs %v", before, inflight())
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	def := queryTexts(t, s.r, `SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = 'kiln_job_state_inflight'`)
	if len(def) != 1 || !strings.HasSuffix(def[0], inflightPredicate031) {
		t.Errorf("kiln_job_state_inflight after 031: %q, want it to end with %q", def, inflightPredicate031)
	}
	if got := queryTexts(t, s.r, `PRAGMA integrity_check`); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("integrity_check after 031: %v", got)
	}
	if got := entries(); !slices.Equal(got, before) {
		t.Errorf("kiln_job_state_inflight after 031: %v, want %v as before", got, before)
	}
	storetest.CheckUpgradedJobs(t, s, ids)
	if got, want := entries(), inflight(); !slices.Equal(got, want) {
		t.Errorf("kiln_job_state_inflight after the jobs ran: %v, want the in-flight jobs %v", got, want)
	}
	if got := queryTexts(t, s.r, `PRAGMA integrity_check`); !slices.Equal(got, []string{"ok"}) {
		t.Errorf("integrity_check after the jobs ran: %v", got)
	}
}
