package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/kilnjobs/kiln/store"
)

// cleanCall is one way of calling JobDeleteFinished. The suite's cleaner
// tests run once per way (cleanCalls), so that a store answers the same
// whether its caller keeps a place in the jobs table between calls
// (JobDeleteFinishedParams.Progress, as the leader's cleaner does) or not.
type cleanCall struct {
	name string
	call func(ctx context.Context, s store.Store, p *store.JobDeleteFinishedParams) (int, error)
}

// cleanCalls are the ways the cleaner tests call JobDeleteFinished.
var cleanCalls = []cleanCall{
	{"Direct", func(ctx context.Context, s store.Store, p *store.JobDeleteFinishedParams) (int, error) {
		return s.JobDeleteFinished(ctx, p)
	}},
	{"ByRanges", cleanByRanges},
}

// cleanByRangesReadMax is the read bound of cleanByRanges' calls: small,
// so that a pass over a test's few jobs takes several calls and every
// front stops and goes on from its saved place.
const cleanByRangesReadMax = 2

// cleanByRanges stands for one call of JobDeleteFinished without Progress:
// it calls it with a fresh CleanProgress and a read bound of
// cleanByRangesReadMax, again while the store reports More and fewer than
// p.Max jobs were deleted, and returns the deletions of all calls. A store
// that ignores Progress (one with an index of finalized jobs) answers in
// one call. It fails after 10,000 calls, so that a store whose fronts do
// not move fails the test instead of hanging it.
func cleanByRanges(ctx context.Context, s store.Store, p *store.JobDeleteFinishedParams) (int, error) {
	progress := &store.CleanProgress{}
	deleted := 0
	for calls := 1; ; calls++ {
		q := *p
		q.Progress, q.ReadMax, q.Max = progress, cleanByRangesReadMax, p.Max-deleted
		n, err := s.JobDeleteFinished(ctx, &q)
		deleted += n
		if err != nil || !progress.More || deleted >= p.Max {
			return deleted, err
		}
		if calls == 10000 {
			return deleted, fmt.Errorf("JobDeleteFinished with Progress still reports More after %d calls (progress %+v)", calls, *progress)
		}
	}
}

// forEachCleanCall runs test once per way of calling JobDeleteFinished, as
// a subtest named after the way.
func forEachCleanCall(t *testing.T, newStore NewStoreFunc, test func(t *testing.T, newStore NewStoreFunc, clean cleanCall)) {
	for _, c := range cleanCalls {
		t.Run(c.name, func(t *testing.T) { test(t, newStore, c) })
	}
}
