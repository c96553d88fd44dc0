package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// minutes returns base plus n minutes: the suite's occurrence times.
func minutes(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

// recurringRow returns an entry definition as a client would store it at
// base: a job template of kind "noop" in queue "default", OverlapSkip,
// MisfireRunOnce, next run at base+1h.
func recurringRow(id string) *kilntype.RecurringRow {
	return &kilntype.RecurringRow{
		ID:          id,
		Schedule:    "0 * * * *",
		Kind:        "noop",
		Args:        json.RawMessage(`{"n":1}`),
		Queue:       "default",
		Priority:    1,
		MaxAttempts: 3,
		Tags:        []string{"recurring"},
		Metadata:    json.RawMessage(`{"team":"a"}`),
		Partition:   "acme",
		Overlap:     kilntype.OverlapSkip,
		Misfire:     kilntype.MisfireRunOnce,
		MisfireMax:  100,
		NextRunAt:   base.Add(time.Hour),
		CreatedAt:   base,
		UpdatedAt:   base,
	}
}

// upsert runs RecurringUpsert and fails the test on error.
func (f *fixture) upsert(p *store.RecurringUpsertParams) (*kilntype.RecurringRow, bool) {
	f.t.Helper()
	row, created, err := f.s.RecurringUpsert(f.ctx, p)
	if err != nil {
		f.t.Fatalf("RecurringUpsert(%q): %v", p.Row.ID, err)
	}
	return row, created
}

// recurring creates entry id at base from recurringRow, changed by mods, and
// returns it as stored.
func (f *fixture) recurring(id string, mods ...func(*kilntype.RecurringRow)) *kilntype.RecurringRow {
	f.t.Helper()
	r := recurringRow(id)
	for _, m := range mods {
		m(r)
	}
	row, created := f.upsert(&store.RecurringUpsertParams{Row: r, Now: base})
	if !created {
		f.t.Fatalf("RecurringUpsert(%q): created = false for a new entry", id)
	}
	return row
}

// nextRunAt sets an entry's NextRunAt.
func nextRunAt(at time.Time) func(*kilntype.RecurringRow) {
	return func(r *kilntype.RecurringRow) { r.NextRunAt = at }
}

// paused makes an entry paused.
func paused(r *kilntype.RecurringRow) { r.Paused = true }

// getRecurring returns entry id and fails the test on error.
func (f *fixture) getRecurring(id string) *kilntype.RecurringRow {
	f.t.Helper()
	row, err := f.s.RecurringGet(f.ctx, &store.RecurringGetParams{ID: id})
	if err != nil {
		f.t.Fatalf("RecurringGet(%q): %v", id, err)
	}
	return row
}

// listRecurring runs RecurringList and fails the test on error.
func (f *fixture) listRecurring(cursor string, limit int) []*kilntype.RecurringRow {
	f.t.Helper()
	rows, err := f.s.RecurringList(f.ctx, &store.RecurringListParams{Cursor: cursor, Limit: limit})
	if err != nil {
		f.t.Fatalf("RecurringList: %v", err)
	}
	return rows
}

// occurrence is one occurrence at at whose job has the suite's default
// params changed by mods.
func occurrence(at time.Time, mods ...jobMod) store.RecurringOccurrenceInsert {
	return store.RecurringOccurrenceInsert{At: at, Job: params(mods...)}
}

// enqueueParams enqueues occs of entry id under policy at base, leaving the
// entry's NextRunAt alone.
func enqueueParams(id string, policy kilntype.OverlapPolicy, occs ...store.RecurringOccurrenceInsert) *store.RecurringEnqueueParams {
	return &store.RecurringEnqueueParams{ID: id, Occurrences: occs, Overlap: policy, Now: base}
}

// enqueue runs RecurringEnqueue, fails the test on error, and checks that
// there is one result per occurrence, at its time.
func (f *fixture) enqueue(p *store.RecurringEnqueueParams) []store.RecurringOccurrenceResult {
	f.t.Helper()
	res, err := f.s.RecurringEnqueue(f.ctx, p)
	if err != nil {
		f.t.Fatalf("RecurringEnqueue(%q): %v", p.ID, err)
	}
	if len(res) != len(p.Occurrences) {
		f.t.Fatalf("RecurringEnqueue(%q): %d results for %d occurrences", p.ID, len(res), len(p.Occurrences))
	}
	for i, r := range res {
		// A store keeps times to the microsecond.
		wantTime(f.t, fmt.Sprintf("result %d: At", i), r.At, p.Occurrences[i].At.Truncate(time.Microsecond))
		if (r.Job == nil) == (r.Skipped == "") {
			f.t.Errorf("result %d: Job %v with Skipped %q: want exactly one", i, r.Job, r.Skipped)
		}
	}
	return res
}

// skips returns what happened to each occurrence: "" when its job was
// inserted, else why it was skipped.
func skips(res []store.RecurringOccurrenceResult) []string {
	out := make([]string, len(res))
	for i, r := range res {
		out[i] = r.Skipped
	}
	return out
}

// wantSkips fails t unless res says want, occurrence by occurrence.
func wantSkips(t *testing.T, res []store.RecurringOccurrenceResult, want ...string) {
	t.Helper()
	if got := skips(res); !slices.Equal(got, want) {
		t.Errorf("skipped %q, want %q", got, want)
	}
}

// occurrences runs RecurringOccurrenceList and fails the test on error.
func (f *fixture) occurrences(id string, limit int) []*store.RecurringOccurrence {
	f.t.Helper()
	occs, err := f.s.RecurringOccurrenceList(f.ctx, &store.RecurringOccurrenceListParams{ID: id, Limit: limit})
	if err != nil {
		f.t.Fatalf("RecurringOccurrenceList(%q): %v", id, err)
	}
	return occs
}

// jobDeleted stands for a job that was deleted, in tests that go through
// job states.
const jobDeleted kilntype.JobState = "deleted"

// recurringJobIn enqueues the occurrence at at of entry id (allowing
// overlap) and moves its job to state through the Store's own methods, as
// inState does: pending and scheduled jobs are inserted so; running is
// claimed; retryable, completed, cancelled and discarded are claimed and
// finished at base+1s; jobDeleted is inserted and deleted. It returns the
// job as it is after.
func (f *fixture) recurringJobIn(id string, at time.Time, state kilntype.JobState) *kilntype.JobRow {
	f.t.Helper()
	f.seq++
	mods := []jobMod{queue(fmt.Sprintf("recurring-%d", f.seq))}
	switch state {
	case kilntype.JobStatePending:
		mods = append(mods, pending())
	case kilntype.JobStateScheduled:
		mods = append(mods, scheduled(base.Add(time.Hour)))
	}
	res := f.enqueue(enqueueParams(id, kilntype.OverlapAllow, occurrence(at, mods...)))
	job := res[0].Job
	if job == nil {
		f.t.Fatalf("occurrence %v of %q skipped: %s", at, id, res[0].Skipped)
	}
	switch state {
	case kilntype.JobStatePending, kilntype.JobStateScheduled, kilntype.JobStateAvailable:
		return job
	case jobDeleted:
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: job.ID}); err != nil {
			f.t.Fatalf("JobDelete(%d): %v", job.ID, err)
		}
		return job
	}
	claimed := f.claim(claimParams(job.Queue, 1, base))
	if len(claimed) != 1 || claimed[0].ID != job.ID {
		f.t.Fatalf("claim of job %d returned %v", job.ID, ids(claimed))
	}
	if state == kilntype.JobStateRunning {
		return claimed[0]
	}
	p := finishParams(claimed[0], state, base.Add(time.Second))
	if state == kilntype.JobStateRetryable {
		p.ScheduledAt = base.Add(time.Hour)
	}
	f.finish(p)
	job = f.get(job.ID)
	wantState(f.t, job, state)
	return job
}

