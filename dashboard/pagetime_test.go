package dashboard_test

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestPageTimes times every dashboard page that lists, counts or shows
// jobs, and each store call that the page sends, on a store of 1,000,000
// jobs (docs/benchmarks.md, "Dashboard pages at 1,000,000 jobs"). It
// measures, asserts only that each page answers 200, and runs only with
// $KILN_PAGES_1M set to the mix:
//
//   - "common": the oldest 90 % of the jobs finished (completed, every
//     50th discarded, every 100th cancelled), the newest 100,000 in flight
//     (available, every 100th running, every 20th scheduled), as under the
//     default retention of a busy installation;
//   - "rare": the oldest 1 % finished, behind a backlog of available jobs.
//
// Kinds k0 to k8, and k9 on one job in a thousand; queues q0 to q4, and
// qr on one job in a thousand; tag tag-42 on one job in a hundred; args
// {"order": "order-<n>"}. $KILN_PAGES_STORE is "sqlite" (the default: a
// file kiln_pages_<mix>.db in $KILN_PAGES_DIR, default the temporary
// directory) or "postgres" ($KILN_TEST_POSTGRES_URL, schema
// kiln_pages_1m_<mix>, each page timed with plan_cache_mode
// force_custom_plan and force_generic_plan). The jobs stay, for the next
// run, which migrates them first. Each page runs once to warm the caches,
// then $KILN_PAGES_RUNS times (default 3): the table gives the least and
// the median, in milliseconds.
//
//	KILN_PAGES_1M=common KILN_PAGES_STORE=postgres go test ./dashboard -run TestPageTimes -v -timeout 60m
func TestPageTimes(t *testing.T) {
	mix := os.Getenv("KILN_PAGES_1M")
	if mix == "" {
		t.Skip("set KILN_PAGES_1M=common or rare to time the pages (builds a store of 1,000,000 jobs)")
	}
	finished := map[string]int{"common": 900_000, "rare": 10_000}[mix]
	if finished == 0 {
		t.Fatalf("KILN_PAGES_1M=%q: want common or rare", mix)
	}
	runs := 3
	if v := os.Getenv("KILN_PAGES_RUNS"); v != "" {
		var err error
		if runs, err = strconv.Atoi(v); err != nil || runs < 1 {
			t.Fatalf("KILN_PAGES_RUNS=%q: want a number", v)
		}
	}
	ctx := context.Background()
	var stores []pageStore
	switch kind := os.Getenv("KILN_PAGES_STORE"); kind {
	case "postgres":
		base := os.Getenv("KILN_TEST_POSTGRES_URL")
		if base == "" {
			t.Fatal("KILN_PAGES_STORE=postgres needs KILN_TEST_POSTGRES_URL")
		}
		schema := "kiln_pages_1m_" + mix
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("plan_cache_mode", mode) // a run-time parameter of each connection
			u.RawQuery = q.Encode()
			start := time.Now()
			st, err := postgres.Open(ctx, u.String(), &postgres.Options{Schema: schema, MaxConns: 2, Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("opened and migrated in %v", time.Since(start).Round(time.Millisecond))
			t.Cleanup(func() { st.Close() })
			stores = append(stores, pageStore{name: strings.TrimPrefix(mode, "force_"), st: st})
		}
		pg := stores[0].st.(*postgres.Store)
		seedPagesPostgres(t, pg, pgx.Identifier{schema}.Sanitize(), finished)
	case "", "sqlite":
		dir := os.Getenv("KILN_PAGES_DIR")
		if dir == "" {
			dir = os.TempDir()
		}
		path := filepath.Join(dir, "kiln_pages_"+mix+".db")
		start := time.Now()
		st, err := sqlite.Open(ctx, path, &sqlite.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("opened and migrated in %v", time.Since(start).Round(time.Millisecond))
		t.Cleanup(func() { st.Close() })
		seedPagesSQLite(t, path, finished)
		stores = append(stores, pageStore{name: "sqlite", st: st})
	default:
		t.Fatalf("KILN_PAGES_STORE=%q: want sqlite or postgres", kind)
	}
	// The counters after a seed by SQL: the PostgreSQL store counts its
	// own statements' jobs, not rows inserted by hand.
	rebuild, err := kiln.NewClient(&kiln.Config{Store: stores[0].st})
	if err != nil {
		t.Fatal(err)
	}
	if fixed, err := rebuild.StatsRebuild(ctx); err != nil {
		t.Fatal(err)
	} else if len(fixed) > 0 {
		t.Logf("counters rebuilt: %d corrections", len(fixed))
	}

	mid := finished / 2
	pages := []string{
		"/", "/queues", "/jobs",
		"/jobs?state=available", "/jobs?state=scheduled", "/jobs?state=running",
		"/jobs?state=retryable", "/jobs?state=pending",
		"/jobs?state=completed", "/jobs?state=discarded", "/jobs?state=cancelled",
		fmt.Sprintf("/jobs?state=completed&cursor=%d", mid), fmt.Sprintf("/jobs?state=discarded&cursor=%d", mid),
		"/jobs?state=completed&kind=k1", "/jobs?state=completed&kind=k9",
		"/jobs?state=discarded&kind=k1", "/jobs?state=discarded&kind=k9", "/jobs?state=cancelled&kind=k9",
		"/jobs?state=completed&queue=q1", "/jobs?state=discarded&queue=qr", "/jobs?state=discarded&kind=k1&queue=q1",
		"/jobs?state=running&kind=k9", "/jobs?state=available&kind=k9", "/jobs?state=available&kind=k1",
		"/jobs?kind=k1", "/jobs?kind=k9", "/jobs?queue=qr", "/jobs?queue=q1",
		"/jobs?tag=tag-42", "/jobs?state=completed&tag=tag-42",
		"/jobs?q=order-999990", fmt.Sprintf("/jobs?state=completed&q=order-%d", mid),
		fmt.Sprintf("/jobs/%d", mid),
		"/bulk/new?action=retry&state=discarded", "/bulk/new?action=retry&state=discarded&kind=k1",
		"/bulk/new?action=retry&state=discarded&kind=k9",
	}
	if p := os.Getenv("KILN_PAGES_ONLY"); p != "" {
		pages = slices.DeleteFunc(pages, func(page string) bool { return !strings.Contains(page, p) })
	}
	// times[page][store] holds each run's page time and call times.
	type run struct {
		page  time.Duration
		calls []timedCall
	}
	times := make([][][]run, len(pages))
	for si, ps := range stores {
		ts := &timedStore{Store: ps.st}
		client, err := kiln.NewClient(&kiln.Config{Store: ts})
		if err != nil {
			t.Fatal(err)
		}
		h, err := dashboard.New(client, nil)
		if err != nil {
			t.Fatal(err)
		}
		for pi, page := range pages {
			if si == 0 {
				times[pi] = make([][]run, len(stores))
			}
			for i := range runs + 1 {
				ts.reset()
				r := httptest.NewRequest(http.MethodGet, page, nil)
				r.RemoteAddr = "127.0.0.1:1"
				r.Host = "localhost"
				w := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(w, r)
				d := time.Since(start)
				if w.Code != http.StatusOK {
					t.Fatalf("GET %s (%s): %d %s", page, ps.name, w.Code, w.Body)
				}
				if i > 0 {
					times[pi][si] = append(times[pi][si], run{d, ts.taken()})
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s mix, %d runs after a warm-up: least / median, ms\n\n| page | store call |", mix, runs)
	for _, ps := range stores {
		fmt.Fprintf(&b, " %s |", ps.name)
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(stores)) + "\n")
	stat := func(ds []time.Duration) string {
		slices.Sort(ds)
		ms := func(d time.Duration) string { return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 2, 64) }
		return ms(ds[0]) + " / " + ms(ds[len(ds)/2])
	}
	for pi, page := range pages {
		fmt.Fprintf(&b, "| `%s` | whole page |", page)
		for si := range stores {
			var ds []time.Duration
			for _, r := range times[pi][si] {
				ds = append(ds, r.page)
			}
			fmt.Fprintf(&b, " %s |", stat(ds))
		}
		b.WriteString("\n")
		first := times[pi][0][0].calls
		for ci, c := range first {
			fmt.Fprintf(&b, "| | %s |", c.name)
			for si := range stores {
				var ds []time.Duration
				for _, r := range times[pi][si] {
					if ci < len(r.calls) && r.calls[ci].name == c.name {
						ds = append(ds, r.calls[ci].took)
					}
				}
				if len(ds) == 0 {
					b.WriteString(" – |")
					continue
				}
				fmt.Fprintf(&b, " %s |", stat(ds))
			}
			b.WriteString("\n")
		}
	}
	t.Log(b.String())
}

// pageStore is a store that TestPageTimes times the pages on.
type pageStore struct {
	name string
	st   store.Store
}

// timedCall is one store call of a page and how long it took.
type timedCall struct {
	name string
	took time.Duration
}

// timedStore records the time of the store calls that the dashboard's
// pages of jobs send; every other call goes to Store untimed. It is safe
// for concurrent use.
type timedStore struct {
	store.Store
	mu    sync.Mutex // guards calls
	calls []timedCall
}

func (s *timedStore) record(name string, start time.Time) {
	d := time.Since(start)
	s.mu.Lock()
	s.calls = append(s.calls, timedCall{name, d})
	s.mu.Unlock()
}

func (s *timedStore) reset() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

func (s *timedStore) taken() []timedCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *timedStore) JobList(ctx context.Context, p *store.JobListParams) ([]*kilntype.JobRow, error) {
	defer s.record("JobList "+describeList(p), time.Now())
	return s.Store.JobList(ctx, p)
}

func (s *timedStore) JobCountMatching(ctx context.Context, p *store.JobCountMatchingParams) (int, error) {
	lp := store.BulkListParamsFor(&p.Filter, p.After, p.UpTo, 0)
	defer s.record(fmt.Sprintf("JobCountMatching %s limit %d", describeList(lp), p.Limit), time.Now())
	return s.Store.JobCountMatching(ctx, p)
}

func (s *timedStore) JobCountByQueueState(ctx context.Context) ([]store.JobCount, error) {
	defer s.record("JobCountByQueueState", time.Now())
	return s.Store.JobCountByQueueState(ctx)
}

func (s *timedStore) JobCountByState(ctx context.Context) (map[kilntype.JobState]int, error) {
	defer s.record("JobCountByState", time.Now())
	return s.Store.JobCountByState(ctx)
}

func (s *timedStore) JobGet(ctx context.Context, p *store.JobGetParams) (*kilntype.JobRow, error) {
	defer s.record("JobGet", time.Now())
	return s.Store.JobGet(ctx, p)
}

func (s *timedStore) JobAttemptList(ctx context.Context, p *store.JobAttemptListParams) ([]*kilntype.JobAttempt, error) {
	defer s.record("JobAttemptList", time.Now())
	return s.Store.JobAttemptList(ctx, p)
}

// describeList says what a JobList's params ask for, in a few words.
func describeList(p *store.JobListParams) string {
	var parts []string
	add := func(name string, v any) { parts = append(parts, fmt.Sprintf("%s %v", name, v)) }
	if p.States != nil {
		add("states", p.States)
	}
	if p.Kinds != nil {
		add("kinds", p.Kinds)
	}
	if p.Queues != nil {
		add("queues", p.Queues)
	}
	if p.Tag != "" {
		add("tag", p.Tag)
	}
	if p.ArgsContains != "" {
		add("text", strconv.Quote(p.ArgsContains))
	}
	if p.Cursor != 0 {
		add("after", p.Cursor)
	}
	if p.StopAt != 0 {
		add("to", p.StopAt)
	}
	if p.OrderAsc {
		parts = append(parts, "oldest first")
	}
	if p.Limit != 0 {
		add("limit", p.Limit)
	}
	return strings.Join(parts, ", ")
}

// sqlPagesPostgres fills kiln_job of the schema %[1]s (quoted) with
// 1,000,000 jobs, the oldest $1 finished (see TestPageTimes), created 10 ms
// apart up to now.
const sqlPagesPostgres = `INSERT INTO %[1]s.kiln_job (kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, leased_by, lease_expires_at, finalized_at, tags, last_error)
SELECT CASE WHEN g %% 1000 = 7 THEN 'k9' ELSE 'k' || (g %% 9) END,
	CASE WHEN g %% 1000 = 11 THEN 'qr' ELSE 'q' || (g %% 5) END,
	jsonb_build_object('order', 'order-' || g), st, 1,
	CASE WHEN st IN ('available', 'scheduled') THEN 0 ELSE 1 END, 3,
	t, t + CASE WHEN st = 'scheduled' THEN interval '1 day' ELSE interval '0' END,
	CASE WHEN st NOT IN ('available', 'scheduled') THEN t END,
	CASE WHEN st = 'running' THEN 'p' END, CASE WHEN st = 'running' THEN t + interval '1 day' END,
	CASE WHEN st IN ('completed', 'discarded', 'cancelled') THEN t + interval '5 ms' END,
	CASE WHEN g %% 100 = 42 THEN ARRAY['tag-42'] ELSE '{}' END,
	CASE WHEN st = 'discarded' THEN 'boom' END
FROM (SELECT g, now() - (1000000 - g) * interval '10 ms' AS t,
	CASE WHEN g <= $1 THEN CASE WHEN g %% 100 = 3 THEN 'cancelled' WHEN g %% 50 = 1 THEN 'discarded' ELSE 'completed' END
		WHEN g %% 100 = 5 THEN 'running' WHEN g %% 20 = 2 THEN 'scheduled' ELSE 'available' END AS st
	FROM generate_series(1, 1000000) AS g) AS j`

// seedPagesPostgres fills the schema (quoted) of st with TestPageTimes's
// jobs unless it has jobs.
func seedPagesPostgres(t *testing.T, st *postgres.Store, schema string, finished int) {
	ctx := context.Background()
	pool := st.Pool()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT FROM `+schema+`.kiln_job LIMIT 10) AS j`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		return
	}
	start := time.Now()
	for _, q := range []string{
		fmt.Sprintf(sqlPagesPostgres, schema), // its trigger fills kiln_job_tag
		`VACUUM ANALYZE ` + schema + `.kiln_job`,
		`VACUUM ANALYZE ` + schema + `.kiln_job_tag`,
	} {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, finished)
		}
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded 1,000,000 jobs in %v", time.Since(start).Round(time.Millisecond))
}

// sqlPagesSQLite is sqlPagesPostgres for SQLite (times in microseconds).
const sqlPagesSQLite = `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 1000000)
INSERT INTO kiln_job (kind, queue, args, state, priority, attempt, max_attempts,
	created_at, scheduled_at, attempted_at, leased_by, lease_expires_at, finalized_at, tags, last_error)
SELECT CASE WHEN n % 1000 = 7 THEN 'k9' ELSE 'k' || (n % 9) END,
	CASE WHEN n % 1000 = 11 THEN 'qr' ELSE 'q' || (n % 5) END,
	'{"order":"order-' || n || '"}', st, 1,
	CASE WHEN st IN ('available', 'scheduled') THEN 0 ELSE 1 END, 3,
	t, t + CASE WHEN st = 'scheduled' THEN 86400000000 ELSE 0 END,
	CASE WHEN st NOT IN ('available', 'scheduled') THEN t END,
	CASE WHEN st = 'running' THEN 'p' END, CASE WHEN st = 'running' THEN t + 86400000000 END,
	CASE WHEN st IN ('completed', 'discarded', 'cancelled') THEN t + 5000 END,
	CASE WHEN n % 100 = 42 THEN '["tag-42"]' ELSE '[]' END,
	CASE WHEN st = 'discarded' THEN 'boom' END
FROM (SELECT n, ?2 - (1000000 - n) * 10000 AS t,
	CASE WHEN n <= ?1 THEN CASE WHEN n % 100 = 3 THEN 'cancelled' WHEN n % 50 = 1 THEN 'discarded' ELSE 'completed' END
		WHEN n % 100 = 5 THEN 'running' WHEN n % 20 = 2 THEN 'scheduled' ELSE 'available' END AS st
	FROM g) AS j`

// seedPagesSQLite fills the SQLite database at path with TestPageTimes's
// jobs unless it has jobs.
func seedPagesSQLite(t *testing.T, path string, finished int) {
	ctx := context.Background()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM kiln_job LIMIT 10)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		return
	}
	start := time.Now()
	// No ANALYZE: the store never runs it, so its plans are those of a
	// database without statistics.
	// Its triggers count the jobs and fill kiln_job_tag.
	if _, err := db.ExecContext(ctx, sqlPagesSQLite, finished, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded 1,000,000 jobs in %v", time.Since(start).Round(time.Millisecond))
}
