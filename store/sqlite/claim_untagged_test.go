package sqlite

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// wantClaimOrderSplit fails the test unless every available job of s is
// in exactly one of the two indexes of the claim order (migration 039's
// kiln_job_claim_untagged, 035's kiln_job_claim_fair) and the schema has
// no kiln_job_claim_kind (dropped by the contract migration 040).
func wantClaimOrderSplit(t *testing.T, s *Store) {
	t.Helper()
	if got := jobIndexes(t, s); slices.Contains(got, "kiln_job_claim_kind") || !slices.Contains(got, "kiln_job_claim_untagged") {
		t.Fatalf("indexes of kiln_job: %v, want kiln_job_claim_untagged and no kiln_job_claim_kind", got)
	}
	var available, untagged, fair, both int
	if err := s.r.QueryRowContext(t.Context(), `SELECT
	(SELECT count(*) FROM kiln_job WHERE state = 'available'),
	(SELECT count(*) FROM `+sqlClaimUntagged+` WHERE `+untaggedPredicate+`),
	(SELECT count(*) FROM `+sqlClaimFair+` WHERE `+fairPredicate+`),
	(SELECT count(*) FROM (SELECT id FROM `+sqlClaimUntagged+` WHERE `+untaggedPredicate+`
		INTERSECT SELECT id FROM `+sqlClaimFair+` WHERE `+fairPredicate+`))`).Scan(&available, &untagged, &fair, &both); err != nil {
		t.Fatal(err)
	}
	if untagged+fair != available || both != 0 {
		t.Errorf("%d available jobs: %d in kiln_job_claim_untagged, %d in kiln_job_claim_fair, %d in both", available, untagged, fair, both)
	}
}