// wantWaits fails t unless job, as inserted and as stored, waits for
// parent (0: waits for nothing): pending, with parent in its metadata
// (kiln.parent_ids), and released (ParentFailure run) only when parent has
// ended.
func wantWaits(t *testing.T, f *fixture, job *kilntype.JobRow, parent int64) {
	t.Helper()
	for _, j := range []*kilntype.JobRow{job, f.get(job.ID)} {
		var meta struct {
			Parents []int64 `json:"kiln.parent_ids"`
		}
		if err := json.Unmarshal(j.Metadata, &meta); err != nil {
			t.Fatalf("job %d metadata %s: %v", j.ID, j.Metadata, err)
		}
		if parent == 0 {
			if j.State == kilntype.JobStatePending || meta.Parents != nil {
				t.Errorf("job %d is %s with parents %v; want it not waiting", j.ID, j.State, meta.Parents)
			}
			continue
		}
		if j.State != kilntype.JobStatePending || !slices.Equal(meta.Parents, []int64{parent}) {
			t.Errorf("job %d is %s with parents %v; want pending for job %d", j.ID, j.State, meta.Parents, parent)
		}
	}
}

// wantSameRecurring fails t unless got and want are the same entry with the
// same field values.
func wantSameRecurring(t *testing.T, got, want *kilntype.RecurringRow) {
	t.Helper()
	if got.ID != want.ID || got.Schedule != want.Schedule || got.TimeZone != want.TimeZone ||
		got.Kind != want.Kind || got.Queue != want.Queue || got.Priority != want.Priority ||
		got.MaxAttempts != want.MaxAttempts || !slices.Equal(got.Tags, want.Tags) ||
		got.Overlap != want.Overlap || got.Misfire != want.Misfire ||
		got.MisfireMax != want.MisfireMax || got.Paused != want.Paused ||
		got.LastJobID != want.LastJobID || got.LastError != want.LastError || got.Partition != want.Partition {
		t.Errorf("recurring entry differs:\n got %+v\nwant %+v", got, want)
	}
	wantJSON(t, "Args", got.Args, want.Args)
	wantJSON(t, "Metadata", got.Metadata, want.Metadata)
	wantTime(t, "NextRunAt", got.NextRunAt, want.NextRunAt)
	wantTimePtr(t, "LastRunAt", got.LastRunAt, want.LastRunAt)
	wantTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	wantTime(t, "UpdatedAt", got.UpdatedAt, want.UpdatedAt)
}

// recurringIDs returns the IDs of rows, in order.
func recurringIDs(rows []*kilntype.RecurringRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = r.ID
	}
	return out
}

// wantStrings fails t unless got lists want, in order (nil and empty are
// equal).
func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %q, want %q", what, got, want)
	}
}

func testRecurringUpsert(t *testing.T, newStore NewStoreFunc) {
	t.Run("Create", func(t *testing.T) {
		f := newFixture(t, newStore)
		// A non-UTC time with nanoseconds: the store keeps microseconds, UTC.
		local := time.FixedZone("UTC+5", 5*3600)
		r := recurringRow("nightly")
		r.TimeZone = "Europe/Berlin"
		r.NextRunAt = base.Add(time.Hour).In(local).Add(789 * time.Nanosecond)
		// CreatedAt and UpdatedAt come from params.Now.
		r.CreatedAt, r.UpdatedAt = base.Add(-time.Hour), base.Add(-time.Hour)
		got, created := f.upsert(&store.RecurringUpsertParams{Row: r, Now: base})
		if !created {
			t.Error("created = false, want true")
		}
		want := *recurringRow("nightly")
		want.TimeZone = "Europe/Berlin"
		wantSameRecurring(t, got, &want)
		wantSameRecurring(t, f.getRecurring("nightly"), &want)
	})

	t.Run("CreateKeepsGivenState", func(t *testing.T) {
		f := newFixture(t, newStore)
		r := recurringRow("e")
		r.Paused, r.LastRunAt, r.LastJobID, r.LastError = true, ptr(minutes(-5)), 42, "earlier"
		r.Tags, r.Metadata = nil, nil
		got, _ := f.upsert(&store.RecurringUpsertParams{Row: r, Now: base})
		want := *r
		want.Metadata = json.RawMessage(`{}`)
		wantSameRecurring(t, got, &want)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		if got.Tags == nil {
			t.Error("Tags = nil, want empty")
		}
	})

	t.Run("UpdateKeepsStateAndHistory", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		res := f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapAllow,
			Occurrences:   []store.RecurringOccurrenceInsert{occurrence(base.Add(time.Hour))},
			PrevNextRunAt: base.Add(time.Hour), NextRunAt: base.Add(2 * time.Hour), Now: base.Add(time.Hour)})
		if _, err := f.s.RecurringSetPaused(f.ctx, &store.RecurringSetPausedParams{ID: "e", Paused: true,
			Now: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := f.s.RecurringSetError(f.ctx, &store.RecurringSetErrorParams{ID: "e", Message: "no worker", Now: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}

		// Every definition field changes; the state fields of the row are
		// ignored.
		r := &kilntype.RecurringRow{
			ID: "e", Schedule: "*/5 * * * *", TimeZone: "America/New_York", Kind: "report",
			Args: json.RawMessage(`{"n":2}`), Queue: "reports", Priority: 2, MaxAttempts: 5,
			Tags: []string{"x", "y"}, Metadata: json.RawMessage(`{"team":"b"}`), Partition: "globex",
			Overlap: kilntype.OverlapQueueOne, Misfire: kilntype.MisfireRunAll, MisfireMax: 7,
			NextRunAt: base.Add(10 * time.Hour), CreatedAt: minutes(61), UpdatedAt: minutes(61),
		}
		now := minutes(62)
		got, created := f.upsert(&store.RecurringUpsertParams{Row: r, Now: now})
		if created {
			t.Error("created = true for an existing entry")
		}
		want := *r
		want.Paused = true                       // kept
		want.NextRunAt = base.Add(2 * time.Hour) // kept: no ResetNextRun
		want.LastRunAt = ptr(base.Add(time.Hour))
		want.LastJobID = res[0].Job.ID
		want.LastError = "no worker"
		want.CreatedAt = base
		want.UpdatedAt = now
		wantSameRecurring(t, got, &want)
		wantSameRecurring(t, f.getRecurring("e"), &want)

		// ResetNextRun replaces NextRunAt, and keeps the rest.
		r.NextRunAt = base.Add(11 * time.Hour)
		got, created = f.upsert(&store.RecurringUpsertParams{Row: r, ResetNextRun: true, Now: minutes(63)})
		if created {
			t.Error("created = true for an existing entry")
		}
		want.NextRunAt, want.UpdatedAt = base.Add(11*time.Hour), minutes(63)
		wantSameRecurring(t, got, &want)
		wantSameRecurring(t, f.getRecurring("e"), &want)

		// The history of occurrences is kept.
		if occs := f.occurrences("e", 10); len(occs) != 1 || occs[0].JobID != res[0].Job.ID {
			t.Errorf("occurrences after update: %+v, want job %d", occs, res[0].Job.ID)
		}
	})

	t.Run("RefusesInvalidRows", func(t *testing.T) {
		f := newFixture(t, newStore)
		for name, mod := range map[string]func(*kilntype.RecurringRow){
			"EmptyID":        func(r *kilntype.RecurringRow) { r.ID = "" },
			"UnknownOverlap": func(r *kilntype.RecurringRow) { r.Overlap = "sometimes" },
			"UnknownMisfire": func(r *kilntype.RecurringRow) { r.Misfire = "" },
			"LongPartition":  func(r *kilntype.RecurringRow) { r.Partition = strings.Repeat("k", kilntype.MaxPartitionKeyBytes+1) },
		} {
			r := recurringRow("bad")
			mod(r)
			if _, _, err := f.s.RecurringUpsert(f.ctx, &store.RecurringUpsertParams{Row: r, Now: base}); err == nil {
				t.Errorf("%s: RecurringUpsert succeeded, want an error", name)
			}
		}
		if rows := f.listRecurring("", 0); len(rows) != 0 {
			t.Errorf("stored %q after refused upserts", recurringIDs(rows))
		}
	})
}

