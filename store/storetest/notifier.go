package storetest

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store"
)

// testNotifierAvailability checks that a store keeps the promise of its
// NotificationsAvailable: a notification sent with Notify reaches a
// listener of its topic when it reports true; Listen and Notify fail when
// it reports false.
func testNotifierAvailability(t *testing.T, newStore NewStoreFunc) {
	f := &fixture{t: t, s: newStore(t), ctx: t.Context()} // the group already runs in parallel
	received := make(chan store.Notification, 100)
	sub, err := f.s.Listen(f.ctx, &store.ListenParams{
		Topics: []string{"contract"},
		Handle: func(n store.Notification) { received <- n },
	})
	if !f.s.NotificationsAvailable() {
		if err == nil {
			sub.Close()
			t.Fatal("Listen succeeded on a store whose NotificationsAvailable is false")
		}
		if err := f.s.Notify(f.ctx, &store.NotifyParams{Topic: "contract", Payload: "hello"}); err == nil {
			t.Fatal("Notify succeeded on a store whose NotificationsAvailable is false")
		}
		return
	}
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(sub.Close)
	if err := f.s.Notify(f.ctx, &store.NotifyParams{Topic: "contract", Payload: "hello"}); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	deadline := time.After(30 * time.Second) // bounds a hang only
	for {
		select {
		case n := <-received:
			if n.Lost || n.Held || n.Resumed {
				continue // about the subscription, not a notification
			}
			if n.Topic != "contract" || n.Payload != "hello" {
				t.Fatalf("received %+v; want topic contract, payload hello", n)
			}
			return
		case <-deadline:
			t.Fatal("no notification within 30 s of Notify")
		}
	}
}
