package recurring

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// failingListStore is a store whose RecurringListDue fails while fail is
// set.
type failingListStore struct {
	store.Store
	fail atomic.Bool
}

func (s *failingListStore) RecurringListDue(ctx context.Context, p *store.RecurringListDueParams) ([]*kilntype.RecurringRow, error) {
	if s.fail.Load() {
		return nil, errors.New("database down")
	}
	return s.Store.RecurringListDue(ctx, p)
}

// TestLoopWakeAndErrors runs the scheduler's loop (Start, Stop) with a
// poll interval of an hour: the first pass enqueues the due entry, Wake
// makes it look again at once (an entry added since), a pass that fails is
// logged and does not stop the loop, and Stop ends it (goleak checks it).
func TestLoopWakeAndErrors(t *testing.T) {
	t.Parallel()
	st := &failingListStore{Store: openStore(t, filepath.Join(t.TempDir(), "kiln.db"))}
	now := base.Add(30 * time.Second) // between occurrences of a per-minute entry
	addEntry(t, st, "a", "* * * * *", base)
	s := newScheduler(st, func() time.Time { return now })
	logger, log := enginetest.NewLogger()
	s.cfg.Logger = logger
	s.cfg.PollInterval = time.Hour // only Wake (or an error's backoff) runs another pass
	s.Start(t.Context())
	defer s.Stop()
	testutil.Eventually(t, "the due entry's job", func() bool { return countJobs(t, st) == 1 })

	addEntry(t, st, "b", "* * * * *", base)
	s.Wake()
	s.Wake() // a second wake while one is pending is dropped, not blocked on
	testutil.Eventually(t, "the woken pass's job", func() bool { return countJobs(t, st) == 2 })

	st.fail.Store(true)
	s.Wake()
	testutil.Eventually(t, "a logged pass failure", func() bool {
		return len(log.Records("recurring scheduler pass failed")) > 0
	})
	st.fail.Store(false)
	addEntry(t, st, "c", "* * * * *", base)
	s.Wake() // the retry waits the poll interval at least: an hour here
	testutil.Eventually(t, "the job of a pass after the failure", func() bool { return countJobs(t, st) == 3 })
}

// TestEntryThatCannotBeBuiltRetriedLater checks that an entry whose job
// does not build (JobParams fails) has the error recorded and is looked
// at again an hour later, without holding back the other entries of the
// pass.
func TestEntryThatCannotBeBuiltRetriedLater(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	st := openStore(t, filepath.Join(t.TempDir(), "kiln.db"))
	now := base.Add(30 * time.Second)
	addEntry(t, st, "broken", "* * * * *", base)
	addEntry(t, st, "fine", "* * * * *", base)
	s := newScheduler(st, func() time.Time { return now })
	build := s.cfg.JobParams
	s.cfg.JobParams = func(row *kilntype.RecurringRow, at time.Time) (*store.JobInsertParams, error) {
		if row.ID == "broken" {
			return nil, errors.New("args do not encode")
		}
		return build(row, at)
	}
	if err := s.pass(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countJobs(t, st); n != 1 {
		t.Errorf("%d jobs, want 1 (the fine entry's)", n)
	}
	row, err := st.RecurringGet(ctx, &store.RecurringGetParams{ID: "broken"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row.LastError, "args do not encode") || !row.NextRunAt.Equal(now.Add(time.Hour)) {
		t.Errorf("broken entry: error %q, next run %v; want the error and %v", row.LastError, row.NextRunAt, now.Add(time.Hour))
	}
}
