package cluster

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is the HTTP server that the test's jobs call: job number n
// requests /job/n, and the recorder counts the requests of each number, so
// the test sees every execution of every job from outside the processes.
type recorder struct {
	srv   *httptest.Server
	hits  []atomic.Int32 // by job number
	total atomic.Int64
	conns atomic.Int64 // connections opened by the processes
	// gate, when set, holds every request until it is closed (see stall);
	// parked counts the requests it holds.
	gate   atomic.Pointer[chan struct{}]
	parked atomic.Int64
	// hold is how long each request is held before its 200 answer, so that
	// every process has jobs in flight at any moment.
	hold time.Duration
}

// newRecorder starts a recorder for jobs numbered 0 to n-1, closed when t
// ends (after the processes that call it are killed: cleanups run last
// first).
func newRecorder(t *testing.T, n int, hold time.Duration) *recorder {
	r := &recorder{hits: make([]atomic.Int32, n), hold: hold}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /job/{n}", r.serveJob)
	r.srv = httptest.NewUnstartedServer(mux)
	r.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			r.conns.Add(1)
		}
	}
	r.srv.Start()
	t.Cleanup(func() {
		r.release()
		r.srv.Close()
	})
	return r
}

// stall makes the recorder hold every request until release, so that the
// workers of every process soon all have a job in flight.
func (r *recorder) stall() {
	gate := make(chan struct{})
	r.gate.Store(&gate)
}

// release lets the requests that stall holds go on, and the next ones
// through.
func (r *recorder) release() {
	if gate := r.gate.Swap(nil); gate != nil {
		close(*gate)
	}
}

// url returns the URL that job number n calls.
func (r *recorder) url(n int) string { return fmt.Sprintf("%s/job/%d", r.srv.URL, n) }

// executions returns how many requests job number n made.
func (r *recorder) executions(n int) int { return int(r.hits[n].Load()) }

func (r *recorder) serveJob(w http.ResponseWriter, req *http.Request) {
	n, err := strconv.Atoi(req.PathValue("n"))
	if err != nil || n < 0 || n >= len(r.hits) {
		// A 404 cancels the job, which the test then sees as not completed.
		http.Error(w, "no such job number", http.StatusNotFound)
		return
	}
	r.hits[n].Add(1)
	r.total.Add(1)
	if gate := r.gate.Load(); gate != nil {
		r.parked.Add(1)
		select {
		case <-*gate:
		case <-req.Context().Done():
		}
		r.parked.Add(-1)
	}
	t := time.NewTimer(r.hold)
	defer t.Stop()
	select {
	case <-t.C:
	case <-req.Context().Done(): // the process died, or gave up
	}
}
