package postgres

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestCompleteShared checks that completeJobs sends a lease holder or a
// server that every job of the batch shares as one element of its array,
// and each job's own otherwise, and that every job is completed by its
// own lease holder and records its own server either way: a batch of one
// process (both shared), of two lease holders, of two servers, and one
// whose shared lease holder holds none of the jobs (none completes by
// sqlCompleteJobs; they go on to sqlFinishJobs, which finds them leased by
// another and leaves them running).
func TestCompleteShared(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	rec := &batchRecorder{}
	traced := tracedForTest(t, s, rec)
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	const n = 6
	claim := func(leasedBy ...string) []*kilntype.JobRow {
		t.Helper()
		ps := make([]*store.JobInsertParams, n)
		for i := range ps {
			ps[i] = &store.JobInsertParams{Kind: "k", Queue: "q", Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
				State: kilntype.JobStateAvailable, ScheduledAt: now, CreatedAt: now}
		}
		if _, err := s.JobInsertMany(ctx, ps); err != nil {
			t.Fatal(err)
		}
		var claimed []*kilntype.JobRow
		for _, p := range leasedBy {
			jobs, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "q", Max: n / len(leasedBy), Kinds: []string{"k"},
				LeasedBy: p, Now: now, LeaseExpiresAt: now.Add(time.Minute)})
			if err != nil || len(jobs) != n/len(leasedBy) {
				t.Fatalf("JobClaim by %s: %d jobs, %v", p, len(jobs), err)
			}
			claimed = append(claimed, jobs...)
		}
		return claimed
	}
	for _, c := range []struct {
		name      string
		leasedBy  []string // the claims' lease holders, n / len each
		finish    func(i int, j *kilntype.JobRow) (leasedBy, server string)
		elements  [2]int // sqlCompleteJobs' elements of leased_by and server
		completed bool
	}{
		{"one process", []string{"p1"}, func(_ int, j *kilntype.JobRow) (string, string) { return j.LeasedBy, "s1" },
			[2]int{1, 1}, true},
		{"two lease holders", []string{"p1", "p2"}, func(_ int, j *kilntype.JobRow) (string, string) { return j.LeasedBy, "s1" },
			[2]int{n, 1}, true},
		{"two servers", []string{"p1"}, func(i int, j *kilntype.JobRow) (string, string) {
			return j.LeasedBy, fmt.Sprint("s", i%2)
		}, [2]int{1, n}, true},
		{"another lease holder", []string{"p1"}, func(_ int, _ *kilntype.JobRow) (string, string) { return "p2", "s1" },
			[2]int{1, 1}, false},
	} {
		claimed := claim(c.leasedBy...)
		finish := make([]*store.JobFinishParams, len(claimed))
		servers := make(map[int64]string, len(claimed))
		for i, j := range claimed {
			leasedBy, server := c.finish(i, j)
			servers[j.ID] = server
			finish[i] = &store.JobFinishParams{ID: j.ID, LeasedBy: leasedBy, AttemptedAt: *j.AttemptedAt,
				State: kilntype.JobStateCompleted, Now: now.Add(time.Second),
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: *j.AttemptedAt,
					Server: server, Outcome: kilntype.AttemptSucceeded}}
		}
		rec.take()
		moved, err := traced.JobFinishMany(ctx, finish)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		sqls, args := rec.take()
		if i := slices.Index(sqls, s.sql(sqlCompleteJobs)); i < 0 {
			t.Errorf("%s: want the finish sent as sqlCompleteJobs, got %q", c.name, sqls)
		} else if got := [2]int{reflect.ValueOf(args[i][1]).Len(), reflect.ValueOf(args[i][4]).Len()}; got != c.elements {
			t.Errorf("%s: sent %d lease holders and %d servers, want %v", c.name, got[0], got[1], c.elements)
		}
		if want := map[bool]int{true: n, false: 0}[c.completed]; len(moved) != want {
			t.Errorf("%s: %d jobs moved, want %d", c.name, len(moved), want)
		}
		for _, j := range claimed {
			got, err := s.JobGet(ctx, &store.JobGetParams{ID: j.ID})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !c.completed {
				if got.State != kilntype.JobStateRunning || got.LeasedBy != j.LeasedBy {
					t.Errorf("%s: job %d %s leased by %q, want running leased by %q", c.name, j.ID, got.State,
						got.LeasedBy, j.LeasedBy)
				}
				continue
			}
			attempts, err := s.JobAttemptList(ctx, &store.JobAttemptListParams{JobID: j.ID})
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if got.State != kilntype.JobStateCompleted || len(attempts) != 1 || attempts[0].Server != servers[j.ID] {
				t.Errorf("%s: job %d %s with attempts %+v, want completed by server %q", c.name, j.ID, got.State,
					attempts, servers[j.ID])
			}
		}
	}
}

// batchRecorder is a queryRecorder that also records the statements of
// batches (completeJobs sends its statement in one), with their
// arguments.
type batchRecorder struct {
	queryRecorder
}

func (r *batchRecorder) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return ctx
}

func (r *batchRecorder) TraceBatchQuery(_ context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sqls = append(r.sqls, d.SQL)
	r.args = append(r.args, d.Args)
}

func (r *batchRecorder) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}
