package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// progressFixture is a fixture whose store keeps job progress and logs.
type progressFixture struct {
	*fixture
	ps store.JobProgressStore
}

// newProgressFixture returns a progressFixture on a new store.
func newProgressFixture(t *testing.T, newStore NewStoreFunc) *progressFixture {
	t.Helper()
	f := newFixture(t, newStore)
	return &progressFixture{fixture: f, ps: f.s}
}

// lease returns the lease of job as it was claimed by procA.
func lease(job *kilntype.JobRow) store.JobReportLease {
	l := store.JobReportLease{ID: job.ID, LeasedBy: procA}
	if job.AttemptedAt != nil {
		l.AttemptedAt = *job.AttemptedAt
	}
	return l
}

// setProgress runs JobProgressSet and returns whether it applied.
func (f *progressFixture) setProgress(l store.JobReportLease, percent int) bool {
	f.t.Helper()
	ok, err := f.ps.JobProgressSet(f.ctx, &store.JobProgressSetParams{JobReportLease: l, Progress: percent})
	if err != nil {
		f.t.Fatalf("JobProgressSet(job %d, %d%%): %v", l.ID, percent, err)
	}
	return ok
}

// appendLog appends one line per message, logged at base+i seconds, and
// returns whether it applied.
func (f *progressFixture) appendLog(l store.JobReportLease, keep int, messages ...string) bool {
	f.t.Helper()
	p := &store.JobLogAppendParams{JobReportLease: l, Keep: keep}
	for i, m := range messages {
		p.Lines = append(p.Lines, store.JobLogAppendLine{At: base.Add(time.Duration(i) * time.Second), Message: m})
	}
	ok, err := f.ps.JobLogAppend(f.ctx, p)
	if err != nil {
		f.t.Fatalf("JobLogAppend(job %d): %v", l.ID, err)
	}
	return ok
}

// logs runs JobLogList and returns the lines as "seq/attempt/message".
func (f *progressFixture) logs(p *store.JobLogListParams) []string {
	f.t.Helper()
	lines, err := f.ps.JobLogList(f.ctx, p)
	if err != nil {
		f.t.Fatalf("JobLogList(%+v): %v", p, err)
	}
	if lines == nil {
		f.t.Fatalf("JobLogList(%+v) = nil, want a non-nil list", p)
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		if l.JobID != p.JobID {
			f.t.Errorf("line %d has JobID %d, want %d", l.Seq, l.JobID, p.JobID)
		}
		out[i] = fmt.Sprintf("%d/%d/%s", l.Seq, l.Attempt, l.Message)
	}
	return out
}

// wantProgress fails the test unless job id's Progress is want (nil: none),
// as JobGet and JobList return it.
func (f *progressFixture) wantProgress(id int64, want *int) {
	f.t.Helper()
	show := func(p *int) string {
		if p == nil {
			return "nil"
		}
		return fmt.Sprint(*p)
	}
	got := f.get(id).Progress
	if show(got) != show(want) {
		f.t.Errorf("job %d: JobGet Progress = %s, want %s", id, show(got), show(want))
	}
	for _, j := range f.list(&store.JobListParams{Cursor: id + 1, Limit: 1}) {
		if show(j.Progress) != show(want) {
			f.t.Errorf("job %d: JobList Progress = %s, want %s", id, show(j.Progress), show(want))
		}
	}
}

func percent(n int) *int { return &n }

