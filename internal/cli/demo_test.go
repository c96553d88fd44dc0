package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDemo(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "demo.db")
	r := mustRun(t, "demo", "--for", "3s", "--database", db)
	lines := strings.Split(r.stdout, "\n")
	if !strings.HasPrefix(lines[0], "Kiln demo:") || !strings.Contains(lines[0], "Ctrl+C") {
		t.Errorf("first line %q does not say what the demo is and how to stop it", lines[0])
	}
	for _, want := range []string{"enqueued", "started", "completed", "demo.write_file", "(batch)", "Stopped after", "Jobs in " + db} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The jobs stay in the database.
	if r := mustRun(t, "jobs", "list", "--database", db, "--state", "completed"); !strings.Contains(r.stdout, "demo.") {
		t.Errorf("no completed demo jobs in the database:\n%s", r.stdout)
	}

	// A second run cancels what the first left unfinished.
	r = mustRun(t, "demo", "--for", "1s", "--database", db)
	if !strings.Contains(r.stdout, "left by an earlier run") {
		t.Errorf("second run:\n%s", r.stdout)
	}
}
