package kiln

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// wanted, which the engine asks twice per job without a lock, follows the
// subscriptions: true for every kind a subscriber takes, false once none
// does, and true for every kind while a subscriber takes them all.
func TestEventsWantedFollowsSubscriptions(t *testing.T) {
	c := &Client{}
	all := []EventKind{EventJobStarted, EventJobCompleted, EventJobFailed, EventJobDiscarded,
		EventJobCancelled, EventJobSnoozed, EventJobInterrupted, EventJobRescued, "custom"}
	check := func(when string, want ...EventKind) {
		t.Helper()
		for _, k := range all {
			if got, w := c.events.wanted(k), slices.Contains(want, k); got != w {
				t.Errorf("%s: wanted(%s) = %v, want %v", when, k, got, w)
			}
		}
	}
	check("no subscriber")
	_, unsubCompleted := c.Subscribe(EventJobCompleted, EventJobFailed)
	check("completed and failed", EventJobCompleted, EventJobFailed)
	_, unsubAll := c.Subscribe()
	check("every kind", all...)
	unsubAll()
	check("every kind ended", EventJobCompleted, EventJobFailed)
	unsubAll() // a second call changes nothing
	check("every kind ended twice", EventJobCompleted, EventJobFailed)
	unsubCompleted()
	check("none left")
}

// A finish's event is one allocation of 448 bytes: its Job is a copy of the
// row as the finish left it, and its Attempt is the finish's own (the
// params, which nothing changes once written; a copy of the attempt in
// the event made it 576 bytes).
func TestFinishEventBytes(t *testing.T) {
	c := &Client{}
	ch, unsub := c.Subscribe(EventJobCompleted)
	defer unsub()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	row := &JobRow{ID: 7, Kind: "k", State: JobStateRunning, LeasedBy: "proc", Attempt: 1}
	p := &store.JobFinishParams{ID: 7, State: JobStateCompleted, Now: now,
		Attempt: JobAttempt{JobID: 7, Attempt: 1, Server: "proc", Outcome: AttemptSucceeded}}
	const n = 100
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		c.onFinish(row, p)
		<-ch
	}
	runtime.ReadMemStats(&after)
	c.onFinish(row, p)
	ev := <-ch
	if ev.Job.State != JobStateCompleted || ev.Job.LeasedBy != "" || *ev.Job.FinalizedAt != now ||
		*ev.Attempt != p.Attempt || row.State != JobStateRunning {
		t.Errorf("event: job %+v, attempt %+v; the row: %+v", ev.Job, ev.Attempt, row)
	}
	perEvent := (after.TotalAlloc - before.TotalAlloc) / n
	t.Logf("bytes per finish event: %d", perEvent)
	if perEvent > 448 {
		t.Errorf("a finish event allocated %d bytes, want at most 448", perEvent)
	}
}
