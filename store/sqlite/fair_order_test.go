package sqlite

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// fairNow is the clock of the fair order's tests.
var fairNow = time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)

// fairInsert inserts, through JobInsertMany, one available job of kind k
// in queue q at priority 1 per key of keys (in that order), scheduled at
// fairNow.
func fairInsert(t *testing.T, s *Store, keys ...string) {
	t.Helper()
	params := make([]*store.JobInsertParams, len(keys))
	for i, k := range keys {
		params[i] = &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
			State: kilntype.JobStateAvailable, ScheduledAt: fairNow, CreatedAt: fairNow, Partition: k}
	}
	if _, err := s.JobInsertMany(t.Context(), params); err != nil {
		t.Fatal(err)
	}
}

// fairClaim claims up to max jobs of kind k in queue q under a per-key
// limit of limit.
func fairClaim(t *testing.T, s *Store, max, limit int) []*kilntype.JobRow {
	t.Helper()
	got, err := s.JobClaim(t.Context(), &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: max, LeasedBy: "p",
		LeaseExpiresAt: fairNow.Add(time.Minute), Now: fairNow, Partitioned: map[string]store.PartitionClaim{"k": {MaxRunning: limit}}})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// fairFinish completes the running job id.
func fairFinish(t *testing.T, s *Store, id int64) {
	t.Helper()
	if _, err := s.JobFinishMany(t.Context(), []*store.JobFinishParams{{ID: id, LeasedBy: "p", State: kilntype.JobStateCompleted, Now: fairNow,
		Attempt: kilntype.JobAttempt{JobID: id, Attempt: 1, StartedAt: fairNow, FinishedAt: &fairNow, Server: "p", Outcome: kilntype.AttemptSucceeded}}}); err != nil {
		t.Fatal(err)
	}
}

// fairSeq returns job id's fair_seq and park_seq (0: NULL).
func fairSeq(t *testing.T, s *Store, id int64) (seq, park int64) {
	t.Helper()
	var v, p *int64
	if err := s.w.QueryRowContext(t.Context(), `SELECT fair_seq, park_seq FROM kiln_job WHERE id = ?`, id).Scan(&v, &p); err != nil {
		t.Fatal(err)
	}
	if v != nil {
		seq = *v
	}
	if p != nil {
		park = *p
	}
	return seq, park
}

// TestFairSeqTransitions checks the tags of migration 035: an insert by
// JobInsertMany, an insert by another statement (the trigger), and a job
// made available again by an UPDATE (a retry, a promotion) each get
// max(V, the key's last + 1), V the tag at the front of the queue, kind
// and priority; a key's jobs of one JobInsertMany are tagged in schedule
// order; a parked job made available again is tagged anew and unparked.
func TestFairSeqTransitions(t *testing.T) {
	ctx := t.Context()
	s := openMigrated(t)
	now := fairNow
	var params []*store.JobInsertParams
	// Key a's three jobs in the reverse of their schedule order: tagged
	// in schedule order (jobs 3, 2, 1).
	for i, k := range []string{"a", "a", "a", "b"} {
		params = append(params, &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 3,
			State: kilntype.JobStateAvailable, ScheduledAt: now.Add(-time.Duration(i) * time.Minute), CreatedAt: now, Partition: k})
	}
	params = append(params, &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 3,
		State: kilntype.JobStateScheduled, ScheduledAt: now.Add(time.Hour), CreatedAt: now, Partition: "c"})
	if _, err := s.JobInsertMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	want := func(id, w int64) {
		t.Helper()
		if got, _ := fairSeq(t, s, id); got != w {
			t.Errorf("job %d: fair_seq %d, want %d", id, got, w)
		}
	}
	exec := func(q string) {
		t.Helper()
		if _, err := s.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	want(3, 1)
	want(2, 2)
	want(1, 3)
	want(4, 1) // a new key starts at the front, V = 1
	want(5, 0) // scheduled: no tag
	// Job 3 leaves (claimed); V is 1 (job 4, b): the promotion of job 5
	// (key c, new) gets V = 1.
	exec(`UPDATE kiln_job SET state = 'running' WHERE id = 3`)
	exec(`UPDATE kiln_job SET state = 'available' WHERE id = 5`)
	want(5, 1)
	// Job 4 leaves; V is 1 (job 5); job 3 comes back (a retry): key a's
	// last is 3, so 4.
	exec(`UPDATE kiln_job SET state = 'running' WHERE id = 4`)
	exec(`UPDATE kiln_job SET state = 'available' WHERE id = 3`)
	want(3, 4)
	// An insert by another statement (the trigger): key b's last is 1, V
	// is 1 (job 5): 2.
	exec(`INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
		VALUES ('k', 'q', '{}', 'available', 1, 1, 0, 0, 'b')`)
	want(6, 2)
	// A priority changed while available: tagged at the new priority's
	// front (its first tag there: 1).
	exec(`UPDATE kiln_job SET priority = 2 WHERE id = 6`)
	want(6, 1)
	// A parked job (park_seq set by a claim) that an UPDATE makes available
	// again is tagged anew and leaves the parked index.
	exec(`UPDATE kiln_job SET park_seq = fair_seq, fair_seq = NULL WHERE id = 2`)
	exec(`UPDATE kiln_job SET state = 'running' WHERE id = 2`)
	exec(`UPDATE kiln_job SET state = 'available' WHERE id = 2`)
	if seq, park := fairSeq(t, s, 2); seq != 5 || park != 0 {
		t.Errorf("job 2 made available again: fair_seq %d, park_seq %d, want 5 and NULL", seq, park)
	}
	// Every job with a key leaves: V is the largest tag given (5), so a new
	// key gets 5, not 1, and no earlier than a key that ran before.
	exec(`UPDATE kiln_job SET state = 'running' WHERE state = 'available' AND priority = 1`)
	fairInsert(t, s, "d")
	want(7, 5)
}

