package maintenance

import (
	"context"
	"slices"
	"testing"

	"github.com/kilnjobs/kiln/store"
)

// progressStore is a taskStore whose JobDeleteFinished moves the
// caller's store.CleanProgress on, as a store that reads ID ranges does,
// and reports More as told.
type progressStore struct {
	*taskStore
	more []bool                 // More of each call
	seen []*store.CleanProgress // Progress of each call
}

func (s *progressStore) JobDeleteFinished(ctx context.Context, p *store.JobDeleteFinishedParams) (int, error) {
	i := len(s.seen)
	s.seen = append(s.seen, p.Progress)
	if p.Progress != nil {
		p.Progress.Fronts = append(p.Progress.Fronts, int64(i+1))
		p.Progress.More = s.more[i]
	}
	return s.taskStore.JobDeleteFinished(ctx, p)
}

// TestCleanerKeepsProgress checks that the cleaner passes the store one
// CleanProgress from pass to pass, with its clock's time, and that a pass
// the store cut short at its read bound (More) repeats at once, before the
// cleaner's later steps, even when it deleted fewer jobs than a batch.
func TestCleanerKeepsProgress(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	st := &progressStore{taskStore: e.st, more: []bool{true, false}}
	e.cfg.Store = st
	clean := task(t, New(e.cfg), "cleaner")
	e.st.set("JobDeleteFinished", nil, 3, 3)

	if n, err := clean.Run(t.Context()); n != batchSize || err != nil {
		t.Errorf("cleaner cut short by the store's read bound: %d, %v; want %d (repeat at once)", n, err, batchSize)
	}
	if got, want := e.st.callsSoFar(), []string{"ServiceDeleteStale", "RetentionList", "JobDeleteFinished"}; !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v (jobs first while the store has more to read)", got, want)
	}
	if n, err := clean.Run(t.Context()); n != 3 || err != nil {
		t.Errorf("cleaner: %d, %v; want 3", n, err)
	}
	if len(st.seen) != 2 || st.seen[0] == nil || st.seen[0] != st.seen[1] {
		t.Fatalf("progress of each call %v, want one, the same", st.seen)
	}
	if p := st.seen[1]; !slices.Equal(p.Fronts, []int64{1, 2}) || p.More {
		t.Errorf("progress %+v, want the fronts of both calls and no more", p)
	}
	jp := e.st.paramsOf("JobDeleteFinished")[1].(*store.JobDeleteFinishedParams)
	if !jp.Now.Equal(e.clock.Now()) {
		t.Errorf("JobDeleteFinished Now %v, want the clock's %v", jp.Now, e.clock.Now())
	}
}

// TestCleanerOtherRowsWhileMore: while the store keeps reporting More (a
// new leader's first pass over millions of jobs), every cleanRepeats-th
// pass in a row also deletes the other rows (occurrences, batches), which
// would otherwise wait for the end of that pass.
func TestCleanerOtherRowsWhileMore(t *testing.T) {
	t.Parallel()
	e := newTaskEnv()
	const passes = 3 * cleanRepeats
	st := &progressStore{taskStore: e.st, more: slices.Repeat([]bool{true}, passes)}
	e.cfg.Store = st
	clean := task(t, New(e.cfg), "cleaner")
	for i := range passes {
		if n, err := clean.Run(t.Context()); n != batchSize || err != nil {
			t.Fatalf("pass %d: %d, %v; want %d (repeat at once)", i, n, err, batchSize)
		}
	}
	occurrences := 0
	for _, c := range e.st.callsSoFar() {
		if c == "RecurringOccurrenceDeleteOld" {
			occurrences++
		}
	}
	if want := passes / cleanRepeats; occurrences != want {
		t.Errorf("old occurrences deleted in %d of %d passes that all had more jobs to read, want %d (every %d)",
			occurrences, passes, want, cleanRepeats)
	}
}
