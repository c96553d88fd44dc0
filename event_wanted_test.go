package kiln

import (
	"slices"
	"testing"
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
