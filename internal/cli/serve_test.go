package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestServe(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	hit := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- r.Method:
		default: // only the first request is awaited
		}
	}))
	defer srv.Close()
	id := enqueueID(t, db, "http", "--args", fmt.Sprintf(`{"url":%q,"body":{"n":1}}`, srv.URL))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	served := make(chan result, 1)
	go func() { served <- runKilnCtx(t, ctx, nil, "serve", "--database", db, "--queues", "default=5,other=2") }()
	if m := <-hit; m != http.MethodPost {
		t.Errorf("the job sent %s, want POST", m)
	}
	cancel() // as SIGINT would
	r := <-served
	if r.code != exitOK {
		t.Fatalf("serve: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"kiln serve: running kinds http from queues default (5 workers), other (2 workers)", "Stopping", "Stopped."} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("serve output lacks %q:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(r.stderr, "kiln: job completed") {
		t.Errorf("serve did not log the completion:\n%s", r.stderr)
	}
	out := mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db)
	if !strings.Contains(out.stdout, "completed") {
		t.Errorf("job after serve:\n%s", out.stdout)
	}
}

// TestServeLogsRescueOnce leaves a job running under the lease of a process
// that is gone, then runs serve, which rescues and reruns it: the rescue is
// logged once (by the client's rescuer), not once more as an event.
func TestServeLogsRescueOnce(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	hit := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case hit <- struct{}{}:
		default:
		}
	}))
	defer srv.Close()
	id := enqueueID(t, db, "http", "--args", fmt.Sprintf(`{"url":%q}`, srv.URL))

	// A process that died holds the job under a lease that has expired.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claimed, err := st.JobClaim(ctx, &store.JobClaimParams{
		Queue: "default", Max: 1, Kinds: []string{"http"},
		LeasedBy: "dead-process", LeaseExpiresAt: now.Add(-time.Minute), Now: now,
	})
	st.Close()
	if err != nil || len(claimed) != 1 || claimed[0].ID != id {
		t.Fatalf("claim as the dead process: %v, %v", claimed, err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan result, 1)
	go func() {
		served <- runKilnCtx(t, runCtx, nil, "serve", "--database", db, "--dashboard-addr", "off",
			"--rescue-interval", "20ms", "--log-level", "warn")
	}()
	<-hit // rescued and run again
	cancel()
	r := <-served
	if r.code != exitOK {
		t.Fatalf("serve: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if n := strings.Count(r.stderr, "rescued"); n != 1 {
		t.Errorf("the rescue was logged %d times, want once:\n%s", n, r.stderr)
	}
}