func testProgress(t *testing.T, newStore NewStoreFunc) {
	t.Run("SetWhileLeased", func(t *testing.T) {
		f := newProgressFixture(t, newStore)
		job := f.running()
		f.wantProgress(job.ID, nil)
		for _, p := range []int{0, 40, 100, 35} {
			if !f.setProgress(lease(job), p) {
				t.Fatalf("JobProgressSet(%d%%) of the leased job did not apply", p)
			}
			f.wantProgress(job.ID, percent(p))
		}
		// Finishing keeps the attempt's last progress.
		f.finish(finishParams(job, kilntype.JobStateCompleted, base.Add(time.Second)))
		f.wantProgress(job.ID, percent(35))
	})

	t.Run("OutOfRange", func(t *testing.T) {
		f := newProgressFixture(t, newStore)
		job := f.running()
		for _, p := range []int{-1, 101} {
			if _, err := f.ps.JobProgressSet(f.ctx, &store.JobProgressSetParams{JobReportLease: lease(job), Progress: p}); err == nil {
				t.Errorf("JobProgressSet(%d%%): no error", p)
			}
		}
		f.wantProgress(job.ID, nil)
	})

	t.Run("OnlyUnderTheLease", func(t *testing.T) {
		f := newProgressFixture(t, newStore)
		job := f.running()
		f.setProgress(lease(job), 10)
		other := lease(job)
		other.LeasedBy = procB
		stale := lease(job)
		stale.AttemptedAt = stale.AttemptedAt.Add(-time.Second)
		missing := lease(job)
		missing.ID = job.ID + 1000
		for name, l := range map[string]store.JobReportLease{"OtherProcess": other, "OtherClaim": stale, "UnknownJob": missing} {
			if f.setProgress(l, 90) {
				t.Errorf("%s: JobProgressSet applied", name)
			}
			if f.appendLog(l, 10, "x") {
				t.Errorf("%s: JobLogAppend applied", name)
			}
		}
		f.wantProgress(job.ID, percent(10))
		wantStrings(t, "lines", f.logs(&store.JobLogListParams{JobID: job.ID}), []string{})

		// A zero AttemptedAt checks the process only.
		anyClaim := lease(job)
		anyClaim.AttemptedAt = time.Time{}
		if !f.setProgress(anyClaim, 20) {
			t.Error("JobProgressSet without AttemptedAt did not apply")
		}
		f.wantProgress(job.ID, percent(20))

		// Jobs that are not running take no writes.
		for _, state := range []kilntype.JobState{kilntype.JobStateAvailable, kilntype.JobStateCompleted, kilntype.JobStateRetryable} {
			j := f.inState(state)
			l := store.JobReportLease{ID: j.ID, LeasedBy: procA}
			if f.setProgress(l, 50) || f.appendLog(l, 10, "x") {
				t.Errorf("%s job: a write applied", state)
			}
		}
	})

	t.Run("NewAttemptStartsWithout", func(t *testing.T) {
		// A job rescued after its lease expired and claimed again: the old
		// claim cannot write, the new attempt starts with no progress and
		// its log lines follow the old attempt's.
		f := newProgressFixture(t, newStore)
		first := f.running()
		f.setProgress(lease(first), 70)
		f.appendLog(lease(first), 10, "one")
		if _, err := f.s.JobRescueExpired(f.ctx, &store.JobRescueExpiredParams{Now: base.Add(2 * leaseTTL), Max: 10}); err != nil {
			t.Fatal(err)
		}
		f.wantProgress(first.ID, percent(70)) // retryable: the failed attempt's
		second := f.claim(claimParams(first.Queue, 1, base.Add(3*leaseTTL)))[0]
		if second.ID != first.ID || second.Attempt != 2 {
			t.Fatalf("claimed job %d attempt %d, want job %d attempt 2", second.ID, second.Attempt, first.ID)
		}
		f.wantProgress(first.ID, nil)
		if f.setProgress(lease(first), 99) || f.appendLog(lease(first), 10, "stale") {
			t.Error("a write under the first claim applied")
		}
		f.appendLog(lease(second), 10, "two")
		f.setProgress(lease(second), 5)
		f.wantProgress(first.ID, percent(5))
		wantStrings(t, "lines", f.logs(&store.JobLogListParams{JobID: first.ID}), []string{"1/1/one", "2/2/two"})
	})

	t.Run("LogAppendList", func(t *testing.T) {
		f := newProgressFixture(t, newStore)
		job := f.running()
		other := f.running()
		if !f.appendLog(lease(job), 100, "a", "b", "c") {
			t.Fatal("JobLogAppend of the leased job did not apply")
		}
		f.appendLog(lease(other), 100, "other")
		f.appendLog(lease(job), 100) // no lines: nothing
		f.appendLog(lease(job), 100, "d", "e", "€ ünïcode\nsecond line")
		all := []string{"1/1/a", "2/1/b", "3/1/c", "4/1/d", "5/1/e", "6/1/€ ünïcode\nsecond line"}
		for _, tc := range []struct {
			name string
			p    store.JobLogListParams
			want []string
		}{
			{"All", store.JobLogListParams{}, all},
			{"AfterSeq", store.JobLogListParams{AfterSeq: 4}, all[4:]},
			{"Limit", store.JobLogListParams{Limit: 2}, all[:2]},
			{"AfterSeqLimit", store.JobLogListParams{AfterSeq: 1, Limit: 2}, all[1:3]},
			{"Tail", store.JobLogListParams{Limit: 2, Tail: true}, all[4:]},
			{"TailAfterSeq", store.JobLogListParams{AfterSeq: 4, Limit: 5, Tail: true}, all[4:]},
			{"PastTheEnd", store.JobLogListParams{AfterSeq: 6}, []string{}},
		} {
			tc.p.JobID = job.ID
			wantStrings(t, tc.name, f.logs(&tc.p), tc.want)
		}
		wantStrings(t, "other job", f.logs(&store.JobLogListParams{JobID: other.ID}), []string{"1/1/other"})
		wantStrings(t, "unknown job", f.logs(&store.JobLogListParams{JobID: job.ID + 1000}), []string{})

		lines, err := f.ps.JobLogList(f.ctx, &store.JobLogListParams{JobID: job.ID, AfterSeq: 3, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		// The second call's lines were logged at base, base+1s, base+2s.
		wantTime(t, "line 4 At", lines[0].At, base)
	})

	t.Run("KeepsNewest", func(t *testing.T) {
		f := newProgressFixture(t, newStore)
		job := f.running()
		f.appendLog(lease(job), 4, "1", "2", "3")
		f.appendLog(lease(job), 4, "4", "5")
		wantStrings(t, "after 5 lines", f.logs(&store.JobLogListParams{JobID: job.ID}),
			[]string{"2/1/2", "3/1/3", "4/1/4", "5/1/5"})
		// More lines than Keep in one call: the last Keep are stored, the
		// others use up their numbers.
		f.appendLog(lease(job), 4, "6", "7", "8", "9", "10", "11")
		wantStrings(t, "after 11 lines", f.logs(&store.JobLogListParams{JobID: job.ID}),
			[]string{"8/1/8", "9/1/9", "10/1/10", "11/1/11"})
		if _, err := f.ps.JobLogAppend(f.ctx, &store.JobLogAppendParams{JobReportLease: lease(job), Keep: 0,
			Lines: []store.JobLogAppendLine{{At: base, Message: "x"}}}); err == nil {
			t.Error("JobLogAppend with Keep 0: no error")
		}
	})

	t.Run("DeletedWithTheJob", func(t *testing.T) {
		f := newProgressFixture(t, newStore)
		deleted, cleaned, kept := f.running(), f.running(), f.running()
		for _, j := range []*kilntype.JobRow{deleted, cleaned, kept} {
			f.appendLog(lease(j), 10, "line")
		}
		for _, j := range []*kilntype.JobRow{deleted, cleaned} {
			f.finish(finishParams(j, kilntype.JobStateCompleted, base.Add(time.Second)))
		}
		if _, err := f.s.JobDelete(f.ctx, &store.JobDeleteParams{ID: deleted.ID}); err != nil {
			t.Fatal(err)
		}
		if n, err := f.s.JobDeleteFinished(f.ctx, &store.JobDeleteFinishedParams{
			CompletedBefore: base.Add(time.Hour), Max: 10}); err != nil || n != 1 {
			t.Fatalf("JobDeleteFinished = %d, %v; want 1", n, err)
		}
		wantStrings(t, "deleted job's lines", f.logs(&store.JobLogListParams{JobID: deleted.ID}), []string{})
		wantStrings(t, "cleaned job's lines", f.logs(&store.JobLogListParams{JobID: cleaned.ID}), []string{})
		wantStrings(t, "running job's lines", f.logs(&store.JobLogListParams{JobID: kept.ID}), []string{"1/1/line"})
	})
}
