package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// skew is how far the clocks of the two hosts of TestDatabaseClockSkew are
// from the database's: host A's is skew behind, host B's skew ahead.
const skew = 10 * time.Minute

// skewedStores opens two Stores on one new schema, with the database's
// clock (the default), for hosts A and B.
func skewedStores(t *testing.T) (a, b *postgres.Store) {
	t.Helper()
	schema := newSchema(t)
	a = open(t, &postgres.Options{Schema: schema, MaxConns: 2, Migrate: true})
	b = open(t, &postgres.Options{Schema: schema, MaxConns: 2})
	return a, b
}

// hostA and hostB are the skewed clocks of hosts A and B.
func hostA() time.Time { return time.Now().Add(-skew) }
func hostB() time.Time { return time.Now().Add(skew) }

// dbNow returns the database's clock.
func dbNow(t *testing.T, s *postgres.Store) time.Time {
	t.Helper()
	var now time.Time
	if err := s.Pool().QueryRow(context.Background(), `SELECT clock_timestamp()`).Scan(&now); err != nil {
		t.Fatal(err)
	}
	return now
}

// wantAround fails t unless got is within [from+d, to+d]: a time that the
// database computed as its now plus d, between from and to.
func wantAround(t *testing.T, what string, got, from, to time.Time, d time.Duration) {
	t.Helper()
	if got.Before(from.Add(d).Truncate(time.Microsecond)) || got.After(to.Add(d)) {
		t.Errorf("%s = %v, want the database's now + %s, between %v and %v", what, got, d, from.Add(d), to.Add(d))
	}
}

// TestDatabaseClockSkew runs two Stores on one schema as two hosts whose
// clocks are 20 minutes apart (one 10 minutes behind the database's, one
// 10 minutes ahead), with the store's default, the database's clock.
// Neither may take the other's leader term, singleton lease or job lease
// while it runs, however far its own clock is ahead; leases and terms are
// set from the database's clock, and still end on it.
func TestDatabaseClockSkew(t *testing.T) {
	t.Parallel()

	for _, name := range []string{"maintenance", "service:mailer"} {
		t.Run("Leader/"+name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			a, b := skewedStores(t)
			elect := func(s *postgres.Store, id string, now time.Time, ttl time.Duration) bool {
				t.Helper()
				ok, err := s.LeaderAttemptElect(ctx, &store.LeaderElectParams{Name: name, LeaderID: id, TTL: ttl, Now: now})
				if err != nil {
					t.Fatalf("LeaderAttemptElect(%s): %v", id, err)
				}
				return ok
			}
			from := dbNow(t, a)
			if !elect(a, "a", hostA(), 30*time.Second) {
				t.Fatal("host A not elected on a free name")
			}
			to := dbNow(t, a)
			var expires time.Time
			if err := a.Pool().QueryRow(ctx, `SELECT expires_at FROM "`+a.Schema()+`".kiln_leader WHERE name = $1`,
				name).Scan(&expires); err != nil {
				t.Fatal(err)
			}
			wantAround(t, "term end", expires, from, to, 30*time.Second)
			if elect(b, "b", hostB(), 30*time.Second) {
				t.Fatal("host B, 20 minutes ahead, was elected while host A's term runs: both lead")
			}
			if !elect(a, "a", hostA(), 30*time.Second) {
				t.Fatal("host A, 20 minutes behind, not re-elected")
			}
			// A term of 1 ms ends on the database's clock: host B takes
			// over once it has.
			if !elect(a, "a", hostA(), time.Millisecond) {
				t.Fatal("host A not re-elected")
			}
			testutil.Eventually(t, "host B to be elected after host A's term of 1 ms ended", func() bool {
				return elect(b, "b", hostB(), 30*time.Second)
			})
			if elect(a, "a", hostA(), 30*time.Second) {
				t.Fatal("host A elected while host B's term runs: both lead")
			}
		})
	}

	t.Run("Lease", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		a, b := skewedStores(t)
		at := hostA()
		if _, err := a.JobInsertMany(ctx, []*store.JobInsertParams{{Kind: "noop", Queue: "default", Args: []byte(`{}`),
			Priority: 1, MaxAttempts: 3, State: kilntype.JobStateAvailable, ScheduledAt: at, CreatedAt: at}}); err != nil {
			t.Fatal(err)
		}
		rescue := func() []*kilntype.JobRow {
			t.Helper()
			now := hostB()
			rows, err := b.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now, Max: 10})
			if err != nil {
				t.Fatal(err)
			}
			return rows
		}

		from := dbNow(t, a)
		now := hostA()
		jobs, err := a.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: 1, AnyKind: true, LeasedBy: "a",
			LeaseExpiresAt: now.Add(time.Minute), Now: now})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("host A's claim: %v, %v", jobs, err)
		}
		wantAround(t, "claimed lease end", *jobs[0].LeaseExpiresAt, from, dbNow(t, a), time.Minute)
		if got := rescue(); len(got) != 0 {
			t.Fatal("host B, 20 minutes ahead, rescued a job whose lease of 1 minute had just begun: it runs twice")
		}

		from = dbNow(t, a)
		now = hostA()
		renewed, err := a.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "a", IDs: []int64{jobs[0].ID},
			LeaseExpiresAt: now.Add(2 * time.Minute), Now: now})
		if err != nil || len(renewed) != 1 {
			t.Fatalf("host A's renewal: %v, %v", renewed, err)
		}
		got, err := a.JobGet(ctx, &store.JobGetParams{ID: jobs[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		wantAround(t, "renewed lease end", *got.LeaseExpiresAt, from, dbNow(t, a), 2*time.Minute)
		if got := rescue(); len(got) != 0 {
			t.Fatal("host B rescued a job whose lease host A had just renewed")
		}

		// A lease renewed for 1 ms ends on the database's clock, and host
		// B takes the job back then.
		now = hostA()
		if _, err := a.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{LeasedBy: "a", IDs: []int64{jobs[0].ID},
			LeaseExpiresAt: now.Add(time.Millisecond), Now: now}); err != nil {
			t.Fatal(err)
		}
		var rescued []*kilntype.JobRow
		testutil.Eventually(t, "host B to rescue the job after its lease of 1 ms ended", func() bool {
			rescued = rescue()
			return len(rescued) > 0
		})
		if rescued[0].ID != jobs[0].ID || rescued[0].State != kilntype.JobStateRetryable {
			t.Fatalf("rescued %+v, want job %d retryable", rescued[0], jobs[0].ID)
		}
		attempts, err := a.JobAttemptList(ctx, &store.JobAttemptListParams{JobID: jobs[0].ID})
		if err != nil || len(attempts) != 1 || attempts[0].Outcome != kilntype.AttemptInterrupted || attempts[0].Server != "a" {
			t.Fatalf("attempts %+v, %v; want one interrupted, by a", attempts, err)
		}
	})

	t.Run("RenewWithoutNow", func(t *testing.T) {
		t.Parallel()
		a, _ := skewedStores(t)
		_, err := a.JobLeaseRenew(t.Context(), &store.JobLeaseRenewParams{LeasedBy: "a", IDs: []int64{1},
			LeaseExpiresAt: time.Now().Add(time.Minute)})
		if err == nil || !strings.Contains(err.Error(), "Now") {
			t.Fatalf("JobLeaseRenew without Now: %v, want an error naming Now", err)
		}
	})
}
