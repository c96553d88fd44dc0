package sqlite

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// keyedKinds inserts, in queue "q", perKind available jobs with a key of
// each of kinds kinds ("k0" to "k<kinds-1>"), over 10 keys per kind, each
// with args of argBytes bytes, scheduled a second apart, and returns the
// store's time after them.
func keyedKinds(t testing.TB, s *Store, kinds, perKind, argBytes int) time.Time {
	t.Helper()
	ctx := t.Context()
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	args := []byte(`{"pad":"` + strings.Repeat("x", max(argBytes-10, 0)) + `"}`)
	for k := range kinds {
		params := make([]*store.JobInsertParams, perKind)
		for i := range params {
			params[i] = &store.JobInsertParams{Kind: fmt.Sprintf("k%d", k), Queue: "q", Args: args, Priority: 1,
				MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: now.Add(time.Duration(i) * time.Second),
				CreatedAt: now, Partition: fmt.Sprintf("key%d", i%10)}
		}
		if _, err := s.JobInsertMany(ctx, params); err != nil {
			t.Fatal(err)
		}
	}
	return now.Add(time.Duration(perKind) * time.Second)
}

// TestPlainClaimOfManyKeyedKinds checks what a claim without per-key
// settings reads of a queue whose kinds have keyed backlogs (50 kinds of
// 300 keyed jobs each, with 1 KB of args: the review's shape, docs/benchmarks.md,
// "SQLite keyed jobs in the fair index alone (litec, 2026-12-07
// fourteenth session)", "What is left", item 5): the candidates come from
// the indexes alone (each kind's first window of its fair order, 128
// entries of a few dozen bytes), and only the rows of the jobs claimed are
// read. Before, each kind's window of whole rows was read and sorted: a
// claim of any kind fetched 6,400 rows' pages (2.2–2.6 s in the review).
// It also checks that the claim returns its jobs in claim order and takes
// the front of each kind's fair order, and that a claim of one kind reads
// no other kind's jobs.
func TestPlainClaimOfManyKeyedKinds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	const kinds, perKind, max = 50, 300, 100
	now := keyedKinds(t, s, kinds, perKind, 1024)
	params := &store.JobClaimParams{Queue: "q", AnyKind: true, Max: max, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	// A first claim of another queue prepares the statements.
	warm := *params
	warm.Queue = "other"
	if _, err := s.JobClaim(ctx, &warm); err != nil {
		t.Fatal(err)
	}
	pageCounts(t, s.w)
	start := time.Now()
	got, err := s.JobClaim(ctx, params)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	read, _ := pageCounts(t, s.w)
	t.Logf("a claim of any kind of %d jobs over %d kinds of %d keyed jobs with 1 KB of args: %d pages fetched, %v",
		max, kinds, perKind, read, elapsed)
	if len(got) != max {
		t.Fatalf("claimed %d jobs, want %d", len(got), max)
	}
	if !slices.IsSortedFunc(got, compareClaimOrder) {
		t.Errorf("the claimed jobs are not in claim order: %v", ids(got))
	}
	for _, j := range got {
		if j.State != kilntype.JobStateRunning || j.Attempt != 1 || len(j.Args) < 1024 || j.Partition == "" || j.Queue != "q" {
			t.Errorf("job %d claimed as %s, attempt %d, %d bytes of args, key %q, queue %q", j.ID, j.State, j.Attempt,
				len(j.Args), j.Partition, j.Queue)
		}
	}
	// The claim's 100 rows (a seek each, and their update), the indexes'
	// windows, and the counts: 768 pages. Reading each kind's window of
	// whole rows fetched 2,920.
	if read > 1_500 {
		t.Errorf("the claim fetched %d pages, want at most 1,500", read)
	}

	// A claim of one kind reads that kind's jobs only.
	one := *params
	one.AnyKind, one.Kinds = false, []string{"k7"}
	pageCounts(t, s.w)
	got, err = s.JobClaim(ctx, &one)
	if err != nil {
		t.Fatal(err)
	}
	read, _ = pageCounts(t, s.w)
	t.Logf("a claim of one kind of %d jobs: %d pages fetched", max, read)
	if len(got) != max {
		t.Fatalf("claimed %d jobs of k7, want %d", len(got), max)
	}
	for _, j := range got {
		if j.Kind != "k7" {
			t.Errorf("a claim of k7 took job %d of %s", j.ID, j.Kind)
		}
	}
	if read > 500 {
		t.Errorf("the claim of one kind fetched %d pages, want at most 500", read)
	}
}

