package sqlite

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"modernc.org/sqlite"
)

// burnDownPages runs the shape of the burn-down benchmarks on s: jobs
// jobs of kind "k" in queue "q", round robin over keys partition keys
// (none when keys is 0), then claims of max jobs (by key under a limit of
// 1 when partitioned), each followed by the completion of its jobs, until
// claims jobs are claimed. It returns the pages the writer fetched from
// its page cache and the pages it wrote (SQLite's sqlite3_db_status
// CACHE_HIT + CACHE_MISS and CACHE_WRITE), per claimed job, for the claims
// and for the finishes.
func burnDownPages(t *testing.T, keys, jobs, max, claims int, partitioned, rated bool, keyRated ...bool) (claimRead, claimWritten, finishRead, finishWritten float64) {
	t.Helper()
	ctx := t.Context()
	s := openMigrated(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	for i := 0; i < jobs; i += 1000 {
		var params []*store.JobInsertParams
		for j := i; j < min(i+1000, jobs); j++ {
			p := &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
				State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
			if keys > 0 {
				p.Partition = strconv.Itoa(j % keys)
			}
			params = append(params, p)
		}
		if _, err := s.JobInsertMany(ctx, params); err != nil {
			t.Fatal(err)
		}
	}
	params := &store.JobClaimParams{Queue: "q", Kinds: []string{"k"}, Max: max, LeasedBy: "p",
		LeaseExpiresAt: now.Add(time.Minute), Now: now}
	if rated {
		params.RateLimits = map[string]kilntype.RateLimit{"k": {Limit: 10_000_000, Period: time.Second, Burst: 1_000_000}}
	}
	if len(keyRated) > 0 && keyRated[0] {
		params.KeyRateLimits = map[string]kilntype.RateLimit{"k": {Limit: 10_000_000, Period: time.Second, Burst: 1_000_000}}
	}
	if partitioned {
		params.Partitioned = map[string]store.PartitionClaim{"k": {MaxRunning: 1}}
	}
	// A first claim of another queue prepares the statements.
	warm := *params
	warm.Queue = "other"
	if _, err := s.JobClaim(ctx, &warm); err != nil {
		t.Fatal(err)
	}
	var cr, cw, fr, fw, claimed int
	for claimed < claims {
		pageCounts(t, s.w)
		got, err := s.JobClaim(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		r, w := pageCounts(t, s.w)
		cr, cw = cr+r, cw+w
		if len(got) == 0 {
			t.Fatalf("claim %d: nothing claimed", claimed)
		}
		claimed += len(got)
		fin := make([]*store.JobFinishParams, len(got))
		for i, j := range got {
			fin[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: "p", State: kilntype.JobStateCompleted, Now: now,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: now, FinishedAt: &now,
					Server: "p", Outcome: kilntype.AttemptSucceeded}}
		}
		if _, err := s.JobFinishMany(ctx, fin); err != nil {
			t.Fatal(err)
		}
		r, w = pageCounts(t, s.w)
		fr, fw = fr+r, fw+w
	}
	n := float64(claimed)
	return float64(cr) / n, float64(cw) / n, float64(fr) / n, float64(fw) / n
}

// pageCounts returns the pages that the connection of db (a pool of one
// connection, not in use) fetched from its page cache (hits and misses)
// and wrote since the previous call, and resets the counts.
func pageCounts(t testing.TB, db *sql.DB) (read, written int) {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Raw(func(dc any) error {
		for _, c := range []struct {
			op  sqlite.DBStatusOp
			sum *int
		}{{sqlite.DBStatusCacheHit, &read}, {sqlite.DBStatusCacheMiss, &read}, {sqlite.DBStatusCacheWrite, &written}} {
			cur, _, err := dc.(sqlite.DBStatus).Status(c.op, true)
			if err != nil {
				return err
			}
			*c.sum += cur
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return read, written
}

// TestPartitionClaimPagesPerJob counts the pages that claims under a
// per-key limit fetch and write, in the shape of
// BenchmarkBurnDownPartitionLimit (20,000 jobs round robin over 1,000
// keys, claims of 100 under a limit of 1 per key, each followed by the
// completion of its jobs), beside the plain claims of the same jobs
// without keys. Each claimed job costs the per-key claim a seek of
// kiln_job_claim_partition to list its key and the row's lookup to read
// it: the take reads the job whose ID the listing found (sqlPartitionKeysListed,
// sqlPartitionTakeIDs), 8.5 pages per job, where seeking each key's range
// again fetched 11.5; 6.5 since migration 025 (kiln_job_claim_partition
// without a second copy of the ID: at this size the index has one level
// fewer, and each seek or removal of an entry fetches one page fewer).
// The first 2,000 jobs are claimed (5,000 before: the same figure, 5.7
// pages, at 40 % of the claims' time); the 20,000 jobs stay, for the
// index's depth. The plain claims of the same jobs without keys (1.4
// pages), which it ran beside and only printed, are left out: they took
// half of its time under -race.
func TestPartitionClaimPagesPerJob(t *testing.T) {
	t.Parallel()
	keyRead, keyWritten, _, _ := burnDownPages(t, 1_000, 20_000, 100, 2_000, true, false)
	t.Logf("pages per claimed job: per-key claim %.1f fetched, %.2f written", keyRead, keyWritten)
	if keyRead > 10 {
		t.Errorf("the per-key claim fetched %.1f pages per job, want at most 10", keyRead)
	}
}

// TestKeyRateClaimPagesPerJob is TestPartitionClaimPagesPerJob under a
// per-key rate limit that does not bind (no per-key cap): the claim walks
// kiln_job_claim_fair from its front (sqlPartitionFairRate), one lookup of
// kiln_rate_limit_state per job, and removes the claimed jobs' entries at
// the front of that index. 6.3 pages fetched and 0.20 written per job
// (with migration 037, which drops kiln_job_claim_partition); 9.4 and 0.36
// when the claim listed keys and budgets (sqlPartitionKeyBudgets over
// kiln_job_claim_partition) and took each key's first job by ID (10.9
// before that listing returned the IDs, 8.9 after migration 025). As
// there, the first 2,000 of 20,000 jobs are claimed.
func TestKeyRateClaimPagesPerJob(t *testing.T) {
	t.Parallel()
	read, written, _, _ := burnDownPages(t, 1_000, 20_000, 100, 2_000, false, false, true)
	t.Logf("pages per claimed job under a per-key rate limit: %.1f fetched, %.2f written", read, written)
	if read > 8 {
		t.Errorf("the claim under a per-key rate limit fetched %.1f pages per job, want at most 8", read)
	}
}
