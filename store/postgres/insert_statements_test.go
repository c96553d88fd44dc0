package postgres

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestInsertStatements counts the statements and round trips of
// JobInsertMany (issue 11: the enqueue is part of the idle
// enqueue-to-start latency): jobs without a unique key or dependencies
// are one INSERT in its own implicit transaction, then the notification
// (2, where BEGIN and COMMIT around the INSERT made 4); a unique key needs
// the transaction (its key may be held: the INSERT, then a read of the
// holder, in one transaction), so 4. The jobs are stored either way.
func TestInsertStatements(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	counter := &statementCounter{}
	traced := tracedForTest(t, s, counter)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	job := func(unique string) *store.JobInsertParams {
		return &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now, UniqueKey: unique}
	}
	for _, c := range []struct {
		name              string
		params            []*store.JobInsertParams
		statements, trips int64
	}{
		{"one job", []*store.JobInsertParams{job("")}, 2, 2},
		{"three jobs", []*store.JobInsertParams{job(""), job(""), job("")}, 2, 2},
		{"a unique job", []*store.JobInsertParams{job("u1")}, 4, 4},
		{"a unique job among others", []*store.JobInsertParams{job(""), job("u2")}, 4, 4},
	} {
		n0, trips0 := counter.n.Load(), counter.trips.Load()
		results, err := traced.JobInsertMany(ctx, c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		n, trips := counter.n.Load()-n0, counter.trips.Load()-trips0
		t.Logf("%s: %d statements in %d round trips", c.name, n, trips)
		if n != c.statements || trips != c.trips {
			t.Errorf("%s: %d statements in %d round trips, want %d in %d", c.name, n, trips, c.statements, c.trips)
		}
		for _, r := range results {
			got, err := s.JobGet(ctx, &store.JobGetParams{ID: r.Job.ID})
			if err != nil || got.State != kilntype.JobStateAvailable {
				t.Errorf("%s: job %d after the insert: %v, %v", c.name, r.Job.ID, got, err)
			}
		}
	}
}
