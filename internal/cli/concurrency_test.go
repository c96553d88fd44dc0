package cli

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestConcurrency: kiln concurrency list prints the concurrency limits that
// live processes published in the server registry (none at first), or,
// with --api, those a process that runs the workers declares, with their
// use, as a table or as the HTTP API's JSON; a bad --api is a usage error.
func TestConcurrency(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	if r := mustRun(t, "concurrency", "list", "--database", db); !strings.Contains(r.stdout, "No live process declares a concurrency limit") {
		t.Errorf("list without --api:\n%s", r.stdout)
	}
	if r := mustRun(t, "concurrency", "ls", "--json", "--database", db); strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("list --json without --api:\n%s", r.stdout)
	}
	wantFail(t, runKiln(t, "concurrency", "list", "--api", "127.0.0.1:8080", "--database", db), exitUsage, "want an http:// or https:// URL")

	// A process that runs the held kind, and its HTTP API.
	st, err := sqlite.Open(t.Context(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, started := clienttest.StartHeld(t, st, nil)
	srv := httptest.NewServer(httpapi.New(c, &httpapi.Options{Logger: slog.New(slog.DiscardHandler)}))
	t.Cleanup(srv.Close)
	for _, key := range []string{"b", "a", "a"} {
		if _, err := c.Enqueue(t.Context(), clienttest.HeldArgs{}, &kiln.EnqueueOpts{Partition: key}); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		testutil.Receive(t, started, "2 held jobs to start", nil)
	}

	// Without --api: the limits the process published in the server
	// registry, with their use read from the database.
	testutil.Eventually(t, "the held kind's limits from the server registry", func() bool {
		r := mustRun(t, "concurrency", "list", "--database", db)
		return strings.Contains(strings.Join(strings.Fields(r.stdout), " "), "held 2 max 2 2 of 3 1 (2 keys running) a 1, b 1")
	})
	r := mustRun(t, "concurrency", "list", "--api", srv.URL+"/", "--database", db)
	got := strings.Join(strings.Fields(r.stdout), " ")
	if want := "held 2 2 of 2 2 of 3 1 (2 keys running) a 1, b 1"; !strings.Contains(got, want) {
		t.Errorf("list --api has no line %q:\n%s", want, r.stdout)
	}
	r = mustRun(t, "concurrency", "list", "--api", srv.URL, "--json", "--database", db)
	var views []*httpapi.ConcurrencyLimitView
	if err := json.Unmarshal([]byte(r.stdout), &views); err != nil || len(views) != 1 || views[0].Kind != "held" ||
		views[0].Running != 2 || views[0].RunningHere != 2 || views[0].Keys != 2 || len(views[0].BusiestKeys) != 2 {
		t.Errorf("list --api --json: %v\n%s", err, r.stdout)
	}
	wantFail(t, runKiln(t, "concurrency", "list", "--api", srv.URL+"/nowhere", "--database", db), exitError, "404")
}
