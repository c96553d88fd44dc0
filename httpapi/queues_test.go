package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestQueues(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	e.enqueue(`{"kind":"echo","queue":"mail"}`)
	e.enqueue(`{"kind":"echo","queue":"mail","run_in":60}`)
	e.clock.Advance(30 * time.Second)

	queues := func() []*kiln.QueueRow {
		t.Helper()
		var res struct{ Queues []*kiln.QueueRow }
		e.call("GET", "/queues", "", http.StatusOK, &res)
		return res.Queues
	}
	q := queues()
	if len(q) != 1 || q[0].Name != "mail" || q[0].Available != 1 || q[0].Scheduled != 1 || q[0].Paused ||
		q[0].OldestAvailableAt == nil || !q[0].OldestAvailableAt.Equal(testBase) {
		t.Fatalf("queues %+v", q)
	}

	var res struct {
		Name   string
		Paused bool
	}
	e.call("POST", "/queues/mail/pause", "", http.StatusOK, &res)
	if res.Name != "mail" || !res.Paused {
		t.Fatalf("pause answered %+v", res)
	}
	if q := queues(); !q[0].Paused {
		t.Fatal("queue not paused")
	}
	e.call("POST", "/queues/mail/resume", "", http.StatusOK, &res)
	if q := queues(); res.Paused || q[0].Paused {
		t.Fatalf("queue still paused: %+v", q[0])
	}
	// A queue can be paused before it has jobs.
	e.call("POST", "/queues/future/pause", "", http.StatusOK, &res)
	if q := queues(); len(q) != 2 || q[0].Name != "future" || !q[0].Paused {
		t.Fatalf("queues after pausing an empty one: %+v", q)
	}
	e.fail("POST", "/queues/has%20space/pause", "", http.StatusBadRequest, "name", "invalid queue name")
	e.fail("GET", "/queues?x=1", "", http.StatusBadRequest, "x", "takes none")
}

func TestStatsAndKinds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	e.enqueue(`{"kind":"echo","queue":"a"}`)
	e.enqueue(`{"kind":"echo","queue":"b"}`)
	cancelled := e.enqueue(`{"kind":"echo","queue":"b","run_in":60}`)
	e.call("POST", "/jobs/"+itoa(cancelled.ID)+"/cancel", "", http.StatusOK, nil)

	var stats kiln.Stats
	e.call("GET", "/stats", "", http.StatusOK, &stats)
	if stats.Total != 3 || len(stats.States) != len(kilntype.JobStates()) || stats.States[kilntype.JobStateAvailable] != 2 ||
		stats.States[kilntype.JobStateCancelled] != 1 || stats.States[kilntype.JobStateRunning] != 0 {
		t.Fatalf("stats %+v", stats)
	}
	if len(stats.Queues) != 2 || stats.Queues[0].Name != "a" || stats.Queues[1].Total != 2 || stats.Queues[1].States[kilntype.JobStateCancelled] != 1 {
		t.Fatalf("queues %+v", stats.Queues)
	}

	var kinds struct{ Kinds []string }
	e.call("GET", "/kinds", "", http.StatusOK, &kinds)
	if !slices.Equal(kinds.Kinds, []string{"block", "echo", "fail"}) {
		t.Fatalf("kinds %v", kinds.Kinds)
	}
}

