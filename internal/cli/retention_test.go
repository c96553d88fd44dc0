package cli

import (
	"strings"
	"testing"
)

func TestRetentionSetListDelete(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := mustRun(t, "retention", "set", "completed", "1h", "--kind", "email", "--database", db)
	if !strings.Contains(r.stdout, "completed jobs of kind email kept 1h0m0s") {
		t.Errorf("set:\n%s", r.stdout)
	}
	mustRun(t, "retention", "set", "discarded", "forever", "--queue", "billing", "--database", db)
	r = mustRun(t, "retention", "list", "--database", db)
	for _, want := range []string{
		"completed * * 24h0m0s config",
		"completed email * 1h0m0s database",
		"discarded * billing forever database",
	} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("list has no line %q:\n%s", want, r.stdout)
		}
	}
	mustRun(t, "retention", "delete", "completed", "--kind", "email", "--database", db)
	if r := runKiln(t, "retention", "delete", "completed", "--kind", "email", "--database", db); r.code == exitOK ||
		!strings.Contains(r.stderr, "no stored retention rule") {
		t.Errorf("deleting twice: exit %d, stderr %s", r.code, r.stderr)
	}
	if r := runKiln(t, "retention", "set", "running", "1h", "--database", db); r.code == exitOK {
		t.Error("a rule for running jobs was accepted")
	}
	if r := runKiln(t, "retention", "set", "completed", "soon", "--database", db); r.code == exitOK {
		t.Error("keep \"soon\" was accepted")
	}
}
