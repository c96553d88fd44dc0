package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// TestStatsRebuild corrects counters made wrong by hand, and says so; a
// second run finds nothing to correct.
func TestStatsRebuild(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	mustRun(t, "enqueue", "demo.sleep", "--queue", "emails", "--in", "1h", "--database", db)
	mustRun(t, "enqueue", "demo.sleep", "--queue", "emails", "--database", db)
	r := mustRun(t, "stats", "rebuild", "--database", db)
	if !strings.Contains(r.stdout, "nothing to correct") {
		t.Errorf("stats rebuild of right counters:\n%s", r.stdout)
	}
	conn, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), `UPDATE kiln_job_count SET jobs = jobs + 3
		WHERE queue = 'emails' AND state = 'scheduled'`); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, "stats", "rebuild", "--database", db)
	if !strings.Contains(r.stdout, "emails  scheduled  -3") || !strings.Contains(r.stdout, "Corrected the counters of 1 ") {
		t.Errorf("stats rebuild of a counter 3 too high:\n%s", r.stdout)
	}
	r = mustRun(t, "stats", "rebuild", "--json", "--database", db)
	var fixed []kiln.StatsCorrection
	if err := json.Unmarshal([]byte(r.stdout), &fixed); err != nil || len(fixed) != 0 {
		t.Errorf("stats rebuild --json after the correction = %q (%v); want []", r.stdout, err)
	}
}