func TestHistoryAndServers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, true)
	done := e.enqueue(`{"kind":"echo"}`)
	failed := e.enqueue(`{"kind":"fail"}`)
	e.waitState(done.ID, kilntype.JobStateCompleted)
	e.waitState(failed.ID, kilntype.JobStateRetryable)

	history := func(query string) []kiln.HistoryPoint {
		t.Helper()
		var res struct{ Points []kiln.HistoryPoint }
		e.call("GET", "/stats/history"+query, "", http.StatusOK, &res)
		return res.Points
	}
	// The client's clock stands at 2030-01-02T03:04:05Z. The maintenance
	// leader folds finished attempts into the history every 2 s: poll.
	var points []kiln.HistoryPoint
	testutil.EventuallyNil(t, "the hourly history to show the two attempts", func() error {
		points = history("?from=2030-01-02T00:00:00Z&to=2030-01-03T00:00:00Z")
		if len(points) != 24 || points[3].Completed+points[3].Failed != 2 {
			return fmt.Errorf("points %+v", points)
		}
		return nil
	})
	if !points[3].At.Equal(time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC)) ||
		points[3].Completed != 1 || points[3].Failed != 1 || points[2].Completed != 0 {
		t.Fatalf("hourly history %+v", points)
	}
	points = history("?from=2030-01-02T03:00:00Z&to=2030-01-02T03:10:00Z&bucket=300&queue=default")
	if len(points) != 2 || points[0].Completed != 1 || points[0].Failed != 1 || points[1].Completed != 0 {
		t.Fatalf("queue default in 5-minute buckets %+v", points)
	}
	points = history("?from=2030-01-02T03:00:00Z&to=2030-01-02T03:10:00Z&bucket=5m&queue=other")
	if len(points) != 2 || points[0].Completed != 0 || points[0].Failed != 0 {
		t.Fatalf("queue other %+v", points)
	}
	// The last 24 hours: 25 buckets unless now is on the hour.
	if points := history(""); len(points) != 24 && len(points) != 25 {
		t.Fatalf("default history has %d points, want 24 or 25", len(points))
	}
	e.fail("GET", "/stats/history?bucket=90s", "", http.StatusBadRequest, "bucket", "whole number of minutes")
	e.fail("GET", "/stats/history?bucket=1m&from=2030-01-01T00:00:00Z&to=2030-02-01T00:00:00Z", "", http.StatusBadRequest, "from", "at most")
	e.fail("GET", "/stats/history?to=2030-01-01T00:00:00Z&from=2030-01-02T00:00:00Z", "", http.StatusBadRequest, "from", "To must be after From")
	e.fail("GET", "/stats/history?to=noon", "", http.StatusBadRequest, "to", "RFC 3339")
	e.fail("GET", "/stats/history?queue=a%20b", "", http.StatusBadRequest, "queue", "invalid queue name")

	var res struct{ Servers []*kiln.ServerRow }
	testutil.EventuallyNil(t, "this client's server row", func() error {
		e.call("GET", "/servers", "", http.StatusOK, &res)
		if len(res.Servers) != 1 || res.Servers[0].ID != e.client.ID() {
			return fmt.Errorf("servers %+v", res.Servers)
		}
		return nil
	})
	if !slices.Equal(res.Servers[0].Kinds, []string{"block", "echo", "fail"}) {
		t.Fatalf("server %+v", res.Servers[0])
	}
}

// TestHistoryStoreError checks that GET /stats/history answers 500 with
// the store's error, with and without ?queue, when the store fails (here:
// closed), rather than an empty history.
func TestHistoryStoreError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, query := range []string{"?queue=default", ""} {
		resp, err := http.Get(srv.URL + "/api/stats/history" + query)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got Error
		if resp.StatusCode != http.StatusInternalServerError || json.Unmarshal(body, &got) != nil || got.Message == "" {
			t.Errorf("GET /api/stats/history%s on a closed store: %d %s; want 500 with a JSON error", query, resp.StatusCode, body)
		}
	}
}

// TestQueueNameNotText: a queue name that is not UTF-8 or holds a control
// character gets a 400 naming the field on both stores (PostgreSQL used
// to answer 500 with its driver's error, and SQLite stored the pause).
func TestQueueNameNotText(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		e := newEnvOn(t, st, nil, false)
		for _, name := range []string{"%ff", "q%C2%85", "q%1B%5B2J", "q%7F", "q%00"} {
			e.fail("POST", "/queues/"+name+"/pause", "", http.StatusBadRequest, "name", "invalid queue name")
			e.fail("POST", "/queues/"+name+"/resume", "", http.StatusBadRequest, "name", "invalid queue name")
			e.fail("GET", "/stats/history?queue="+name, "", http.StatusBadRequest, "queue", "invalid queue name")
		}
		var res struct{ Queues []*kiln.QueueRow }
		e.call("GET", "/queues", "", http.StatusOK, &res)
		if len(res.Queues) != 0 {
			t.Errorf("refused pauses stored queues: %+v", res.Queues[0])
		}
	})
}