// TestClaimFairArmsReadNoRow checks with EXPLAIN (the bytecode) that the
// fair arms of a claim's candidates statement, which sort each kind's
// first window of its fair order into claim order, read no column of
// kiln_job's rows: each reads kiln_job_claim_fair alone, and the table's
// cursor that SQLite pairs with it (DeferredSeek: the seek is made only
// when a column of the row is read) is never read. (EXPLAIN QUERY PLAN
// names these seeks USING INDEX, not COVERING: SQLite opens the table for
// state, which the partial index's predicate implies.) When the fair arms
// read claimColumns, each read and sorted its window of whole rows
// (TestPlainClaimOfManyKeyedKinds).
func TestClaimFairArmsReadNoRow(t *testing.T) {
	t.Parallel()
	s := openMigrated(t)
	var fairRoot int
	if err := s.w.QueryRowContext(t.Context(), `SELECT rootpage FROM sqlite_schema WHERE name = 'kiln_job_claim_fair'`).Scan(&fairRoot); err != nil {
		t.Fatal(err)
	}
	for _, k := range []int{1, 3} {
		args := []any{"default", 1, nil, `["b"]`}
		for i := range k {
			args = append(args, fmt.Sprintf("k%d", i))
		}
		rows, err := s.w.QueryContext(t.Context(), "EXPLAIN "+sqlClaimCandidates(16, k), args...)
		if err != nil {
			t.Fatal(err)
		}
		fair := map[int64]bool{}  // the cursors on kiln_job_claim_fair
		table := map[int64]bool{} // the table cursors paired with them
		var columns []int64       // the table's columns read through those
		for rows.Next() {
			var (
				addr, p1, p2, p3, p5 int64
				op                   string
				p4, comment          any
			)
			if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
				t.Fatal(err)
			}
			switch {
			case op == "OpenRead" && p2 == int64(fairRoot):
				fair[p1] = true
			case op == "DeferredSeek" && fair[p1]:
				table[p3] = true
			case op == "Column" && table[p1]:
				columns = append(columns, p2)
			}
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
		if len(fair) != k {
			t.Errorf("%d kinds: %d cursors on kiln_job_claim_fair, want %d", k, len(fair), k)
		}
		if len(columns) > 0 {
			t.Errorf("%d kinds: the fair arms read the columns %v of kiln_job's rows, want none", k, columns)
		}
	}
}

// TestPlainClaimKeyedRows checks the rows that a claim without per-key
// settings returns for keyed jobs, which its candidates hold as the fair
// index's columns only (fairCandidateColumns) until it reads them by ID:
// over 120 kinds (two candidates statements merged in Go, maxMergedKinds)
// of three keyed jobs each and one without a key, under a kind limit, the
// claim takes the first jobs in claim order, with every column as
// inserted.
func TestPlainClaimKeyedRows(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	const kinds = 120
	var params []*store.JobInsertParams
	for k := range kinds {
		for i := range 4 {
			key := fmt.Sprintf("key%d", i)
			if i == 3 {
				key = ""
			}
			params = append(params, &store.JobInsertParams{Kind: fmt.Sprintf("k%03d", k), Queue: "q",
				Args: []byte(fmt.Sprintf(`{"k":%d,"i":%d}`, k, i)), Priority: 1 + i%3/2, MaxAttempts: 3,
				State: kilntype.JobStateAvailable, ScheduledAt: now.Add(-time.Duration((k*7+i*13)%50) * time.Second),
				CreatedAt: now.Add(-time.Hour), Partition: key, Tags: []string{"t"}, Metadata: []byte(`{"m":1}`)})
		}
	}
	res, err := s.JobInsertMany(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	inserted := map[int64]*kilntype.JobRow{}
	var all []*kilntype.JobRow
	for _, r := range res {
		inserted[r.Job.ID] = r.Job
		all = append(all, r.Job)
	}
	slices.SortFunc(all, compareClaimOrder)
	// The first 60 in claim order, at most one of kind k005.
	var want []int64
	limited := 0
	for _, j := range all {
		if j.Kind == "k005" {
			if limited++; limited > 1 {
				continue
			}
		}
		if want = append(want, j.ID); len(want) == 60 {
			break
		}
	}
	got, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", AnyKind: true, Max: 60, LeasedBy: "p",
		KindLimits: map[string]int{"k005": 1}, LeaseExpiresAt: now.Add(time.Minute), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(got), want) {
		t.Errorf("claimed %v, want %v", ids(got), want)
	}
	for _, j := range got {
		in := inserted[j.ID]
		if in == nil {
			continue
		}
		if string(j.Args) != string(in.Args) || j.Kind != in.Kind || j.Queue != "q" || j.Priority != in.Priority ||
			j.MaxAttempts != 3 || j.Attempt != 1 || !j.CreatedAt.Equal(in.CreatedAt) || !j.ScheduledAt.Equal(in.ScheduledAt) ||
			j.Partition != in.Partition || !slices.Equal(j.Tags, []string{"t"}) || string(j.Metadata) != `{"m":1}` ||
			j.State != kilntype.JobStateRunning || j.LeasedBy != "p" {
			t.Errorf("job %d claimed as %+v, inserted as %+v", j.ID, j, in)
		}
	}
}

// BenchmarkPlainClaimManyKeyedKinds times claims of any kind of 100 jobs
// over 50 kinds of 300 keyed jobs each with 1 KB of args, without per-key
// settings (TestPlainClaimOfManyKeyedKinds's shape), and reports the pages
// each fetched. Each claim takes 100 of the 15,000 jobs: run it with
// -benchtime of at most 100x.
func BenchmarkPlainClaimManyKeyedKinds(b *testing.B) {
	ctx := b.Context()
	s := openMigrated(b)
	now := keyedKinds(b, s, 50, 300, 1024)
	params := &store.JobClaimParams{Queue: "q", AnyKind: true, Max: 100, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	warm := *params
	warm.Queue = "other"
	if _, err := s.JobClaim(ctx, &warm); err != nil {
		b.Fatal(err)
	}
	pageCounts(b, s.w)
	claims := 0
	for b.Loop() {
		got, err := s.JobClaim(ctx, params)
		if err != nil || len(got) != 100 {
			b.Fatalf("claim %d: %d jobs, %v", claims, len(got), err)
		}
		claims++
	}
	read, _ := pageCounts(b, s.w)
	b.ReportMetric(float64(read)/float64(claims), "pages/claim")
}