func testRecurringGetList(t *testing.T, newStore NewStoreFunc) {
	t.Run("GetNotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("a")
		if _, err := f.s.RecurringGet(f.ctx, &store.RecurringGetParams{ID: "b"}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("RecurringGet(unknown) error = %v, want ErrNotFound", err)
		}
	})

	t.Run("KeysetPagination", func(t *testing.T) {
		f := newFixture(t, newStore)
		var all []string
		for i := range 25 {
			all = append(all, fmt.Sprintf("e%02d", i))
		}
		// Created out of order: pages are by ID.
		for i := range all {
			f.recurring(all[(i*7)%len(all)])
		}
		if rows := f.listRecurring("", 10); len(rows) > 0 {
			wantSameRecurring(t, rows[0], f.getRecurring("e00")) // whole rows
		}
		var got []string
		cursor := ""
		for page := 0; ; page++ {
			rows := f.listRecurring(cursor, 10)
			if page == 1 {
				// Entries added between pages: one after the cursor is
				// seen, one before it is not.
				f.recurring("e99")
				f.recurring("e000")
				all = append(all, "e99")
			}
			if len(rows) == 0 {
				break
			}
			if len(rows) > 10 {
				t.Fatalf("page %d has %d entries, want at most 10", page, len(rows))
			}
			got = append(got, recurringIDs(rows)...)
			cursor = rows[len(rows)-1].ID
		}
		wantStrings(t, "pages", got, all)
	})

	t.Run("OrderIsBytewise", func(t *testing.T) {
		// IDs sort by their bytes, whatever the database's collation.
		f := newFixture(t, newStore)
		for _, id := range []string{"a", "é", "B", "_", "a-1", "A", "b", "aa", "Z9"} {
			f.recurring(id)
		}
		want := []string{"A", "B", "Z9", "_", "a", "a-1", "aa", "b", "é"}
		wantStrings(t, "list", recurringIDs(f.listRecurring("", 0)), want)
		wantStrings(t, "page after a", recurringIDs(f.listRecurring("a", 2)), want[5:7])
	})

	t.Run("Limit", func(t *testing.T) {
		f := newFixture(t, newStore)
		if rows := f.listRecurring("", 0); rows == nil || len(rows) != 0 {
			t.Errorf("empty store: %v, want an empty list", rows)
		}
		n := store.DefaultListLimit + 1
		for i := range n {
			f.recurring(fmt.Sprintf("e%03d", i))
		}
		for _, tc := range []struct{ limit, want int }{
			{0, store.DefaultListLimit},
			{1, 1},
			{n + 10, n},
			{1 << 30, n},
		} {
			if got := len(f.listRecurring("", tc.limit)); got != tc.want {
				t.Errorf("Limit %d: %d entries, want %d", tc.limit, got, tc.want)
			}
		}
	})
}

