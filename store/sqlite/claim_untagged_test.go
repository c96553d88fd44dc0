package sqlite

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/storetest"
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
	insertIn := func(queue, kind, key string, at time.Time) int64 {
		t.Helper()
		res, err := s.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: kind, Queue: queue, Args: []byte(`{}`),
			Priority: 1, MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: at,
			CreatedAt: now.Add(-time.Hour), Partition: key}})
		if err != nil {
			t.Fatal(err)
		}
		return res[0].Job.ID
	}
	insert := func(kind, key string, at time.Time) int64 { return insertIn("q", kind, key, at) }
	// Key a's three jobs, then key b's one (fair order a1, b1, a2, a3;
	// a1 is the queue's oldest available job), a job without a key, one of
	// kind k2 with a key (the only job of its kind), and one of kind only
	// with a key in queue qk (the only job of its queue).
	a1 := insert("k", "a", now.Add(-50*time.Minute))
	a2 := insert("k", "a", now.Add(-40*time.Minute))
	a3 := insert("k", "a", now.Add(-30*time.Minute))
	b1 := insert("k", "b", now.Add(-20*time.Minute))
	plain := insert("k", "", now.Add(-45*time.Minute))
	k2 := insert("k2", "c", now.Add(-time.Minute))
	only := insertIn("qk", "only", "c", now.Add(-time.Hour))
	// A keyed job without a tag.
	loose := insert("k", "d", now.Add(-10*time.Minute))
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET fair_seq = NULL WHERE id = ?`, loose); err != nil {
		t.Fatal(err)
	}
	// Many available jobs of another queue, so that the merged list of
	// kind only reads the available jobs sorted from the indexes' ranges
	// of the queues that have some (availableWalkFor: few of the kind),
	// not the table.
	filler := make([]*store.JobInsertParams, 300)
	for i := range filler {
		filler[i] = &store.JobInsertParams{Kind: "filler", Queue: "q3", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
	}
	if _, err := s.JobInsertMany(ctx, filler); err != nil {
		t.Fatal(err)
	}
	wantClaimOrderSplit(t, s)
	all := []int64{a1, a2, a3, b1, plain, k2, loose}
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
	if got := listed(&store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}, Queues: []string{"q"}, Limit: 50}); !slices.Equal(got, all) {
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
	if err != nil || len(queues) != 3 || queues[0].Name != "q" || queues[0].Available != len(all) || queues[0].OldestAvailableAt == nil ||
		!queues[0].OldestAvailableAt.Equal(now.Add(-50*time.Minute)) || queues[2].Name != "qk" ||
		queues[2].OldestAvailableAt == nil || !queues[2].OldestAvailableAt.Equal(now.Add(-time.Hour)) {
		t.Errorf("QueueList: %v, %v; want queue q with %d available jobs, the oldest at %v, and qk's at %v",
			queueRows(queues), err, len(all), now.Add(-50*time.Minute), now.Add(-time.Hour))
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
	// Any kind: the kinds come from both indexes (k2 has a keyed job
	// alone); every job is claimed.
	got := claim(&store.JobClaimParams{AnyKind: true, Max: 10})
	slices.Sort(got)
	if want := []int64{a2, a3, b1, k2, loose}; !slices.Equal(got, want) {
		t.Errorf("claim of any kind: %v, want %v", got, want)
	}
	wantClaimOrderSplit(t, s)

	// A bulk move of the available keyed jobs, then they stay in the fair
	// order under their new queue.
	moved := insert("k", "e", now.Add(-5*time.Minute))
	op, err := s.BulkCreate(ctx, &store.BulkCreateParams{Action: kilntype.BulkMove,
		Filter: kilntype.JobFilter{States: []kilntype.JobState{kilntype.JobStateAvailable}, Queues: []string{"q"}}, TargetQueue: "q2", Owner: "p", Now: now})
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

// queueRows prints rows' names, available jobs and oldest available job.
func queueRows(rows []*store.QueueRow) []string {
	var out []string
	for _, r := range rows {
		out = append(out, fmt.Sprintf("%s %d %v", r.Name, r.Available, r.OldestAvailableAt))
	}
	return out
}

// TestUpgradeFrom038 migrates a database of version 38 (the fair order,
// before migrations 039 and 040) holding a job in each state, available
// jobs with a key (tagged by 035's triggers), one of them parked and one
// left without a tag by hand, and one without a key given a tag by hand,
// to the current version: migration 039 builds kiln_job_claim_untagged and
// clears the tag of the job without a key, so that every available job is
// in exactly one of it and kiln_job_claim_fair, and 040 drops
// kiln_job_claim_kind (wantClaimOrderSplit); so it stays after an UPDATE
// by hand empties a tagged job's key (039's kiln_job_untag); a claim without
// per-key config then takes every
// keyed job (deleted then), and the jobs run through the store
// (storetest.CheckUpgradedJobs). It fails before 039 (no
// kiln_job_claim_untagged), and without 039's UPDATE or its trigger
// (checked: the job without a key is in neither index).
func TestUpgradeFrom038(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, old := oldJobs(t, 38)
	var keyed []int64
	for _, key := range []string{"a", "a", "b", "c"} {
		var id int64
		if err := s.w.QueryRowContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, partition_key)
VALUES ('keyed', 'keyed', '{}', 'available', 1, 3, 0, 0, ?) RETURNING id`, key).Scan(&id); err != nil {
			t.Fatal(err)
		}
		keyed = append(keyed, id)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET park_seq = fair_seq, fair_seq = NULL WHERE id = ?`, keyed[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET fair_seq = NULL WHERE id = ?`, keyed[3]); err != nil {
		t.Fatal(err)
	}
	// A job without a key given a tag by hand: migration 039 clears it.
	var tagged int64
	if err := s.w.QueryRowContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, partition_key, fair_seq)
VALUES ('keyed', 'keyed', '{}', 'available', 1, 3, 0, 0, '', 7) RETURNING id`).Scan(&tagged); err != nil {
		t.Fatal(err)
	}
	keyed = append(keyed, tagged)
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	wantClaimOrderSplit(t, s)
	// A key set to '' by hand: kiln_job_untag clears the tag.
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET partition_key = '' WHERE id = ?`, keyed[2]); err != nil {
		t.Fatal(err)
	}
	wantClaimOrderSplit(t, s)
	jobs, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "keyed", Kinds: []string{"keyed"}, Max: 10, LeasedBy: "p",
		LeaseExpiresAt: time.Now().Add(time.Minute), Now: time.Now()})
	got := ids(jobs)
	slices.Sort(got)
	if err != nil || !slices.Equal(got, keyed) {
		t.Errorf("plain claim of the keyed jobs after the upgrade: %v, %v; want %v", got, err, keyed)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM kiln_job WHERE queue = 'keyed'`); err != nil {
		t.Fatal(err)
	}
	storetest.CheckUpgradedJobs(t, s, old)
}
