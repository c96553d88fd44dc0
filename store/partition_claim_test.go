package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// inOrderSource is a PartitionInOrder and PartitionRounder whose InOrder
// claims up to inOrder jobs and whose Round claims what it is asked for,
// each of a key of its own, recording the calls.
type inOrderSource struct {
	inOrder       int // jobs InOrder finds
	inOrders      int // InOrder calls
	rounds        int // Round calls
	roundJobs     int // jobs Round claimed
	lastInOrderN  int
	lastInOrderMR int
	next          int
}

func (s *inOrderSource) jobs(n int) []*kilntype.JobRow {
	out := make([]*kilntype.JobRow, n)
	for i := range out {
		s.next++
		out[i] = &kilntype.JobRow{ID: int64(s.next), Kind: "t", Partition: fmt.Sprintf("k%d", s.next)}
	}
	return out
}

func (s *inOrderSource) InOrder(_ context.Context, n, window, maxRunning int) ([]*kilntype.JobRow, error) {
	s.inOrders++
	s.lastInOrderN, s.lastInOrderMR = n, maxRunning
	if window < n {
		return nil, fmt.Errorf("window %d below n %d", window, n)
	}
	return s.jobs(min(n, s.inOrder)), nil
}

func (s *inOrderSource) Round(_ context.Context, r PartitionRound) ([]*kilntype.JobRow, string, int, bool, error) {
	s.rounds++
	n := r.Need + r.Empty
	s.roundJobs += n
	return s.jobs(n), "k", n, false, nil
}

func (s *inOrderSource) Keys(context.Context, string, int) ([]string, error) { panic("Keys") }
func (s *inOrderSource) Running(context.Context) (map[string]int, error)     { panic("Running") }
func (s *inOrderSource) KeyBudgets(context.Context, string, int, int, time.Time) ([]KeyTAT, bool, error) {
	panic("KeyBudgets")
}
func (s *inOrderSource) Take(context.Context, []string, []int, int, int) ([]*kilntype.JobRow, error) {
	panic("Take")
}

// TestClaimPartitionedInOrder checks when a claim of a kind capped per key
// claims in claim order (PartitionInOrder): first, by key in rotation
// only for what an in-order claim that came back short left, not at all
// when it was full; never every PartitionWalkEvery-th claim, nor in the
// PartitionInOrderRest claims after a short one; never without a cap.
func TestClaimPartitionedInOrder(t *testing.T) {
	ctx := context.Background()
	var c PartitionCursors
	src := &inOrderSource{inOrder: 1000}
	p := &JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"}, Partitioned: map[string]PartitionClaim{"t": {MaxRunning: 2}}}
	claim := func() []*kilntype.JobRow {
		t.Helper()
		jobs, cursors, err := c.ClaimPartitionedKinds(ctx, p, 0, nil, func(string) PartitionTaker { return src })
		if err != nil {
			t.Fatal(err)
		}
		if cursor, ok := cursors["t"]; ok { // only a cursor that moved
			c.Set("q", "t", cursor)
		}
		if len(jobs) != 10 {
			t.Fatalf("claimed %d jobs; want 10", len(jobs))
		}
		return jobs
	}
	for i := 1; i < PartitionWalkEvery; i++ {
		claim()
		if src.inOrders != i || src.rounds != 0 {
			t.Fatalf("claim %d: %d in-order claims and %d rounds; want %d and 0", i, src.inOrders, src.rounds, i)
		}
	}
	if src.lastInOrderN != 10 || src.lastInOrderMR != 2 {
		t.Fatalf("InOrder(n %d, maxRunning %d); want 10, 2", src.lastInOrderN, src.lastInOrderMR)
	}
	claim() // the PartitionWalkEvery-th: by key in rotation
	if src.inOrders != PartitionWalkEvery-1 || src.rounds == 0 {
		t.Fatalf("claim %d: %d in-order claims and %d rounds; want %d and some", PartitionWalkEvery, src.inOrders,
			src.rounds, PartitionWalkEvery-1)
	}
	// A short in-order claim: the rotation claims the rest, and the next
	// PartitionInOrderRest claims claim by key in rotation alone.
	src.inOrder, src.inOrders, src.rounds, src.roundJobs = 4, 0, 0, 0
	claim()
	if src.inOrders != 1 || src.roundJobs != 6 {
		t.Fatalf("short in-order claim: %d in-order claims, %d jobs by key; want 1 and 6", src.inOrders, src.roundJobs)
	}
	for range PartitionInOrderRest {
		claim()
	}
	if src.inOrders != 1 {
		t.Fatalf("%d in-order claims in the %d claims after a short one; want none", src.inOrders-1, PartitionInOrderRest)
	}
	claim() // short again: twice the rest
	if src.inOrders != 2 {
		t.Fatalf("after the rest, %d in-order claims; want one more", src.inOrders-1)
	}
	for range 2 * PartitionInOrderRest {
		claim()
	}
	if src.inOrders != 2 {
		t.Fatalf("%d in-order claims in the %d claims after a second short one; want none", src.inOrders-2,
			2*PartitionInOrderRest)
	}
	src.inOrder = 1000
	claim() // full: the doubling ends; the walk every PartitionWalkEvery-th goes on
	for range PartitionWalkEvery - 1 {
		claim()
	}
	if src.inOrders != 2+PartitionWalkEvery-1 {
		t.Fatalf("%d in-order claims in %d after a full one; want %d", src.inOrders-2, PartitionWalkEvery,
			PartitionWalkEvery-1)
	}
	src.inOrder = 4
	claim() // short once more: the rest starts again at PartitionInOrderRest
	for range PartitionInOrderRest {
		claim()
	}
	if src.inOrders != 2+PartitionWalkEvery {
		t.Fatalf("%d in-order claims in the %d claims after a short one that followed a full one; want none",
			src.inOrders-2-PartitionWalkEvery, PartitionInOrderRest)
	}
	// Without a cap: never.
	src.inOrders = 0
	p.Partitioned["t"] = PartitionClaim{}
	for range 3 {
		claim()
	}
	if src.inOrders != 0 {
		t.Fatalf("fair claims without a cap made %d in-order claims", src.inOrders)
	}
}

