package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// queryRecorder is a pgx tracer that records the text of each statement
// sent outside a batch.
type queryRecorder struct {
	mu   sync.Mutex
	sqls []string
}

func (r *queryRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sqls = append(r.sqls, d.SQL)
	return ctx
}
func (r *queryRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements recorded since the last call.
func (r *queryRecorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	sqls := r.sqls
	r.sqls = nil
	return sqls
}

// TestInsertShared checks that a batch whose jobs share every column but
// their args and times is inserted with sqlInsertJobsShared (3 arrays, not
// 12), and any other batch with sqlInsertJobs or sqlInsertJobsUnique; and
// that either way each job is stored as it was given, in order, with its
// own args and times and the shared kind, queue, state, priority, attempts,
// tags, metadata and partition key.
func TestInsertShared(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	rec := &queryRecorder{}
	traced := tracedForTest(t, s, rec)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	job := func(i int) *store.JobInsertParams {
		at := now.Add(time.Duration(i) * time.Second)
		return &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(fmt.Sprintf(`{"n":%d}`, i)), Priority: 2,
			MaxAttempts: 3, State: kilntype.JobStateScheduled, ScheduledAt: at.Add(time.Hour), CreatedAt: at,
			Tags: []string{"a", "b"}, Metadata: []byte(`{"m":1}`), Partition: "p1"}
	}
	batch := func(change func(i int, p *store.JobInsertParams)) []*store.JobInsertParams {
		ps := make([]*store.JobInsertParams, 5)
		for i := range ps {
			ps[i] = job(i)
			if change != nil {
				change(i, ps[i])
			}
		}
		return ps
	}
	for _, c := range []struct {
		name   string
		params []*store.JobInsertParams
		want   string
	}{
		{"shared", batch(nil), sqlInsertJobsShared},
		{"one job", batch(nil)[:1], sqlInsertJobsShared},
		{"kinds differ", batch(func(i int, p *store.JobInsertParams) { p.Kind = fmt.Sprint("k", i%2) }), sqlInsertJobs},
		{"queues differ", batch(func(i int, p *store.JobInsertParams) { p.Queue = fmt.Sprint("q", i%2) }), sqlInsertJobs},
		{"states differ", batch(func(i int, p *store.JobInsertParams) {
			if i == 3 {
				p.State = kilntype.JobStateAvailable
			}
		}), sqlInsertJobs},
		{"priorities differ", batch(func(i int, p *store.JobInsertParams) { p.Priority = 1 + i%2 }), sqlInsertJobs},
		{"attempts differ", batch(func(i int, p *store.JobInsertParams) { p.MaxAttempts = 1 + i }), sqlInsertJobs},
		{"tags differ", batch(func(i int, p *store.JobInsertParams) { p.Tags = p.Tags[:i%2] }), sqlInsertJobs},
		{"metadata differs", batch(func(i int, p *store.JobInsertParams) {
			p.Metadata = []byte(fmt.Sprintf(`{"m":%d}`, i))
		}), sqlInsertJobs},
		{"partitions differ", batch(func(i int, p *store.JobInsertParams) { p.Partition = fmt.Sprint("p", i) }), sqlInsertJobs},
	} {
		rec.take()
		results, err := traced.JobInsertMany(ctx, c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if sqls := rec.take(); !slices.Contains(sqls, s.sql(c.want)) {
			t.Errorf("%s: want the insert sent as\n%s\ngot %q", c.name, c.want, sqls)
		}
		for i, p := range c.params {
			id := results[i].Job.ID
			if i > 0 && id <= results[i-1].Job.ID {
				t.Errorf("%s: job %d has ID %d after %d", c.name, i, id, results[i-1].Job.ID)
			}
			got, err := s.JobGet(ctx, &store.JobGetParams{ID: id})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got.Kind != p.Kind || got.Queue != p.Queue || got.State != p.State || got.Priority != p.Priority ||
				got.MaxAttempts != p.MaxAttempts || !slices.Equal(got.Tags, p.Tags) || got.Partition != p.Partition ||
				!got.CreatedAt.Equal(p.CreatedAt) || !got.ScheduledAt.Equal(p.ScheduledAt) || got.UniqueKey != "" ||
				!jsonEqual(got.Args, p.Args) || !jsonEqual(got.Metadata, p.Metadata) {
				t.Errorf("%s: job %d stored as %+v, want %+v", c.name, i, got, p)
			}
		}
	}
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