func testRecurringDelete(t *testing.T, newStore NewStoreFunc) {
	t.Run("Delete", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		f.recurring("other")
		res := f.enqueue(enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(60))))
		before := f.getRecurring("e")
		got, err := f.s.RecurringDelete(f.ctx, &store.RecurringDeleteParams{ID: "e"})
		if err != nil {
			t.Fatal(err)
		}
		wantSameRecurring(t, got, before)
		if _, err := f.s.RecurringGet(f.ctx, &store.RecurringGetParams{ID: "e"}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("RecurringGet after delete: %v, want ErrNotFound", err)
		}
		if _, err := f.s.RecurringDelete(f.ctx, &store.RecurringDeleteParams{ID: "e"}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("RecurringDelete again: %v, want ErrNotFound", err)
		}
		f.getRecurring("other")
		// Its jobs stay; its occurrences go.
		wantSameJob(t, f.get(res[0].Job.ID), res[0].Job)
		if occs := f.occurrences("e", 10); len(occs) != 0 {
			t.Errorf("%d occurrences after delete, want 0", len(occs))
		}
		// An entry created again with the ID starts afresh: the old
		// occurrence is not a duplicate.
		f.recurring("e")
		again := f.enqueue(enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(60))))
		wantSkips(t, again, "")
		if got := f.getRecurring("e"); got.LastJobID != again[0].Job.ID {
			t.Errorf("LastJobID = %d, want %d", got.LastJobID, again[0].Job.ID)
		}
	})

	t.Run("DeleteExcept", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, id := range []string{"a", "b", "c", "d"} {
			f.recurring(id)
		}
		res := f.enqueue(enqueueParams("a", kilntype.OverlapAllow, occurrence(minutes(60))))
		deleted, err := f.s.RecurringDeleteExcept(f.ctx, &store.RecurringDeleteExceptParams{Keep: []string{"d", "b", "unknown"}})
		if err != nil {
			t.Fatal(err)
		}
		wantStrings(t, "deleted", slices.Sorted(slices.Values(deleted)), []string{"a", "c"})
		wantStrings(t, "left", recurringIDs(f.listRecurring("", 0)), []string{"b", "d"})
		f.get(res[0].Job.ID) // jobs stay

		deleted, err = f.s.RecurringDeleteExcept(f.ctx, &store.RecurringDeleteExceptParams{Keep: []string{"b", "d"}})
		if err != nil || len(deleted) != 0 {
			t.Errorf("nothing to delete: %q, %v; want none, nil", deleted, err)
		}

		// An empty keep deletes them all.
		deleted, err = f.s.RecurringDeleteExcept(f.ctx, &store.RecurringDeleteExceptParams{})
		if err != nil {
			t.Fatal(err)
		}
		wantStrings(t, "deleted", slices.Sorted(slices.Values(deleted)), []string{"b", "d"})
		if rows := f.listRecurring("", 0); len(rows) != 0 {
			t.Errorf("left %q, want none", recurringIDs(rows))
		}

		// Pruned entries' occurrences went with them.
		f.recurring("a")
		wantSkips(t, f.enqueue(enqueueParams("a", kilntype.OverlapAllow, occurrence(minutes(60)))), "")
	})
}

func testRecurringPauseError(t *testing.T, newStore NewStoreFunc) {
	t.Run("PauseResume", func(t *testing.T) {
		f := newFixture(t, newStore)
		want := *f.recurring("e")
		setPaused := func(p bool, next, now time.Time) *kilntype.RecurringRow {
			t.Helper()
			row, err := f.s.RecurringSetPaused(f.ctx, &store.RecurringSetPausedParams{
				ID: "e", Paused: p, NextRunAt: next, Now: now})
			if err != nil {
				t.Fatalf("RecurringSetPaused(%t): %v", p, err)
			}
			return row
		}

		// Pausing keeps NextRunAt.
		want.Paused, want.UpdatedAt = true, minutes(1)
		wantSameRecurring(t, setPaused(true, base.Add(5*time.Hour), minutes(1)), &want)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		// Pausing a paused entry changes nothing.
		wantSameRecurring(t, setPaused(true, base.Add(6*time.Hour), minutes(2)), &want)

		// Resuming sets NextRunAt, so the paused span is not caught up.
		want.Paused, want.NextRunAt, want.UpdatedAt = false, base.Add(3*time.Hour), minutes(3)
		wantSameRecurring(t, setPaused(false, base.Add(3*time.Hour), minutes(3)), &want)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		// Resuming an entry that is not paused changes nothing: its next
		// run may be due.
		wantSameRecurring(t, setPaused(false, base.Add(9*time.Hour), minutes(4)), &want)
		wantSameRecurring(t, f.getRecurring("e"), &want)
	})

	t.Run("PauseNotFound", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		for _, p := range []bool{true, false} {
			_, err := f.s.RecurringSetPaused(f.ctx, &store.RecurringSetPausedParams{
				ID: "unknown", Paused: p, NextRunAt: base, Now: base})
			if !errors.Is(err, kilntype.ErrNotFound) {
				t.Errorf("RecurringSetPaused(unknown, %t): %v, want ErrNotFound", p, err)
			}
		}
	})

	t.Run("SetError", func(t *testing.T) {
		f := newFixture(t, newStore)
		want := *f.recurring("e")
		if err := f.s.RecurringSetError(f.ctx, &store.RecurringSetErrorParams{ID: "e", Message: "no worker for kind", Now: minutes(1)}); err != nil {
			t.Fatal(err)
		}
		want.LastError, want.UpdatedAt = "no worker for kind", minutes(1)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		if err := f.s.RecurringSetError(f.ctx, &store.RecurringSetErrorParams{ID: "e", Message: "", Now: minutes(2)}); err != nil {
			t.Fatal(err)
		}
		want.LastError, want.UpdatedAt = "", minutes(2)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		if err := f.s.RecurringSetError(f.ctx, &store.RecurringSetErrorParams{ID: "unknown", Message: "x", Now: base}); !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("RecurringSetError(unknown): %v, want ErrNotFound", err)
		}
	})
}

func testRecurringDue(t *testing.T, newStore NewStoreFunc) {
	nextDue := func(f *fixture) (time.Time, bool) {
		f.t.Helper()
		at, ok, err := f.s.RecurringNextDue(f.ctx)
		if err != nil {
			f.t.Fatalf("RecurringNextDue: %v", err)
		}
		return at, ok
	}
	listDue := func(f *fixture, now time.Time, max int) []string {
		f.t.Helper()
		rows, err := f.s.RecurringListDue(f.ctx, &store.RecurringListDueParams{Now: now, Max: max})
		if err != nil {
			f.t.Fatalf("RecurringListDue: %v", err)
		}
		return recurringIDs(rows)
	}
	pause := func(f *fixture, id string) {
		f.t.Helper()
		if _, err := f.s.RecurringSetPaused(f.ctx, &store.RecurringSetPausedParams{ID: id, Paused: true, Now: base}); err != nil {
			f.t.Fatal(err)
		}
	}

	t.Run("NextDue", func(t *testing.T) {
		f := newFixture(t, newStore)
		if _, ok := nextDue(f); ok {
			t.Error("empty store: ok = true, want false")
		}
		f.recurring("a", nextRunAt(base.Add(2*time.Hour)))
		f.recurring("b", nextRunAt(base.Add(time.Hour)), paused)
		f.recurring("c", nextRunAt(base.Add(3*time.Hour)))
		for _, step := range []struct {
			pause string
			want  time.Time
			ok    bool
		}{
			{"", base.Add(2 * time.Hour), true}, // b is paused
			{"a", base.Add(3 * time.Hour), true},
			{"c", time.Time{}, false},
		} {
			if step.pause != "" {
				pause(f, step.pause)
			}
			at, ok := nextDue(f)
			if ok != step.ok {
				t.Errorf("after pausing %q: ok = %t, want %t", step.pause, ok, step.ok)
			}
			if ok {
				wantTime(t, "next due", at, step.want)
			}
		}
	})

	t.Run("ListDue", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("a", nextRunAt(base.Add(-time.Hour)))
		f.recurring("b", nextRunAt(base))                       // due at Now
		f.recurring("c", nextRunAt(base.Add(time.Microsecond))) // not yet
		f.recurring("d", nextRunAt(base.Add(-2*time.Hour)), paused)
		f.recurring("e", nextRunAt(base.Add(-30*time.Minute)))
		f.recurring("f", nextRunAt(base.Add(-3*time.Hour)))
		pause(f, "f")
		wantStrings(t, "due", listDue(f, base, 10), []string{"a", "e", "b"})
		wantStrings(t, "due, Max 2", listDue(f, base, 2), []string{"a", "e"})
		if got := listDue(f, base, 0); len(got) != 0 {
			t.Errorf("Max 0: %q, want none", got)
		}
		wantStrings(t, "due later", listDue(f, base.Add(time.Microsecond), 10), []string{"a", "e", "b", "c"})
		// Listed rows are whole rows.
		rows, err := f.s.RecurringListDue(f.ctx, &store.RecurringListDueParams{Now: base, Max: 1})
		if err != nil || len(rows) != 1 {
			t.Fatalf("RecurringListDue: %v, %v", rows, err)
		}
		wantSameRecurring(t, rows[0], f.getRecurring("a"))
	})
}

