package postgres_test

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// TestClaimAsyncCommitStaysInItsTransaction checks that the asynchronous
// commit of a claim (synchronous_commit off) does not outlive the claim's
// transaction: the next statement on the same connection, a finish, must
// commit synchronously. With a plain SET the connection would keep it.
func TestClaimAsyncCommitStaysInItsTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, &postgres.Options{Schema: newSchema(t), MaxConns: 1, Migrate: true}) // one connection
	if _, err := s.JobInsertMany(ctx, jobParams(3)); err != nil {
		t.Fatal(err)
	}
	for _, limits := range []map[string]int{nil, {"noop": 2}} { // one statement, then a transaction
		claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: 1, AnyKind: true, KindLimits: limits, LeasedBy: "p",
			LeaseExpiresAt: base.Add(time.Minute), Now: base})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("JobClaim = %d jobs, %v; want 1", len(claimed), err)
		}
		var setting string
		if err := s.Pool().QueryRow(ctx, `SHOW synchronous_commit`).Scan(&setting); err != nil {
			t.Fatal(err)
		}
		if setting != "on" {
			t.Fatalf("synchronous_commit = %q on the claim's connection after the claim (kind limits %v), want on", setting, limits)
		}
		j := claimed[0]
		moved, err := s.JobFinishMany(ctx, []*store.JobFinishParams{{ID: j.ID, LeasedBy: "p", AttemptedAt: *j.AttemptedAt,
			State: kilntype.JobStateCompleted, Now: base,
			Attempt: kilntype.JobAttempt{Attempt: 1, StartedAt: base, Server: "p", Outcome: kilntype.AttemptSucceeded}}})
		if err != nil || len(moved) != 1 {
			t.Fatalf("JobFinishMany = %v, %v; want the claimed job", moved, err)
		}
	}
}
