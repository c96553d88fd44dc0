package kiln_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

// TestQueueNameText: a queue name that is not UTF-8 or holds a control
// character (C0, DEL or C1) is refused with a *ValidationError by pause,
// resume, history and enqueue alike, on both stores: SQLite used to store
// "\xff" as a paused queue, and PostgreSQL failed in the driver with an
// error the HTTP API answered as a 500.
func TestQueueNameText(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		c := newCheckClient(t, st, kiln.Config{})
		ctx := t.Context()
		for _, name := range []string{"\xff", "q\xc3", "q\u0085", "q\x1b]0;x\a", "q\x7f", "q\x00", "a b", ""} {
			wantInvalid(t, fmt.Sprintf("QueuePause %q", name), c.QueuePause(ctx, name), "name", "invalid queue name")
			wantInvalid(t, fmt.Sprintf("QueueResume %q", name), c.QueueResume(ctx, name), "name", "invalid queue name")
			_, err := c.QueueHistory(ctx, name, testBase, testBase.Add(time.Hour), time.Hour)
			wantInvalid(t, fmt.Sprintf("QueueHistory %q", name), err, "queue", "invalid queue name")
			if name == "" {
				continue // the default queue
			}
			_, err = c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{Queue: name})
			wantInvalid(t, fmt.Sprintf("Enqueue %q", name), err, "queue", "invalid queue name")
		}
		wantNoJobs(t, c)
		queues, err := c.QueueList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(queues) != 0 {
			t.Errorf("refused pauses stored queues %+v", queues)
		}
		// Other non-ASCII text is a name like any other.
		if err := c.QueuePause(ctx, "café-é"); err != nil {
			t.Errorf("QueuePause of a UTF-8 name: %v", err)
		}
		if _, err := c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{Queue: "café-é"}); err != nil {
			t.Errorf("Enqueue to a UTF-8 queue name: %v", err)
		}
	})
}