func testRecurringEnqueue(t *testing.T, newStore NewStoreFunc) {
	t.Run("InsertsJobs", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := f.recurring("e")
		custom := func(p *store.JobInsertParams) {
			p.Kind, p.Queue, p.Priority, p.MaxAttempts = "report", "reports", 2, 5
			p.Args = json.RawMessage(`{"day":"mon"}`)
			p.Tags = []string{"t"}
			p.Metadata = json.RawMessage(`{"kiln.recurring_id":"e"}`)
			p.CreatedAt, p.ScheduledAt = minutes(61), minutes(61)
		}
		occs := []store.RecurringOccurrenceInsert{
			occurrence(minutes(60), custom),
			occurrence(minutes(120), custom, scheduled(minutes(125))),
		}
		now := minutes(121)
		res := f.enqueue(&store.RecurringEnqueueParams{ID: "e", Occurrences: occs,
			Overlap: kilntype.OverlapAllow, PrevNextRunAt: entry.NextRunAt, NextRunAt: minutes(180), Now: now})
		wantSkips(t, res, "", "")
		for i, r := range res {
			if r.Job == nil {
				t.Fatalf("occurrence %d: no job", i)
			}
			p := occs[i].Job
			want := &kilntype.JobRow{ID: r.Job.ID, Kind: "report", Queue: "reports", Args: p.Args,
				State: p.State, Priority: 2, MaxAttempts: 5, CreatedAt: minutes(61), ScheduledAt: p.ScheduledAt,
				Tags: []string{"t"}, Metadata: p.Metadata}
			wantSameJob(t, r.Job, want)
			wantSameJob(t, f.get(r.Job.ID), want)
		}
		if res[1].Job.ID <= res[0].Job.ID {
			t.Errorf("job IDs %d, %d: want increasing in occurrence order", res[0].Job.ID, res[1].Job.ID)
		}

		want := *entry
		want.LastRunAt, want.LastJobID = ptr(minutes(120)), res[1].Job.ID
		want.NextRunAt, want.UpdatedAt = minutes(180), now
		wantSameRecurring(t, f.getRecurring("e"), &want)

		occList := f.occurrences("e", 10)
		if len(occList) != 2 {
			t.Fatalf("%d occurrences, want 2", len(occList))
		}
		for i, w := range []struct {
			at    time.Time
			job   int64
			state kilntype.JobState
		}{
			{minutes(120), res[1].Job.ID, kilntype.JobStateScheduled},
			{minutes(60), res[0].Job.ID, kilntype.JobStateAvailable},
		} {
			o := occList[i]
			if o.RecurringID != "e" || o.JobID != w.job || o.JobState != w.state {
				t.Errorf("occurrence %d = %+v, want job %d in state %s", i, o, w.job, w.state)
			}
			wantTime(t, "occurrence At", o.At, w.at)
		}
	})

	t.Run("Many", func(t *testing.T) {
		f := newFixture(t, newStore)
		a, b := f.recurring("a"), f.recurring("b")
		f.enqueue(enqueueParams("b", kilntype.OverlapAllow, occurrence(minutes(30))))
		res, err := f.s.RecurringEnqueueMany(f.ctx, []*store.RecurringEnqueueParams{
			{ID: "a", Overlap: kilntype.OverlapAllow, PrevNextRunAt: a.NextRunAt, NextRunAt: minutes(90), Now: base,
				Occurrences: []store.RecurringOccurrenceInsert{occurrence(minutes(60))}},
			enqueueParams("gone", kilntype.OverlapAllow, occurrence(minutes(60))),
			{ID: "b", Overlap: kilntype.OverlapAllow, PrevNextRunAt: b.NextRunAt, NextRunAt: minutes(90), Now: base,
				Occurrences: []store.RecurringOccurrenceInsert{occurrence(minutes(30)), occurrence(minutes(60))}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 3 || res[1] != nil {
			t.Fatalf("results %v: want 3, nil for the unknown entry", res)
		}
		wantSkips(t, res[0], "")
		wantSkips(t, res[2], "duplicate", "")
		for _, id := range []string{"a", "b"} {
			wantTime(t, id+" NextRunAt", f.getRecurring(id).NextRunAt, minutes(90))
		}
		if n := len(f.occurrences("b", 10)); n != 2 {
			t.Errorf("entry b has %d occurrences, want 2", n)
		}
		if empty, err := f.s.RecurringEnqueueMany(f.ctx, nil); err != nil || len(empty) != 0 {
			t.Errorf("RecurringEnqueueMany(nil) = %v, %v", empty, err)
		}
	})

	t.Run("StalePrevNextRunLeavesIt", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := f.recurring("e")
		// Another scheduler moved NextRunAt already: this one's occurrence is
		// still enqueued (it is not a duplicate), NextRunAt is not moved back.
		res := f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip,
			Occurrences:   []store.RecurringOccurrenceInsert{occurrence(minutes(30))},
			PrevNextRunAt: minutes(30), NextRunAt: minutes(90), Now: minutes(31)})
		wantSkips(t, res, "")
		want := *entry
		want.LastRunAt, want.LastJobID, want.UpdatedAt = ptr(minutes(30)), res[0].Job.ID, minutes(31)
		wantSameRecurring(t, f.getRecurring("e"), &want)

		// Nothing inserted and nothing moved: the entry is unchanged.
		res = f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip,
			Occurrences:   []store.RecurringOccurrenceInsert{occurrence(minutes(30))},
			PrevNextRunAt: minutes(30), NextRunAt: minutes(90), Now: minutes(32)})
		wantSkips(t, res, "duplicate")
		wantSameRecurring(t, f.getRecurring("e"), &want)
	})

	t.Run("ZeroNextRunLeavesIt", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := f.recurring("e", paused) // a manual trigger runs paused entries too
		res := f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapAllow,
			Occurrences:   []store.RecurringOccurrenceInsert{occurrence(minutes(5))},
			PrevNextRunAt: entry.NextRunAt, Now: minutes(5)})
		wantSkips(t, res, "")
		want := *entry
		want.LastRunAt, want.LastJobID, want.UpdatedAt = ptr(minutes(5)), res[0].Job.ID, minutes(5)
		wantSameRecurring(t, f.getRecurring("e"), &want)
	})

	t.Run("NoOccurrencesMovesNextRun", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := f.recurring("e")
		p := &store.RecurringEnqueueParams{ID: "e", PrevNextRunAt: entry.NextRunAt,
			NextRunAt: base.Add(2 * time.Hour), Now: minutes(60)}
		if res := f.enqueue(p); len(res) != 0 {
			t.Errorf("%d results, want 0", len(res))
		}
		want := *entry
		want.NextRunAt, want.UpdatedAt = base.Add(2*time.Hour), minutes(60)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		// The same move again is stale.
		p.NextRunAt, p.Now = base.Add(5*time.Hour), minutes(61)
		f.enqueue(p)
		wantSameRecurring(t, f.getRecurring("e"), &want)
		if n := len(f.list(&store.JobListParams{})); n != 0 {
			t.Errorf("%d jobs, want 0", n)
		}
	})

	t.Run("DuplicateOccurrences", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		first := f.enqueue(enqueueParams("e", kilntype.OverlapAllow,
			occurrence(minutes(1)), occurrence(minutes(1)), occurrence(minutes(2))))
		wantSkips(t, first, "", "duplicate", "")
		second := f.enqueue(enqueueParams("e", kilntype.OverlapAllow,
			occurrence(minutes(2)), occurrence(minutes(3)),
			// Times are kept to the microsecond: this is minutes(1) again.
			occurrence(minutes(1).Add(500*time.Nanosecond))))
		wantSkips(t, second, "duplicate", "", "duplicate")
		if n := len(f.list(&store.JobListParams{})); n != 3 {
			t.Errorf("%d jobs, want 3", n)
		}
		got := f.getRecurring("e")
		if got.LastJobID != second[1].Job.ID {
			t.Errorf("LastJobID = %d, want %d (the last inserted)", got.LastJobID, second[1].Job.ID)
		}
		wantTimePtr(t, "LastRunAt", got.LastRunAt, ptr(minutes(3)))
		// Another entry's occurrences are its own.
		f.recurring("other")
		wantSkips(t, f.enqueue(enqueueParams("other", kilntype.OverlapAllow, occurrence(minutes(1)))), "")
	})

	t.Run("DuplicateBeforeOverlap", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		wantSkips(t, f.enqueue(enqueueParams("e", kilntype.OverlapSkip, occurrence(minutes(1)))), "")
		// Its job is unfinished, but the occurrence is a duplicate first.
		wantSkips(t, f.enqueue(enqueueParams("e", kilntype.OverlapSkip,
			occurrence(minutes(1)), occurrence(minutes(2)))), "duplicate", "overlap")
	})

	t.Run("UniqueKeyHeldIsDuplicate", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := f.recurring("e")
		holder := f.insert(uniqueKey("k"))
		res := f.enqueue(enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(1), uniqueKey("k"))))
		wantSkips(t, res, "duplicate")
		// No occurrence was recorded: the entry is unchanged.
		wantSameRecurring(t, f.getRecurring("e"), entry)
		if occs := f.occurrences("e", 10); len(occs) != 0 {
			t.Errorf("%d occurrences, want 0", len(occs))
		}
		// Once the key is free, the occurrence can be enqueued.
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: holder.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		res = f.enqueue(enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(1), uniqueKey("k"))))
		wantSkips(t, res, "")
		if res[0].Job.UniqueKey != "k" {
			t.Errorf("UniqueKey = %q, want k", res[0].Job.UniqueKey)
		}
	})

	t.Run("LastError", func(t *testing.T) {
		// The scheduler's verdict on an entry is written with its enqueue.
		f := newFixture(t, newStore)
		entry := f.recurring("e")
		msg := "no worker for kind \"noop\""
		now := base.Add(time.Minute)
		res := f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip,
			PrevNextRunAt: entry.NextRunAt, NextRunAt: minutes(120), LastError: &msg, Now: now,
			Occurrences: []store.RecurringOccurrenceInsert{occurrence(minutes(60))}})
		wantSkips(t, res, "")
		got := f.getRecurring("e")
		if got.LastError != msg {
			t.Errorf("LastError = %q, want %q", got.LastError, msg)
		}
		wantTime(t, "UpdatedAt", got.UpdatedAt, now)
		// Nil keeps it.
		f.enqueue(enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(61))))
		if got := f.getRecurring("e"); got.LastError != msg {
			t.Errorf("after an enqueue without LastError: %q, want it kept", got.LastError)
		}
		// A change of error alone is written, and moves UpdatedAt.
		cleared := ""
		later := base.Add(2 * time.Minute)
		f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip, LastError: &cleared, Now: later})
		got = f.getRecurring("e")
		if got.LastError != "" {
			t.Errorf("LastError = %q, want it cleared", got.LastError)
		}
		wantTime(t, "UpdatedAt", got.UpdatedAt, later)
		// The same error again changes nothing.
		f.enqueue(&store.RecurringEnqueueParams{ID: "e", Overlap: kilntype.OverlapSkip, LastError: &cleared, Now: later.Add(time.Minute)})
		wantTime(t, "UpdatedAt", f.getRecurring("e").UpdatedAt, later)
	})

	t.Run("UnknownEntry", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		_, err := f.s.RecurringEnqueue(f.ctx, &store.RecurringEnqueueParams{ID: "unknown",
			Overlap: kilntype.OverlapAllow, Occurrences: []store.RecurringOccurrenceInsert{occurrence(minutes(1))},
			PrevNextRunAt: base, NextRunAt: minutes(60), Now: base})
		if !errors.Is(err, kilntype.ErrNotFound) {
			t.Errorf("RecurringEnqueue(unknown): %v, want ErrNotFound", err)
		}
		if n := len(f.list(&store.JobListParams{})); n != 0 {
			t.Errorf("%d jobs, want 0", n)
		}
	})

	t.Run("InvalidJobFailsCall", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := f.recurring("e")
		bad := occurrence(minutes(2))
		bad.Job.State = kilntype.JobStateCompleted
		for name, occ := range map[string]store.RecurringOccurrenceInsert{
			"NilJob":       {At: minutes(2)},
			"InvalidState": bad,
		} {
			_, err := f.s.RecurringEnqueue(f.ctx, &store.RecurringEnqueueParams{ID: "e",
				Overlap:       kilntype.OverlapAllow,
				Occurrences:   []store.RecurringOccurrenceInsert{occurrence(minutes(1)), occ},
				PrevNextRunAt: entry.NextRunAt, NextRunAt: minutes(120), Now: base})
			if err == nil {
				t.Errorf("%s: RecurringEnqueue succeeded, want an error", name)
			}
		}
		// Nothing was written.
		if n := len(f.list(&store.JobListParams{})); n != 0 {
			t.Errorf("%d jobs, want 0", n)
		}
		wantSameRecurring(t, f.getRecurring("e"), entry)
		if occs := f.occurrences("e", 10); len(occs) != 0 {
			t.Errorf("%d occurrences, want 0", len(occs))
		}
	})

	t.Run("ConcurrentSchedulers", func(t *testing.T) {
		f := newFixture(t, newStore)
		raceRecurringSchedulers(t, f.s, f.s)
	})
}

