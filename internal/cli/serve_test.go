package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
