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
	args [][]any // each statement's arguments
}

func (r *queryRecorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sqls = append(r.sqls, d.SQL)
	r.args = append(r.args, d.Args)
	return ctx
}
func (r *queryRecorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// take returns the statements recorded since the last call, and their
// arguments.
func (r *queryRecorder) take() ([]string, [][]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sqls, args := r.sqls, r.args
	r.sqls, r.args = nil, nil
	return sqls, args
}

// TestInsertShared checks that a batch whose jobs share every column but
// their args and times is inserted with sqlInsertJobsShared (3 arrays, not
// 12; a time that every job shares as one element), and any other batch
// with sqlInsertJobs or sqlInsertJobsUnique; and that either way each job
// is stored as it was given, in order, with its own args and times and the
// shared kind, queue, state, priority, attempts, tags, metadata and
// partition key.
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
		times  [2]int // sqlInsertJobsShared's elements of created_at and scheduled_at
	}{
		{"shared", batch(nil), sqlInsertJobsShared, [2]int{5, 5}},
		{"one job", batch(nil)[:1], sqlInsertJobsShared, [2]int{1, 1}},
		{"one time", batch(func(_ int, p *store.JobInsertParams) { p.CreatedAt, p.ScheduledAt = now, now.Add(time.Hour) }),
			sqlInsertJobsShared, [2]int{1, 1}},
		{"one creation time", batch(func(_ int, p *store.JobInsertParams) { p.CreatedAt = now }), sqlInsertJobsShared,
			[2]int{1, 5}},
		{"one scheduled time", batch(func(_ int, p *store.JobInsertParams) { p.ScheduledAt = now }), sqlInsertJobsShared,
			[2]int{5, 1}},
		{"kinds differ", batch(func(i int, p *store.JobInsertParams) { p.Kind = fmt.Sprint("k", i%2) }), sqlInsertJobs, [2]int{}},
		{"queues differ", batch(func(i int, p *store.JobInsertParams) { p.Queue = fmt.Sprint("q", i%2) }), sqlInsertJobs, [2]int{}},
		{"states differ", batch(func(i int, p *store.JobInsertParams) {
			if i == 3 {
				p.State = kilntype.JobStateAvailable
			}
		}), sqlInsertJobs, [2]int{}},
		{"priorities differ", batch(func(i int, p *store.JobInsertParams) { p.Priority = 1 + i%2 }), sqlInsertJobs, [2]int{}},
		{"attempts differ", batch(func(i int, p *store.JobInsertParams) { p.MaxAttempts = 1 + i }), sqlInsertJobs, [2]int{}},
		{"tags differ", batch(func(i int, p *store.JobInsertParams) { p.Tags = p.Tags[:i%2] }), sqlInsertJobs, [2]int{}},
		{"metadata differs", batch(func(i int, p *store.JobInsertParams) {
			p.Metadata = []byte(fmt.Sprintf(`{"m":%d}`, i))
		}), sqlInsertJobs, [2]int{}},
		{"partitions differ", batch(func(i int, p *store.JobInsertParams) { p.Partition = fmt.Sprint("p", i) }), sqlInsertJobs, [2]int{}},
	} {
		rec.take()
		results, err := traced.JobInsertMany(ctx, c.params)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sqls, args := rec.take()
		i := slices.Index(sqls, s.sql(c.want))
		if i < 0 {
			t.Errorf("%s: want the insert sent as\n%s\ngot %q", c.name, c.want, sqls)
		} else if c.want == sqlInsertJobsShared {
			created, scheduled := reflect.ValueOf(args[i][6]).Len(), reflect.ValueOf(args[i][7]).Len()
			if [2]int{created, scheduled} != c.times {
				t.Errorf("%s: sent %d creation and %d scheduled times, want %v", c.name, created, scheduled, c.times)
			}
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
