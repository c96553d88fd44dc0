package postgres

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// keyForms says, for each of ids, whether the job's partition_key is
// NULL ("null"), "" ("empty") or a key ("key").
func keyForms(t *testing.T, s *Store, ids ...int64) []string {
	t.Helper()
	var out []string
	for _, id := range ids {
		var form string
		if err := s.pool.QueryRow(t.Context(), s.expand(`SELECT CASE WHEN partition_key IS NULL THEN 'null'
	WHEN partition_key = '' THEN 'empty' ELSE 'key' END FROM {s}.kiln_job WHERE id = $1`), id).Scan(&form); err != nil {
			t.Fatal(err)
		}
		out = append(out, form)
	}
	return out
}

// insertForms inserts, with JobInsertMany, a round of one job without a
// key (sqlInsertJobsSharedKeyless), a round of two jobs of two kinds
// without keys (sqlInsertJobsKeyless), and a round of two jobs of two
// kinds, one with a key and one without (sqlInsertJobs), and returns the
// IDs: shared, two without keys, keyed and unkeyed of the mixed round.
func insertForms(t *testing.T, s *Store) []int64 {
	t.Helper()
	at := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	job := func(kind, key string) *store.JobInsertParams {
		return &store.JobInsertParams{Kind: kind, Queue: "q", Args: []byte(`{}`), State: kilntype.JobStateAvailable,
			Priority: 1, MaxAttempts: 1, CreatedAt: at, ScheduledAt: at, Partition: key}
	}
	var ids []int64
	for _, round := range [][]*store.JobInsertParams{
		{job("a", "")}, {job("a", ""), job("b", "")}, {job("a", "k"), job("b", "")},
	} {
		res, err := s.JobInsertMany(t.Context(), round)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			ids = append(ids, r.Job.ID)
		}
	}
	return ids
}

// TestPartitionKeyNull checks migrations 030 and 031 on a schema where a
// process of a build before 030 is registered (schema_version 0, as its
// rows read): Migrate applies 030 and holds 031, and a job inserted
// without a key gets "" (the column's default); once that process is gone,
// Migrate applies 031, and such a job gets NULL, except in a round mixing
// jobs with and without keys (""); every job reads back with its key, ""
// for none, whether NULL or "".
func TestPartitionKeyNull(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storeAtVersion(t, 29)
	// A process of an older build: its registry row leaves schema_version
	// out, as builds before 029 write it.
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_server (id, host, pid, queues, kinds, started_at, heartbeat_at)
VALUES ('old', 'h', 1, '[]', '{}', now(), now())`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	held, err := s.MigrationsHeld(ctx)
	if err != nil || len(held) != 1 || held[0].Name != "031_partition_key_null" || len(held[0].Older) != 1 {
		t.Fatalf("MigrationsHeld: %q, %v; want 031 held by server old", held, err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	before := insertForms(t, s)
	if got, want := keyForms(t, s, before...), []string{"empty", "empty", "empty", "key", "empty"}; !slices.Equal(got, want) {
		t.Errorf("partition_key with 031 held: %v, want %v", got, want)
	}

	if _, err := s.pool.Exec(ctx, s.expand(`DELETE FROM {s}.kiln_server`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if held, err := s.MigrationsHeld(ctx); err != nil || len(held) != 0 {
		t.Fatalf("MigrationsHeld after: %q, %v; want none", held, err)
	}
	after := insertForms(t, s)
	if got, want := keyForms(t, s, after...), []string{"null", "null", "null", "key", "empty"}; !slices.Equal(got, want) {
		t.Errorf("partition_key with 031 applied: %v, want %v", got, want)
	}
	for _, id := range append(before, after...) {
		j, err := s.JobGet(ctx, &store.JobGetParams{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]string{true: "k", false: ""}[id == before[3] || id == after[3]]; j.Partition != want {
			t.Errorf("job %d: Partition %q, want %q", id, j.Partition, want)
		}
	}
}

// TestPartitionClaimsReadNullAsNoKey checks that the claims by partition
// key take a job whose partition_key is NULL as one without a key, as they
// take one whose partition_key is "" (both forms are in a table written
// before and after migration 031): uncapped, claimed with the other jobs
// without a key, read back with Partition "". It runs the three ways a
// kind is claimed by key: in claim order under a per-key limit, in rounds
// of keys without a limit, and in rounds under a per-key rate limit (whose
// budget of the key "" the jobs without a key share).
func TestPartitionClaimsReadNullAsNoKey(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		claim    store.PartitionClaim
		rate     bool
		wantKeys map[string]int // claimed jobs by key
	}{
		{name: "InOrderLimit", claim: store.PartitionClaim{MaxRunning: 1}, wantKeys: map[string]int{"": 4, "k1": 1, "k2": 1}},
		{name: "Rounds", claim: store.PartitionClaim{}, wantKeys: map[string]int{"": 4, "k1": 2, "k2": 1}},
		{name: "KeyRate", claim: store.PartitionClaim{MaxRunning: 1}, rate: true, wantKeys: map[string]int{"": 4, "k1": 1, "k2": 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := NewForTest(t)
			now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
			if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at, partition_key)
SELECT 't', 'q', '{}', 'available', 1, 1, $1, $1, k FROM unnest(ARRAY['', NULL, 'k1', '', 'k1', NULL, 'k2']) AS k`),
				now.Add(-time.Hour)); err != nil {
				t.Fatal(err)
			}
			params := &store.JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"}, LeasedBy: "proc", Now: now,
				LeaseExpiresAt: now.Add(time.Minute), Partitioned: map[string]store.PartitionClaim{"t": tc.claim}}
			if tc.rate {
				params.KeyRateLimits = map[string]kilntype.RateLimit{"t": {Limit: 1_000_000, Period: time.Second, Burst: 1000}}
			}
			got := map[string]int{}
			for range 5 {
				jobs, err := s.JobClaim(ctx, params)
				if err != nil {
					t.Fatal(err)
				}
				for _, j := range jobs {
					got[j.Partition]++
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.wantKeys) {
				t.Errorf("claimed by key %v, want %v", got, tc.wantKeys)
			}
		})
	}
}