// TestKeyedJobsWithoutClaimByKey checks that a job with a key, whose one
// claim-order entry is in kiln_job_claim_fair (migrations 039 and 040),
// stays visible to everything that is not a claim by key: a claim of its
// kind without per-key config takes it (in fair order: the first jobs of
// the fair order, the oldest first among them), and so does a claim of
// any kind (AnyKind lists the kinds of both indexes); JobList (by the
// index walk and the merged list), JobCountMatching and QueueList's oldest
// available job see it; a bulk move moves it. A keyed job without a tag
// (as an UPDATE by hand may leave it) is in kiln_job_claim_untagged and
// seen as well. It fails on the build before 039 (no
// kiln_job_claim_untagged), and with the fair arm of any of these readers
// removed (checked: the plain claim's, sqlAvailableKinds's,
// walkAvailable's, QueueList's).
func TestKeyedJobsWithoutClaimByKey(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	insert := func(kind, key string, at time.Time) int64 {
		t.Helper()
		res, err := s.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: kind, Queue: "q", Args: []byte(`{}`),
			Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: at,
			CreatedAt: now.Add(-time.Hour), Partition: key}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Job.ID
	}
	// Key a's three jobs, then key b's one (fair order a1, b1, a2, a3),
	// a job without a key, and one of kind "only" with a key: the oldest
	// available job of the queue.
	a1 := insert("k", "a", now.Add(-50*time.Minute))
	a2 := insert("k", "a", now.Add(-40*time.Minute))
	a3 := insert("k", "a", now.Add(-30*time.Minute))
	b1 := insert("k", "b", now.Add(-20*time.Minute))
	plain := insert("k", "", now.Add(-45*time.Minute))
	only := insert("only", "c", now.Add(-time.Hour))
	// A keyed job without a tag.
	loose := insert("k", "d", now.Add(-10*time.Minute))
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET fair_seq = NULL WHERE id = ?`, loose); err != nil {
		t.Fatal(err)
	}
	wantClaimOrderSplit(t, s)
	all := []int64{a1, a2, a3, b1, plain, only, loose}
	ofK := []int64{a1, a2, a3, b1, plain, loose}

	count, err := s.JobCountMatching(ctx, &store.JobCountMatchingParams{Filter: kilntype.JobFilter{
		States: []kilntype.JobState{kilntype.JobStateAvailable}, Kinds: []string{"k"}, Queues: []string{"q"}}, Limit: 100})
	if err != nil || count != len(ofK) {
		t.Errorf("JobCountMatching of the available jobs of kind k: %d, %v; want %d", count, err, len(ofK))
	}
	listed := func(p *store.JobListParams) []int64 {
		t.Helper()
		jobs, err := s.JobList(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		got := ids(jobs)
		slices.Sort(got)
		return got
	}
	if got := listed(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Limit: 50}); !slices.Equal(got, all) {
		t.Errorf("JobList of the available jobs: %v, want %v", got, all)
	}
	if got := listed(&store.JobListParams{Kinds: []string{"k"}, Limit: 50}); !slices.Equal(got, ofK) {
		t.Errorf("JobList of kind k (merged): %v, want %v", got, ofK)
	}
	if got := listed(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable},
		Kinds: []string{"only"}, Limit: 50}); !slices.Equal(got, []int64{only}) {
		t.Errorf("JobList of the available jobs of kind only (merged, no queue): %v, want [%d]", got, only)
	}
	queues, err := s.QueueList(ctx)
	if err != nil || len(queues) != 1 || queues[0].Available != len(all) || queues[0].OldestAvailableAt == nil ||
		!queues[0].OldestAvailableAt.Equal(now.Add(-time.Hour)) {
		t.Errorf("QueueList: %+v, %v; want queue q with %d available jobs, the oldest at %v", queues, err, len(all), now.Add(-time.Hour))
	}

	claim := func(p *store.JobClaimParams) []int64 {
		t.Helper()
		p.Queue, p.LeasedBy, p.LeaseExpiresAt, p.Now = "q", "p", now.Add(time.Minute), now
		jobs, err := s.JobClaim(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		return ids(jobs)
	}
	// A claim of kind k without per-key config, two jobs: the first two of
	// the fair order (a1, b1) and the jobs outside it (plain, loose), the
	// oldest first: a1 (-50m), plain (-45m).
	if got, want := claim(&store.JobClaimParams{Kinds: []string{"k"}, Max: 2}), []int64{a1, plain}; !slices.Equal(got, want) {
		t.Errorf("plain claim of kind k: %v, want %v", got, want)
	}
	// Any kind: the kinds come from both indexes (only has a keyed job
	// alone); every job is claimed.
	got := claim(&store.JobClaimParams{AnyKind: true, Max: 10})
	slices.Sort(got)
	if want := []int64{a2, a3, b1, only, loose}; !slices.Equal(got, want) {
		t.Errorf("claim of any kind: %v, want %v", got, want)
	}
	wantClaimOrderSplit(t, s)

	// A bulk move of the available keyed jobs, then they stay in the fair
	// order under their new queue.
	moved := insert("k", "e", now.Add(-5*time.Minute))
	op, err := s.BulkCreate(ctx, &store.BulkCreateParams{Action: kilntype.BulkMove,
		Filter: kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateAvailable}}, TargetQueue: "q2", Owner: "p", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	for op.State == kilntype.BulkRunning {
		res, err := s.BulkRunBatch(ctx, &store.BulkRunBatchParams{ID: op.ID, Owner: "p", Now: now, Limit: 10, Window: 1000})
		if err != nil {
			t.Fatal(err)
		}
		op = res.Op
	}
	if got := listed(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Queues: []string{"q2"}, Limit: 50}); !slices.Equal(got, []int64{moved}) {
		t.Errorf("available jobs of q2 after the bulk move: %v, want [%d]", got, moved)
	}
	wantClaimOrderSplit(t, s)
	if got := claim(&store.JobClaimParams{Kinds: []string{"k"}, Max: 5}); len(got) != 0 {
		t.Errorf("claim of q after the move: %v, want none", got)
	}
	jobs, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q2", Kinds: []string{"k"}, Max: 5, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now})
	if err != nil || !slices.Equal(ids(jobs), []int64{moved}) {
		t.Errorf("plain claim of q2: %v, %v; want [%d]", ids(jobs), err, moved)
	}
}

// ids returns the IDs of jobs, in their order.
func ids(jobs []*kilntype.JobRow) []int64 {
	out := make([]int64, len(jobs))
	for i, j := range jobs {
		out[i] = j.ID
	}
	return out
}
