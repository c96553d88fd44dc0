package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestBulk lists, shows, cancels and resumes bulk operations through the
// commands: one completed by "jobs cancel", one interrupted (made in the
// store, as a process that stopped leaves it) resumed to its end, and one
// cancelled while interrupted.
func TestBulk(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if r := mustRun(t, "bulk", "list", "--database", db); !strings.Contains(r.stdout, "No bulk operations.") {
		t.Errorf("empty list:\n%s", r.stdout)
	}
	for range 3 {
		enqueueID(t, db, "demo.sleep", "--in", "1h")
	}
	mustRun(t, "jobs", "cancel", "--kind", "demo.sleep", "--database", db)

	// Two interrupted operations, as a process that stopped leaves them.
	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		op, err := st.BulkCreate(t.Context(), &store.BulkCreateParams{Action: kilntype.BulkRetry,
			Filter: kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateCancelled}}, Owner: "gone", Now: time.Now()})
		if err == nil {
			op, err = st.BulkRelease(t.Context(), &store.BulkReleaseParams{ID: op.ID, Owner: "gone",
				State: kilntype.BulkInterrupted, Now: time.Now()})
		}
		if err != nil || op.State != kilntype.BulkInterrupted {
			t.Fatalf("interrupted operation: %+v, %v", op, err)
		}
	}
	st.Close()

	r := mustRun(t, "bulk", "list", "--database", db)
	for _, want := range []string{"ID  ACTION", "1   cancel", "completed", "100%", "2   retry", "interrupted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = mustRun(t, "bulk", "show", "1", "--database", db)
	for _, want := range []string{"Action", "cancel", "State", "completed", "Matched   3", "Changed   3"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("show lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := mustRun(t, "bulk", "cancel", "1", "--database", db); !strings.Contains(r.stdout, "already completed; nothing to cancel") {
		t.Errorf("cancel of a completed operation:\n%s", r.stdout)
	}
	if r := runKiln(t, "bulk", "resume", "1", "--database", db); r.code == exitOK || !strings.Contains(r.stderr, "cannot be resumed") {
		t.Errorf("resume of a completed operation: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = mustRun(t, "bulk", "resume", "2", "--database", db)
	for _, want := range []string{"Bulk operation 2 resumed", "Bulk operation 2 completed: 3 of 3 jobs matched changed"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("resume lacks %q:\n%s", want, r.stdout)
		}
	}
	if r := mustRun(t, "jobs", "list", "--state", "available", "--database", db); strings.Count(r.stdout, "demo.sleep") != 3 {
		t.Errorf("the resumed retry left jobs:\n%s", r.stdout)
	}
	if r := mustRun(t, "bulk", "cancel", "3", "--database", db); !strings.Contains(r.stdout, "Bulk operation 3 cancelled") {
		t.Errorf("cancel of an interrupted operation:\n%s", r.stdout)
	}
	if r := runKiln(t, "bulk", "show", "99", "--database", db); r.code == exitOK || !strings.Contains(r.stderr, "bulk operation 99 not found") {
		t.Errorf("show of an unknown operation: exit %d\n%s", r.code, r.stderr)
	}
	if r := runKiln(t, "bulk", "show", "x", "--database", db); r.code == exitOK {
		t.Errorf("show x: exit %d", r.code)
	}
	// The commands are recorded in the audit log as local.
	r = mustRun(t, "audit", "list", "--action", "bulk.resume", "--database", db)
	if !strings.Contains(r.stdout, "local") {
		t.Errorf("the resume is not in the audit log:\n%s", r.stdout)
	}
}