// TestFairClaimOrder checks the claim in fair order: keys come round robin
// whatever their backlogs (key a's 5 jobs inserted first, then one of b and
// one of c: a claim of 3 takes one of each), each key's jobs in its order,
// and a key at its limit is passed over.
func TestFairClaimOrder(t *testing.T) {
	s := openMigrated(t)
	fairInsert(t, s, "a", "a", "a", "a", "a")
	fairInsert(t, s, "b", "c")
	got := fairClaim(t, s, 3, 2)
	var keys string
	for _, j := range got {
		keys += j.Partition
	}
	if keys != "abc" {
		t.Fatalf("first claim took keys %q, want \"abc\"", keys)
	}
	if got[0].ID != 1 {
		t.Errorf("key a's first job claimed is %d, want 1", got[0].ID)
	}
	// a has 1 running of 2: one more, its second; then it is at its limit.
	got = fairClaim(t, s, 3, 2)
	if len(got) != 1 || got[0].ID != 2 {
		t.Fatalf("second claim: %v, want job 2 alone", got)
	}
	if got := fairClaim(t, s, 3, 2); len(got) != 0 {
		t.Fatalf("third claim: %d jobs, want none (a at its limit)", len(got))
	}
}

// TestFairWalkBehindStuckKey checks the bound of the walk past a key at
// its limit (parking, sqlFairPark): key a's first job runs and never
// finishes (limit 1) while key b's jobs are claimed one at a time and
// finished. Without parking, each claim walks past a's entries from the
// front (held by a) to b's next level, so that the pages a claim reads
// grow with b's progress; with it, a's entries beyond its head leave the
// fair index as the walk passes them, and the pages per claim stay flat.
// Once a's running job finishes, a's jobs come back in its order.
func TestFairWalkBehindStuckKey(t *testing.T) {
	s := openMigrated(t)
	const n = 1000
	for range n / 500 {
		keys := make([]string, 0, 1000)
		for range 500 {
			keys = append(keys, "a", "b")
		}
		fairInsert(t, s, keys...)
	}
	var early, late int // pages read by claims 2-101, and by claims n/2+1 to n-1
	var aFirst int64
	p0 := fairStats.Parked.Load()
	for c := 1; c < n; c++ {
		pageCounts(t, s.w)
		got := fairClaim(t, s, 1, 1)
		r, _ := pageCounts(t, s.w)
		if len(got) != 1 {
			t.Fatalf("claim %d: %d jobs", c, len(got))
		}
		if c >= 2 && c <= 101 {
			early += r
		} else if c > n/2 {
			late += r
		}
		if got[0].Partition == "a" {
			if aFirst != 0 {
				t.Fatalf("claim %d: a's job %d while a's %d runs", c, got[0].ID, aFirst)
			}
			aFirst = got[0].ID
			continue // a's job runs on
		}
		fairFinish(t, s, got[0].ID)
	}
	meanEarly, meanLate := float64(early)/100, float64(late)/float64(n-1-n/2)
	t.Logf("pages read per claim: %.1f in claims 2-101, %.1f after claim %d; %d of a's jobs parked",
		meanEarly, meanLate, n/2, fairStats.Parked.Load()-p0)
	if meanLate > 2*meanEarly {
		t.Errorf("the walk grows: %.1f pages read per claim after claim %d, %.1f in claims 2-101", meanLate, n/2, meanEarly)
	}
	// a's job finishes: a's next jobs come in its order (the parked ones
	// given back one at a time), alternating with b's last.
	fairFinish(t, s, aFirst)
	next := aFirst + 2 // a's jobs are every other ID
	for c := range 20 {
		got := fairClaim(t, s, 1, 1)
		if len(got) != 1 {
			t.Fatalf("after a's finish, claim %d: %d jobs", c, len(got))
		}
		if got[0].Partition == "a" {
			if got[0].ID != next {
				t.Errorf("after a's finish, claim %d: a's job %d, want %d", c, got[0].ID, next)
			}
			next = got[0].ID + 2
		}
		fairFinish(t, s, got[0].ID)
	}
	if next < aFirst+2*8 {
		t.Errorf("after a's finish, a's jobs up to %d claimed in 20 claims, want at least 8", next-2)
	}
}

