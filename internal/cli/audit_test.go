package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// TestAuditList checks that the CLI's state changes are recorded as
// "local" and that kiln audit list shows and filters them.
func TestAuditList(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if r := mustRun(t, "audit", "list", "--database", db); !strings.Contains(r.stdout, "No audit entry") {
		t.Errorf("list of an empty log:\n%s", r.stdout)
	}
	mustRun(t, "enqueue", "demo.sleep", "--queue", "emails", "--database", db)
	mustRun(t, "queues", "pause", "emails", "--database", db)
	mustRun(t, "queues", "list", "--database", db) // reads record nothing
	r := mustRun(t, "audit", "list", "--database", db)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[1], "local") ||
		!strings.Contains(lines[1], "queue.pause") || !strings.Contains(lines[2], "job.enqueue") {
		t.Fatalf("list:\n%s", r.stdout)
	}
	r = mustRun(t, "audit", "list", "--action", "queue.pause", "--json", "--database", db)
	var entries []*kiln.AuditEntry
	if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if len(entries) != 1 || entries[0].Actor != "local" || entries[0].Target != "emails" {
		t.Errorf("queue.pause entries: %+v", entries)
	}
	r = mustRun(t, "audit", "list", "--limit", "1", "--database", db)
	if !strings.Contains(r.stdout, "More entries: --cursor") {
		t.Errorf("a page of 1 of 2 does not say how to get more:\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "audit", "list", "--since", "yesterday", "--database", db), exitUsage, "--since")
}