func testRecurringOverlap(t *testing.T, newStore NewStoreFunc) {
	// Whether each policy skips a new occurrence while the previous
	// occurrence's job is in a state.
	for _, state := range append(kilntype.JobStates(), jobDeleted) {
		t.Run("Previous"+string(state), func(t *testing.T) {
			f := newFixture(t, newStore)
			unfinished := !state.Finalized() && state != jobDeleted
			for _, tc := range []struct {
				policy kilntype.OverlapPolicy
				skip   bool
			}{
				{kilntype.OverlapAllow, false},
				{kilntype.OverlapSkip, unfinished},
				{kilntype.OverlapQueueOne, unfinished && state != kilntype.JobStateRunning},
			} {
				id := string(tc.policy)
				f.recurring(id)
				f.recurringJobIn(id, minutes(1), state)
				want := ""
				if tc.skip {
					want = "overlap"
				}
				res := f.enqueue(enqueueParams(id, tc.policy, occurrence(minutes(2))))
				if res[0].Skipped != want {
					t.Errorf("%s: skipped %q, want %q", tc.policy, res[0].Skipped, want)
				}
			}
		})
	}

	t.Run("WithinOneCall", func(t *testing.T) {
		// The occurrences of one call (a catch-up) do not overlap one
		// another: under skip and queue_one they all run, one at a time.
		f := newFixture(t, newStore)
		for _, policy := range []kilntype.OverlapPolicy{kilntype.OverlapAllow, kilntype.OverlapSkip, kilntype.OverlapQueueOne} {
			id := string(policy)
			f.recurring(id)
			res := f.enqueue(enqueueParams(id, policy,
				occurrence(minutes(1)), occurrence(minutes(2)), occurrence(minutes(3))))
			wantSkips(t, res, "", "", "")
			if got := f.getRecurring(id); got.LastJobID != res[2].Job.ID {
				t.Errorf("%s: LastJobID = %d, want %d", policy, got.LastJobID, res[2].Job.ID)
			}
			wantWaits(t, f, res[0].Job, 0)
			if policy == kilntype.OverlapAllow {
				wantWaits(t, f, res[1].Job, 0)
				wantWaits(t, f, res[2].Job, 0)
				continue
			}
			wantWaits(t, f, res[1].Job, res[0].Job.ID)
			wantWaits(t, f, res[2].Job, res[1].Job.ID)
		}
	})

	t.Run("ChainRunsOneAtATime", func(t *testing.T) {
		// Each job of a chain is released when the one before it ends,
		// whatever its outcome, and not before.
		f := newFixture(t, newStore)
		f.dependencies()
		f.recurring("e")
		res := f.enqueue(enqueueParams("e", kilntype.OverlapSkip,
			occurrence(minutes(1), queue("chain")), occurrence(minutes(2), queue("chain")),
			occurrence(minutes(3), queue("chain"))))
		first, second, third := res[0].Job, res[1].Job, res[2].Job
		if moved := f.resolve(base); len(moved) != 0 {
			t.Fatalf("released %v while the first job waits to run", ids(moved))
		}
		got := f.claim(claimParams("chain", 10, base))
		wantIDs(t, "claimed", ids(got), []int64{first.ID})
		f.finish(finishParams(got[0], kilntype.JobStateDiscarded, base.Add(time.Second)))
		wantIDs(t, "released", ids(f.resolve(base.Add(time.Second))), []int64{second.ID})
		wantState(t, f.get(third.ID), kilntype.JobStatePending)
		got = f.claim(claimParams("chain", 10, base.Add(time.Second)))
		wantIDs(t, "claimed", ids(got), []int64{second.ID})
		f.finish(finishParams(got[0], kilntype.JobStateCompleted, base.Add(2*time.Second)))
		wantIDs(t, "released", ids(f.resolve(base.Add(2*time.Second))), []int64{third.ID})
	})

	t.Run("ChainSkipsAHeldUniqueKey", func(t *testing.T) {
		// An occurrence skipped for its unique key is no link: the next
		// job waits for the last one inserted.
		f := newFixture(t, newStore)
		f.recurring("e")
		f.insert(uniqueKey("held"))
		res := f.enqueue(enqueueParams("e", kilntype.OverlapSkip,
			occurrence(minutes(1), uniqueKey("a")), occurrence(minutes(2), uniqueKey("held")),
			occurrence(minutes(3), uniqueKey("c"))))
		wantSkips(t, res, "", "duplicate", "")
		wantWaits(t, f, res[0].Job, 0)
		wantWaits(t, f, res[2].Job, res[0].Job.ID)
	})

	t.Run("QueueOne", func(t *testing.T) {
		f := newFixture(t, newStore)
		// One running: the call's jobs wait for it, one after another.
		f.recurring("one")
		running := f.recurringJobIn("one", minutes(1), kilntype.JobStateRunning)
		res := f.enqueue(enqueueParams("one", kilntype.OverlapQueueOne,
			occurrence(minutes(2)), occurrence(minutes(3))))
		wantSkips(t, res, "", "")
		wantWaits(t, f, res[0].Job, running.ID)
		wantWaits(t, f, res[1].Job, res[0].Job.ID)
		// One already waits: no more.
		wantSkips(t, f.enqueue(enqueueParams("one", kilntype.OverlapQueueOne, occurrence(minutes(4)))), "overlap")

		// Two running: none may wait.
		f.recurring("two")
		f.recurringJobIn("two", minutes(1), kilntype.JobStateRunning)
		f.recurringJobIn("two", minutes(2), kilntype.JobStateRunning)
		wantSkips(t, f.enqueue(enqueueParams("two", kilntype.OverlapQueueOne, occurrence(minutes(3)))), "overlap")

		// One running and finished ones: one may wait, for the running one.
		f.recurring("mixed")
		f.recurringJobIn("mixed", minutes(1), kilntype.JobStateCompleted)
		running = f.recurringJobIn("mixed", minutes(2), kilntype.JobStateRunning)
		f.recurringJobIn("mixed", minutes(3), kilntype.JobStateDiscarded)
		f.recurringJobIn("mixed", minutes(4), jobDeleted)
		res = f.enqueue(enqueueParams("mixed", kilntype.OverlapQueueOne, occurrence(minutes(5))))
		wantSkips(t, res, "")
		wantWaits(t, f, res[0].Job, running.ID)

		// Nothing unfinished: the job does not wait.
		f.recurring("idle")
		f.recurringJobIn("idle", minutes(1), kilntype.JobStateCompleted)
		res = f.enqueue(enqueueParams("idle", kilntype.OverlapQueueOne, occurrence(minutes(2))))
		wantWaits(t, f, res[0].Job, 0)
	})

	t.Run("QueueOneWaitingJobStartsWhenTheRunningOneEnds", func(t *testing.T) {
		// The waiting job is never claimable while the running one runs,
		// and is released as soon as it ends, by a resolve restricted to
		// the ended job's children.
		f := newFixture(t, newStore)
		f.dependencies()
		f.recurring("e")
		running := f.recurringJobIn("e", minutes(1), kilntype.JobStateRunning)
		res := f.enqueue(enqueueParams("e", kilntype.OverlapQueueOne, occurrence(minutes(2), queue("wait"))))
		waiting := res[0].Job
		if got := f.claim(claimParams("wait", 10, base.Add(time.Hour))); len(got) != 0 {
			t.Fatalf("claimed %v while the previous run runs", ids(got))
		}
		f.finish(finishParams(running, kilntype.JobStateCompleted, base.Add(time.Second)))
		moved, err := f.dependencies().JobResolvePending(f.ctx, &store.JobResolvePendingParams{
			Now: base.Add(time.Second), Max: 10, Parents: []int64{running.ID}})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, "released", ids(moved), []int64{waiting.ID})
		wantIDs(t, "claimed", ids(f.claim(claimParams("wait", 10, base.Add(time.Second)))), []int64{waiting.ID})
	})

	t.Run("OnlyTheEightNewest", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		f.recurringJobIn("e", minutes(0), kilntype.JobStateAvailable) // unfinished
		for i := 1; i <= 7; i++ {
			f.recurringJobIn("e", minutes(i), kilntype.JobStateCancelled)
		}
		// The unfinished job is the 8th newest: it counts.
		wantSkips(t, f.enqueue(enqueueParams("e", kilntype.OverlapSkip, occurrence(minutes(20)))), "overlap")
		// One more finished occurrence pushes it out of the 8.
		f.recurringJobIn("e", minutes(8), kilntype.JobStateCancelled)
		wantSkips(t, f.enqueue(enqueueParams("e", kilntype.OverlapSkip, occurrence(minutes(20)))), "")
	})

	t.Run("OtherEntriesDoNotCount", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("a")
		f.recurring("b")
		f.recurringJobIn("a", minutes(1), kilntype.JobStateRunning)
		f.insert() // a job of no entry
		wantSkips(t, f.enqueue(enqueueParams("b", kilntype.OverlapSkip, occurrence(minutes(1)))), "")
	})

	t.Run("CleanedJobCountsAsFinished", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		done := f.recurringJobIn("e", minutes(1), kilntype.JobStateCompleted)
		n, err := f.s.JobDeleteFinished(f.ctx, &store.JobDeleteFinishedParams{
			CompletedBefore: base.Add(time.Hour), Max: 10})
		if err != nil || n != 1 {
			t.Fatalf("JobDeleteFinished = %d, %v; want 1, nil", n, err)
		}
		occs := f.occurrences("e", 10)
		if len(occs) != 1 || occs[0].JobID != done.ID || occs[0].JobState != "" {
			t.Errorf("occurrences = %+v, want job %d with state \"\"", occs, done.ID)
		}
		wantSkips(t, f.enqueue(enqueueParams("e", kilntype.OverlapSkip, occurrence(minutes(2)))), "")
		// The cleaned occurrence is still a duplicate.
		wantSkips(t, f.enqueue(enqueueParams("e", kilntype.OverlapAllow, occurrence(minutes(1)))), "duplicate")
	})
}

