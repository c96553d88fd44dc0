package kiln

import (
	"slices"
	"testing"
	"time"
	"unsafe"

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

// A finish's event is one allocation of at most 448 bytes: its Job is a
// copy of the row as the finish left it, and its Attempt is the finish's
// own (the params, which nothing changes once written; a copy of the
// attempt in the event made it 576 bytes). The size is checked on the
// type, not counted: the package's other tests leave goroutines that
// allocate meanwhile.
func TestFinishEventBytes(t *testing.T) {
	if size := unsafe.Sizeof(eventStorage{}); size > 448 {
		t.Errorf("an event is %d bytes, want at most 448", size)
	}
	c := &Client{}
	ch, unsub := c.Subscribe(EventJobCompleted)
	defer unsub()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	row := &JobRow{ID: 7, Kind: "k", State: JobStateRunning, LeasedBy: "proc", Attempt: 1}
	p := &store.JobFinishParams{ID: 7, State: JobStateCompleted, Now: now,
		Attempt: JobAttempt{JobID: 7, Attempt: 1, Server: "proc", Outcome: AttemptSucceeded}}
	c.onFinish(row, p)
	ev := <-ch
	if ev.Job == row || ev.Job.State != JobStateCompleted || ev.Job.LeasedBy != "" || *ev.Job.FinalizedAt != now ||
		row.State != JobStateRunning || row.LeasedBy != "proc" {
		t.Errorf("event's job %+v; the row: %+v", ev.Job, row)
	}
	if ev.Attempt != &p.Attempt {
		t.Errorf("event's attempt %+v is a copy, want the finish's own", ev.Attempt)
	}
}

// emit sends an event to the subscribers of its kind alone, by a bit per
// kind (a kind this package does not define is looked up by name, as
// such kinds share a bit), and to those of every kind.
func TestEmitToTheSubscribersOfTheKind(t *testing.T) {
	c := &Client{}
	completed, unsub1 := c.Subscribe(EventJobCompleted, "custom")
	defer unsub1()
	other, unsub2 := c.Subscribe("other")
	defer unsub2()
	all, unsub3 := c.Subscribe()
	defer unsub3()
	for _, k := range []EventKind{EventJobCompleted, EventJobFailed, "custom", "other", "unknown"} {
		c.events.emit(&Event{Kind: k})
	}
	got := func(ch <-chan *Event) (kinds []EventKind) {
		for len(ch) > 0 {
			kinds = append(kinds, (<-ch).Kind)
		}
		return kinds
	}
	for _, c := range []struct {
		name string
		ch   <-chan *Event
		want []EventKind
	}{
		{"completed and custom", completed, []EventKind{EventJobCompleted, "custom"}},
		{"other", other, []EventKind{"other"}},
		{"every kind", all, []EventKind{EventJobCompleted, EventJobFailed, "custom", "other", "unknown"}},
	} {
		if kinds := got(c.ch); !slices.Equal(kinds, c.want) {
			t.Errorf("%s: received %v, want %v", c.name, kinds, c.want)
		}
	}
}