// TestFairParkedOrphan checks the sweep (sqlFairSweep): a key whose jobs
// were parked while it was at its limit, and whose entries in the fair
// order then leave it other than by a claim in it (deleted here), gets its
// parked jobs back within fairSweepEvery claims once it has room; without
// the sweep nothing would ever claim them.
func TestFairParkedOrphan(t *testing.T) {
	s := openMigrated(t)
	aRunning, parked := fairParkA(t, s) // a's first job runs on; b's run and finish
	// a's entries in the fair order leave (deleted: its head and the jobs
	// past the walks' reach), then a's running job finishes: a has room,
	// and parked jobs only.
	if _, err := s.w.ExecContext(t.Context(), `DELETE FROM kiln_job WHERE partition_key = 'a' AND state = 'available' AND fair_seq IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	fairFinish(t, s, aRunning)
	for c := 1; c <= fairSweepEvery+1; c++ {
		got := fairClaim(t, s, 1, 1)
		if len(got) != 1 {
			t.Fatalf("%d jobs claimed", len(got))
		}
		if got[0].Partition == "a" {
			t.Logf("a's %d parked jobs: a claimed again at claim %d after its finish (job %d)", parked, c, got[0].ID)
			return
		}
		fairFinish(t, s, got[0].ID)
	}
	t.Fatalf("a's parked jobs not claimed within %d claims", fairSweepEvery+1)
}

// TestFairUnkeyedBound checks the bound on a job without a key of a kind
// claimed in fair order. Such jobs are not in the fair index: a claim
// looks for them every store.PartitionWalkEvery-th claim (and after a walk
// that came back short) among the first window of the kind's jobs in
// claim order and the next window past where the previous look stopped
// (sqlUnkeyedJobs, sqlUnkeyedDeep). So with keys whose backlogs fill every
// claim, a job without a key within the first window is claimed within
// PartitionWalkEvery claims whenever it comes, and one d jobs deep in
// claim order within PartitionWalkEvery × ceil(d / window) claims.
func TestFairUnkeyedBound(t *testing.T) {
	s := openMigrated(t)
	keys := make([]string, 0, 2000)
	for i := range 2000 {
		keys = append(keys, string(rune('a'+i%20)))
	}
	fairInsert(t, s, keys...)
	unkeyed := func(at time.Time) {
		t.Helper()
		if _, err := s.JobInsertMany(t.Context(), []*store.JobInsertParams{{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1,
			MaxAttempts: 1, State: kilntype.JobStateAvailable, ScheduledAt: at, CreatedAt: fairNow}}); err != nil {
			t.Fatal(err)
		}
	}
	// within returns the claims of 2 (fair kind: no cap) until the job
	// without a key is claimed, failing past limit.
	within := func(limit int) int {
		t.Helper()
		for c := 1; c <= limit; c++ {
			got := fairClaim(t, s, 2, 0)
			if len(got) != 2 {
				t.Fatalf("%d jobs claimed, want 2", len(got))
			}
			if got[0].Partition == "" || got[1].Partition == "" {
				return c
			}
		}
		t.Fatalf("the job without a key not claimed within %d claims", limit)
		return 0
	}
	for round := range 3 {
		for range round * 5 { // the job arrives at another point of the cadence
			fairClaim(t, s, 2, 0)
		}
		unkeyed(fairNow.Add(-time.Minute)) // first in claim order
		t.Logf("round %d: claimed at claim %d", round, within(store.PartitionWalkEvery))
	}
	// Behind the keys' 2,000 - 2 × 40 jobs in claim order: windows of 64.
	unkeyed(fairNow) // after them in ID order
	t.Logf("behind the backlog: claimed at claim %d", within(store.PartitionWalkEvery*((2000+63)/64)))
}

// TestFairBoundUnderLimit is storetest's FairnessBoundUnderLimit at
// SQLite's bound: a capped kind claimed in fair order serves a key with
// room within ceil(E/M) claims (docs/flow-control.md), here 1, where the
// suite allows store.PartitionWalkEvery times as many (PostgreSQL's claim
// in claim order first): key a's 2,000 jobs come first, then key b's 10,
// and every claim of 10 (limit 50, which never binds: each claim's jobs
// finish before the next) takes one of b's at each tag level until b has
// none left.
func TestFairBoundUnderLimit(t *testing.T) {
	s := openMigrated(t)
	keys := make([]string, 0, 2000)
	for range 2000 {
		keys = append(keys, "a")
	}
	fairInsert(t, s, keys...)
	keys = keys[:0]
	for range 10 {
		keys = append(keys, "b")
	}
	fairInsert(t, s, keys...)
	b := 0
	for c := 1; b < 10; c++ {
		got := fairClaim(t, s, 10, 50)
		n := 0
		for _, j := range got {
			if j.Partition == "b" {
				n++
			}
			fairFinish(t, s, j.ID)
		}
		if n == 0 {
			t.Fatalf("claim %d took no job of b (%d of its 10 claimed before)", c, b)
		}
		b += n
	}
}

// TestFairBackfill checks migration 035's backfill: the available jobs
// with a key of a database of version 34 get, per queue, kind, key and
// priority, the tags 1, 2, ... in schedule order (then ID), the keys'
// last tags are recorded (the next insert of a key follows them), and the
// jobs not available, or without a key, get none.
func TestFairBackfill(t *testing.T) {
	ctx := t.Context()
	s, err := Open(ctx, t.TempDir()+"/kiln.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.migrateTo(ctx, 34); err != nil {
		t.Fatal(err)
	}
	for _, j := range []struct {
		state, key string
		prio, at   int
	}{
		{"available", "a", 1, 30}, {"available", "a", 1, 10}, {"available", "a", 1, 20}, // IDs 1-3: tags 3, 1, 2
		{"available", "b", 1, 10}, {"available", "a", 2, 10}, {"scheduled", "a", 1, 5}, {"available", "", 1, 1},
	} {
		if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, partition_key)
VALUES ('k', 'q', '{}', ?1, ?2, 1, 0, ?3, ?4)`, j.state, j.prio, j.at, j.key); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	got := queryTexts(t, s.r, `SELECT id || ':' || coalesce(fair_seq, '-') FROM kiln_job ORDER BY id`)
	if want := []string{"1:3", "2:1", "3:2", "4:1", "5:1", "6:-", "7:-"}; !slices.Equal(got, want) {
		t.Errorf("tags after the backfill: %v, want %v", got, want)
	}
	fairInsert(t, s, "a", "c")
	got = queryTexts(t, s.r, `SELECT id || ':' || fair_seq FROM kiln_job WHERE id > 7 ORDER BY id`)
	if want := []string{"8:4", "9:1"}; !slices.Equal(got, want) {
		t.Errorf("tags of the inserts after the backfill: %v, want %v (a after its 3, c at the front)", got, want)
	}
}
