package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestPollingReadsNoForeignJobs checks, as TestClaimReadsOnlyItsKinds does
// for the claim, that the statements an idle process repeats (the
// maintenance leader's due-job promotion, rescue of expired leases,
// cleaner, resolver, stats fold, server reaper, election and recurring
// scheduler; every process's cancel polling; the dashboard's counters,
// queue list, history and first pages of jobs) read about as many pages as
// they have work, however many jobs wait in the queue: with foreignJobs
// available jobs queued, and one job of work for each of promotion,
// rescue and cleaner, each call does its work and fetches fewer than 100
// pages, plus 2 for each row it returns (a list of 100 jobs fetches a
// page for each), from the page caches of the writer and of the reader
// (SQLite's own count of fetches, as pagesFetched reads it). A statement that walked the
// queue's available jobs would fetch hundreds of pages, growing with
// foreignJobs.
func TestPollingReadsNoForeignJobs(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), &Options{Migrate: true, ReadConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Date(2030, 1, 2, 0, 0, 0, 0, time.UTC)
	queueForeignJobs(t, s, now)

	// Each poll returns how many rows it worked on (or listed).
	polls := []struct {
		name string
		work int // rows it must work on, once the work below is queued
		poll func(ctx context.Context) (int, error)
	}{
		{"schedule due", 1, func(ctx context.Context) (int, error) {
			return s.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: now, Max: 1000})
		}},
		{"rescue expired", 1, func(ctx context.Context) (int, error) {
			rows, err := s.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now, Max: 1000})
			return len(rows), err
		}},
		{"delete finished", 1, func(ctx context.Context) (int, error) {
			day := now.Add(-24 * time.Hour)
			return s.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{CompletedBefore: day,
				CancelledBefore: day, DiscardedBefore: day, Max: 1000})
		}},
		{"resolve pending", 0, func(ctx context.Context) (int, error) {
			rows, err := s.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: now, Max: 1000})
			return len(rows), err
		}},
		{"stats fold", -1, func(ctx context.Context) (int, error) {
			return s.JobStatsFold(ctx, &store.JobStatsFoldParams{Now: now, HistoryBefore: now.Add(-48 * time.Hour)})
		}},
		{"reap servers", 0, func(ctx context.Context) (int, error) {
			ids, err := s.ServerDeleteStale(ctx, &store.ServerDeleteStaleParams{Before: now.Add(-time.Hour)})
			return len(ids), err
		}},
		{"leader elect", -1, func(ctx context.Context) (int, error) {
			_, err := s.LeaderAttemptElect(ctx, &store.LeaderElectParams{Name: "maintenance", LeaderID: "p",
				TTL: 10 * time.Second, Now: now})
			return 0, err
		}},
		{"recurring next due", 0, func(ctx context.Context) (int, error) {
			_, ok, err := s.RecurringNextDue(ctx)
			if ok {
				return 1, err
			}
			return 0, err
		}},
		{"recurring list due", 0, func(ctx context.Context) (int, error) {
			rows, err := s.RecurringListDue(ctx, &store.RecurringListDueParams{Now: now, Max: 100})
			return len(rows), err
		}},
		{"list cancel requested", 0, func(ctx context.Context) (int, error) {
			ids, err := s.JobListCancelRequested(ctx, &store.JobListCancelRequestedParams{LeasedBy: "p"})
			return len(ids), err
		}},
		{"count by state", -1, func(ctx context.Context) (int, error) {
			m, err := s.JobCountByState(ctx)
			return len(m), err
		}},
		{"count by queue and state", -1, func(ctx context.Context) (int, error) {
			c, err := s.JobCountByQueueState(ctx)
			return len(c), err
		}},
		{"queue list", -1, func(ctx context.Context) (int, error) {
			q, err := s.QueueList(ctx)
			return len(q), err
		}},
		{"history", -1, func(ctx context.Context) (int, error) {
			h, err := s.JobHistory(ctx, &store.JobHistoryParams{From: now.Add(-time.Hour), To: now, Bucket: time.Minute})
			return len(h), err
		}},
		{"first page of available jobs", store.DefaultListLimit, func(ctx context.Context) (int, error) {
			jobs, err := s.JobList(ctx, &store.JobListParams{States: []kilntype.JobState{kilntype.JobStateAvailable}})
			return len(jobs), err
		}},
		{"first page of jobs", store.DefaultListLimit, func(ctx context.Context) (int, error) {
			jobs, err := s.JobList(ctx, &store.JobListParams{})
			return len(jobs), err
		}},
	}
	// A first round prepares the statements (which reads the schema).
	for _, p := range polls {
		if _, err := p.poll(ctx); err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
	}
	// The work: a due scheduled job, a running one whose lease expired, a
	// completed one two days old.
	for _, q := range []string{
		`INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at)
		VALUES ('mine', 'q', '{}', 'scheduled', 1, 1, ?1, ?1)`,
		`INSERT INTO kiln_job (kind, queue, args, state, priority, attempt, max_attempts, created_at, scheduled_at,
		attempted_at, leased_by, lease_expires_at)
		VALUES ('mine', 'q', '{}', 'running', 1, 1, 2, ?1, ?1, ?1, 'gone', ?1)`,
		`INSERT INTO kiln_job (kind, queue, args, state, priority, attempt, max_attempts, created_at, scheduled_at,
		attempted_at, finalized_at) VALUES ('mine', 'q', '{}', 'completed', 1, 1, 1, ?2, ?2, ?2, ?2)`,
	} {
		if _, err := s.w.ExecContext(ctx, q, micros(now.Add(-time.Minute)), micros(now.Add(-48*time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range polls {
		pagesFetched(t, s.w) // resets the counters
		pagesFetched(t, s.r)
		n, err := p.poll(ctx)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		pages := pagesFetched(t, s.w) + pagesFetched(t, s.r)
		t.Logf("%s: %d rows, %d pages fetched", p.name, n, pages)
		if p.work >= 0 && n != p.work {
			t.Errorf("%s: worked on %d rows, want %d", p.name, n, p.work)
		}
		if limit := 100 + 2*n; pages >= limit {
			t.Errorf("%s: fetched %d pages with %d jobs of another kind queued, want < %d", p.name, pages, foreignJobs, limit)
		}
	}
}

// TestMemoryUse checks that MemoryUse counts the writer and every reader,
// and the pages their caches hold once a statement has read the schema.
func TestMemoryUse(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), &Options{Migrate: true, ReadConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.JobCountByState(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := s.MemoryUse(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", m)
	if m.Connections != 3 || m.PageCache <= 0 || m.Schema <= 0 {
		t.Errorf("MemoryUse = %+v, want 3 connections, some page cache and schema", m)
	}
}
