package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// TestClaimPlansGenerically checks that claims run their statements with
// PostgreSQL's generic plan, and never plan them for their parameters: an
// idle process repeats its claim every FetchPollInterval, and custom plans
// made each one cost 1.44 ms of planning on a table with statistics (issue
// 16, docs/benchmarks.md "Idle claims"). pg_prepared_statements counts the
// generic and custom plans of each statement that pgx prepared on the one
// connection of the pool. PostgreSQL makes custom plans of a statement's
// first 5 runs unless plan_cache_mode says otherwise, so one custom plan
// shows that a claim went back to custom planning. The setting must not
// outlive the claim's transaction either.
func TestClaimPlansGenerically(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, &postgres.Options{Schema: newSchema(t), MaxConns: 1, Migrate: true}) // one connection
	ps := jobParams(200)
	for _, p := range ps[100:] {
		p.Kind = "other"
	}
	if _, err := s.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	claims := []struct {
		name   string
		params store.JobClaimParams
	}{
		{"of a kind", store.JobClaimParams{Kinds: []string{"noop"}}},
		{"of a kind none of whose jobs wait", store.JobClaimParams{Kinds: []string{"idle"}}},
		{"of two kinds", store.JobClaimParams{Kinds: []string{"noop", "idle"}}},
		{"of any kind", store.JobClaimParams{AnyKind: true}},
		{"with a kind limit", store.JobClaimParams{Kinds: []string{"noop", "other"}, KindLimits: map[string]int{"other": 1}}},
		{"with a cluster limit", store.JobClaimParams{Kinds: []string{"other"}, ClusterKindLimits: map[string]int{"other": 50}}},
	}
	for round := range 7 { // more runs than the 5 custom plans PostgreSQL makes first
		for _, c := range claims {
			p := c.params
			p.Queue, p.Max, p.LeasedBy, p.Now, p.LeaseExpiresAt = "default", 1, "p", base, base.Add(time.Minute)
			claimed, err := s.JobClaim(ctx, &p)
			if err != nil {
				t.Fatalf("claim %s, round %d: %v", c.name, round, err)
			}
			if c.name != "of a kind none of whose jobs wait" && len(claimed) != 1 {
				t.Fatalf("claim %s, round %d: %d jobs, want 1", c.name, round, len(claimed))
			}
		}
	}

	var mode string
	if err := s.Pool().QueryRow(ctx, `SHOW plan_cache_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "auto" {
		t.Fatalf("plan_cache_mode = %q on the claims' connection after them, want auto", mode)
	}
	rows, err := s.Pool().Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%kiln_job%' AND (statement LIKE '%paused AS MATERIALIZED%' OR statement LIKE '%RECURSIVE kinds%')`)
	if err != nil {
		t.Fatal(err)
	}
	var (
		statement       string
		generic, custom int64
		seen            int
	)
	if _, err := pgx.ForEachRow(rows, []any{&statement, &generic, &custom}, func() error {
		seen++
		if custom != 0 || generic == 0 {
			t.Errorf("%d generic and %d custom plans, want only generic ones, of\n%s", generic, custom, statement)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// The claim statements of 1 and 2 kinds, and the listing of the kinds
	// of available jobs.
	if seen < 3 {
		t.Fatalf("%d claim statements prepared on the connection, want at least 3", seen)
	}
}

// TestClaimReportsItsCommit checks that a claim whose transaction fails to
// commit returns the error and no jobs, whether it is one statement on the
// pool (sent in a batch, whose implicit transaction commits at its end) or
// rounds in a transaction (kind limits), and that its jobs stay available.
// A deferred constraint trigger on the test schema's kiln_job makes every
// commit that moved a job fail.
func TestClaimReportsItsCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	schema := newSchema(t)
	s := open(t, &postgres.Options{Schema: schema, MaxConns: 1, Migrate: true})
	if _, err := s.JobInsertMany(ctx, jobParams(2)); err != nil {
		t.Fatal(err)
	}
	q := pgx.Identifier{schema}.Sanitize()
	if _, err := s.Pool().Exec(ctx, `CREATE FUNCTION `+q+`.fail_commit() RETURNS trigger LANGUAGE plpgsql AS
			$$BEGIN RAISE EXCEPTION 'commit refused by the test'; END$$;
		CREATE CONSTRAINT TRIGGER fail_commit AFTER UPDATE ON `+q+`.kiln_job
			DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION `+q+`.fail_commit()`); err != nil {
		t.Fatal(err)
	}
	for _, limits := range []map[string]int{nil, {"noop": 5}} {
		claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "default", Max: 2, Kinds: []string{"noop"},
			KindLimits: limits, LeasedBy: "p", LeaseExpiresAt: base.Add(time.Minute), Now: base})
		if err == nil || !strings.Contains(err.Error(), "commit refused by the test") {
			t.Fatalf("JobClaim with kind limits %v = %d jobs, %v; want the commit's error", limits, len(claimed), err)
		}
		if claimed != nil {
			t.Fatalf("JobClaim with kind limits %v returned %d jobs with its error", limits, len(claimed))
		}
		var available int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM `+q+`.kiln_job WHERE state = 'available'`).Scan(&available); err != nil {
			t.Fatal(err)
		}
		if available != 2 {
			t.Fatalf("%d jobs available after the failed claim (kind limits %v), want 2", available, limits)
		}
	}
}