// TestClaimsOthers checks that ClaimsOthers reports false exactly when
// WithoutPartitioned claims nothing, so that a claim may skip building it.
func TestClaimsOthers(t *testing.T) {
	part := map[string]PartitionClaim{"a": {MaxRunning: 1}}
	rated := map[string]kilntype.RateLimit{"b": {Limit: 1, Period: time.Second}}
	for _, p := range []*JobClaimParams{
		{Kinds: []string{"a"}, Partitioned: part},
		{Kinds: []string{"a", "b"}, Partitioned: part, KeyRateLimits: rated},
		{Kinds: []string{"a", "c"}, Partitioned: part},
		{Kinds: []string{"a", "c"}, Partitioned: part, KindLimits: map[string]int{"c": 0}},
		{Kinds: []string{"a", "c"}, Partitioned: part, KindLimits: map[string]int{"c": 2}},
		{Kinds: []string{"b"}, KeyRateLimits: rated},
		{AnyKind: true, Partitioned: part},
		{Kinds: []string{"c"}},
	} {
		p.Max = 10
		if got, want := p.ClaimsOthers(), !p.WithoutPartitioned(10).ClaimsNothing(); got != want {
			t.Errorf("%+v: ClaimsOthers() = %v; WithoutPartitioned claims something: %v", p, got, want)
		}
	}
}

// TestClaimPartitionedKindsCursorMoved checks that ClaimPartitionedKinds
// returns the cursor of a kind only when it moved: an in-order claim that
// was full leaves it where it was, and returns none; one that went on by
// key in rotation returns where the rotation stopped.
func TestClaimPartitionedKindsCursorMoved(t *testing.T) {
	ctx := context.Background()
	var c PartitionCursors
	src := &inOrderSource{inOrder: 1000}
	p := &JobClaimParams{Queue: "q", Max: 10, Kinds: []string{"t"}, Partitioned: map[string]PartitionClaim{"t": {MaxRunning: 2}}}
	jobs, cursors, err := c.ClaimPartitionedKinds(ctx, p, 0, nil, func(string) PartitionTaker { return src })
	if err != nil || len(jobs) != 10 || src.inOrders != 1 {
		t.Fatalf("%d jobs, %d in-order claims, %v", len(jobs), src.inOrders, err)
	}
	if len(cursors) != 0 {
		t.Fatalf("a full in-order claim returned cursors %v; want none", cursors)
	}
	src.inOrder = 4 // short: the rotation claims the rest and stops at "k"
	jobs, cursors, err = c.ClaimPartitionedKinds(ctx, p, 0, nil, func(string) PartitionTaker { return src })
	if err != nil || len(jobs) != 10 {
		t.Fatalf("%d jobs, %v", len(jobs), err)
	}
	if cursor, ok := cursors["t"]; !ok || cursor != "k" || len(cursors) != 1 {
		t.Fatalf("cursors %v after a rotation to k; want t: k", cursors)
	}
}