func testRecurringOccurrenceList(t *testing.T, newStore NewStoreFunc) {
	t.Run("NewestFirstWithJobState", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("e")
		f.recurring("other")
		// Enqueued out of time order: listed newest occurrence first.
		states := map[int]kilntype.JobState{
			3: kilntype.JobStateRunning,
			1: kilntype.JobStateCompleted,
			4: jobDeleted,
			2: kilntype.JobStateAvailable,
		}
		jobs := map[int]*kilntype.JobRow{}
		for _, m := range []int{3, 1, 4, 2} {
			jobs[m] = f.recurringJobIn("e", minutes(m), states[m])
		}
		f.recurringJobIn("other", minutes(5), kilntype.JobStateAvailable)

		occs := f.occurrences("e", 0)
		if len(occs) != 4 {
			t.Fatalf("%d occurrences, want 4", len(occs))
		}
		for i, m := range []int{4, 3, 2, 1} {
			o := occs[i]
			want := states[m]
			if want == jobDeleted {
				want = ""
			}
			if o.RecurringID != "e" || o.JobID != jobs[m].ID || o.JobState != want {
				t.Errorf("occurrence %d = %+v, want job %d in state %q", i, o, jobs[m].ID, want)
			}
			wantTime(t, "At", o.At, minutes(m))
		}

		limited := f.occurrences("e", 2)
		if len(limited) != 2 || limited[0].JobID != jobs[4].ID || limited[1].JobID != jobs[3].ID {
			t.Errorf("limit 2: %+v, want the 2 newest", limited)
		}
	})

	t.Run("UnknownEntry", func(t *testing.T) {
		f := newFixture(t, newStore)
		occs := f.occurrences("unknown", 10)
		if occs == nil || len(occs) != 0 {
			t.Errorf("occurrences = %v, want an empty list", occs)
		}
	})
}
