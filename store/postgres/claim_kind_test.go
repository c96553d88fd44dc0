package postgres

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/store"
)

// foreignJobs is how many available jobs of a kind no claim asks for
// TestClaimReadsOnlyItsKinds queues ahead of the claimed ones.
const foreignJobs = 20_000

// queueForeignJobs queues foreignJobs available jobs of kind "foreign" in
// queue "q" of s, created and due an hour before now.
func queueForeignJobs(t *testing.T, s *Store, now time.Time) {
	t.Helper()
	if _, err := s.pool.Exec(t.Context(), s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at)
SELECT 'foreign', 'q', '{}', 'available', 1, 1, $1::timestamptz - interval '1 hour', $1::timestamptz - interval '1 hour'
FROM generate_series(1, $2)`), now, foreignJobs); err != nil {
		t.Fatal(err)
	}
}

// TestClaimReadsOnlyItsKinds checks that a claim reads about as many index
// entries as it takes jobs, however many jobs of other kinds wait ahead of
// them in the queue: with foreignJobs available jobs of kind "foreign"
// first in claim order and one job of each kind claimed, a claim of those
// kinds (one kind: the direct form; three: the merge of their ranges; with
// a kind limit: rounds in a transaction) takes them and reads fewer than
// 100 entries of kiln_job's indexes, counted by PostgreSQL itself
// (pg_stat_get_xact_tuples_returned of each index, in the claim's
// transaction), with custom
// and generic plans. A claim that walked the queue and filtered the kinds
// would read foreignJobs entries.
func TestClaimReadsOnlyItsKinds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	queueForeignJobs(t, s, now)
	var mine []int64
	for _, kind := range []string{"mine", "mine2", "mine3"} {
		var id int64
		if err := s.pool.QueryRow(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at) VALUES ($2, 'q', '{}', 'available', 1, 1, $1, $1) RETURNING id`),
			now, kind).Scan(&id); err != nil {
			t.Fatal(err)
		}
		mine = append(mine, id)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`ANALYZE {s}.kiln_job`)); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name   string
		kinds  []string
		limits map[string]int
	}{
		{"one kind", []string{"mine"}, nil},
		{"three kinds", []string{"mine", "mine2", "mine3"}, nil},
		{"three kinds with a limit", []string{"mine", "mine2", "mine3"}, map[string]int{"mine2": 1}},
	} {
		for _, mode := range []string{"force_custom_plan", "force_generic_plan"} {
			params := &store.JobClaimParams{Queue: "q", Kinds: tc.kinds, KindLimits: tc.limits, Max: 10,
				LeasedBy: "p", LeaseExpiresAt: now.Add(time.Minute), Now: now}
			c := s.newClaim(params)
			var read int
			err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, "SET LOCAL plan_cache_mode = "+mode); err != nil {
					return err
				}
				// pgx prepares the claim: run it as often as PostgreSQL
				// takes to settle on a plan, the last one counted.
				for range 6 {
					if _, err := tx.Exec(ctx, "SAVEPOINT claim"); err != nil {
						return err
					}
					c = s.newClaim(params)
					if err := c.run(ctx, s, tx); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT claim"); err != nil {
						return err
					}
				}
				var before int
				if err := tx.QueryRow(ctx, sqlIndexEntriesRead, s.quoted).Scan(&before); err != nil {
					return err
				}
				c = s.newClaim(params)
				if err := c.run(ctx, s, tx); err != nil {
					return err
				}
				if err := tx.QueryRow(ctx, sqlIndexEntriesRead, s.quoted).Scan(&read); err != nil {
					return err
				}
				read -= before
				return tx.Rollback(ctx)
			})
			if err != nil && err != pgx.ErrTxClosed {
				t.Fatalf("%s, %s: %v", tc.name, mode, err)
			}
			var got []int64
			for _, j := range c.claimed {
				got = append(got, j.ID)
			}
			want := mine[:len(tc.kinds)]
			if len(got) != len(want) {
				t.Errorf("%s, %s: claimed %v, want %v", tc.name, mode, got, want)
			}
			t.Logf("%s, %s: %d index entries read", tc.name, mode, read)
			if read >= 100 {
				t.Errorf("%s, %s: the claim read %d index entries of kiln_job with %d jobs of another kind queued, want < 100",
					tc.name, mode, read, foreignJobs)
			}
		}
	}
}

// sqlIndexEntriesRead sums the index entries that the current transaction
// read from the indexes of $1.kiln_job.
const sqlIndexEntriesRead = `SELECT coalesce(sum(pg_catalog.pg_stat_get_xact_tuples_returned(indexrelid)), 0)::int
FROM pg_catalog.pg_index WHERE indrelid = ($1 || '.kiln_job')::regclass`
