package postgres

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// claimMarks is a Store's low-water marks of its plain claims
// (sqlClaimPlain of named kinds), one per queue and set of kinds: the
// claim-order key (priority, scheduled_at, id) of the last job that the
// last claim of that queue and kinds took, when that claim took as many
// jobs as it asked for. The next claim starts its ranges of
// kiln_job_claim_kind past the mark (claimPastMark) instead of at their
// front. Before the mark lie the entries of the jobs claimed so far, which
// stay in the index, dead, until a VACUUM: a claim from the front reads
// them all: 3,578 buffers for a claim of 100 jobs past 500,000 claimed
// ones, against 6 for the same claim past its mark (docs/benchmarks.md,
// "The claim past dead index entries (issue 11, 2026-12-06 sixth
// session)").
//
// A job can become available before the mark: made available again (a
// continuation whose parents finished keeps its earlier scheduled_at, a
// retry or a snooze promoted, a job that a stopping process sends back, an
// expired lease rescued), inserted with an earlier ScheduledAt or a higher
// priority, available with a ScheduledAt that has just come, committed
// late or stamped by another process's clock, or skipped because another
// transaction held its lock. So a claim reads from
// the front (store.ClaimFrontEvery, store.ClaimFrontAfter) when:
//
//   - there is no mark: the queue's first claim, or the last one took fewer
//     jobs than it asked for, or ran sqlClaim (a scheduled or retryable job
//     was due), found its queue paused, or failed;
//   - ClaimFrontEvery - 1 claims have started past the mark since the last
//     claim from the front;
//   - its Now is ClaimFrontAfter or more after (or before) the Now of the
//     last claim from the front;
//   - and, within the same JobClaim, after a claim past the mark that took
//     fewer jobs than it asked for (claim.runPlain): a claim never leaves
//     slots empty that jobs before its mark could fill.
//
// Notifications do not lower a mark: they name a queue, not a job's key.
// The in-order claim of a kind capped per key (sqlPartitionInOrder) keeps
// marks of its own by the same rules, under keys that no plain claim uses.
// Other claims by partition key, claims of any kind (AnyKind or no Kinds),
// under kind limits, rate budgets, in a transaction or with FromFront (a
// test's drain) keep reading from the front, and set no mark.
//
// It is safe for concurrent use; mu guards marks.
type claimMarks struct {
	mu    sync.Mutex
	marks map[string]*claimMark
}

// claimMarksPrune is the number of marks from which done drops those that
// no longer count (a variable for tests).
var claimMarksPrune = 64

// claimMark is one queue's and kinds' mark, and when its claims last read
// from the front.
type claimMark struct {
	claimStart           // the mark, when set
	set        bool      // whether there is a mark to start past
	past       int       // claims started past the mark since the last from the front
	front      time.Time // the Now of the last claim from the front
}

// claimStart is where a plain claim starts: past the key (priority,
// scheduledAt, id), or, when marked is false, at the front of its ranges
// (priority math.MinInt32, before every job's).
type claimStart struct {
	priority    int32
	scheduledAt time.Time
	id          int64
	marked      bool
}

// frontStart is where a claim at now from the front starts: before every
// job's key.
func frontStart(now time.Time) claimStart {
	return claimStart{priority: math.MinInt32, scheduledAt: now}
}

// claimMarkKey is the key of queue's claims of kinds (in the order the
// claim passes them).
func claimMarkKey(queue string, kinds []string) string {
	return queue + "\x00" + strings.Join(kinds, "\x00")
}

// start returns where the next claim of key at now starts, and counts it if
// past the mark.
func (ms *claimMarks) start(key string, now time.Time) claimStart {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	m := ms.marks[key]
	if m == nil || !m.set || m.past >= store.ClaimFrontEvery-1 ||
		now.Sub(m.front) >= store.ClaimFrontAfter || now.Before(m.front) {
		return frontStart(now)
	}
	m.past++
	return m.claimStart
}

// done records a claim of key at now that started at from, asked for want
// jobs and took got (in any order): the last of them in claim order is
// the mark if it took want, else there is none.
func (ms *claimMarks) done(key string, from claimStart, now time.Time, want int, got []*kilntype.JobRow) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.marks == nil {
		ms.marks = make(map[string]*claimMark)
	}
	if len(ms.marks) >= claimMarksPrune {
		// Keys come and go with the kinds a claim passes (kinds at their
		// limit are left out). A mark whose last claim from the front is
		// ClaimFrontAfter old is worth nothing: its next claim reads from
		// the front, as with no mark at all.
		for k, m := range ms.marks {
			if now.Sub(m.front) >= store.ClaimFrontAfter || now.Before(m.front) {
				delete(ms.marks, k)
			}
		}
	}
	m := ms.marks[key]
	if m == nil {
		m = &claimMark{}
		ms.marks[key] = m
	}
	if !from.marked {
		m.past, m.front = 0, now
	}
	if len(got) < want || len(got) == 0 {
		m.set = false
		return
	}
	last := got[0]
	for _, j := range got[1:] {
		if compareClaimOrder(j, last) > 0 {
			last = j
		}
	}
	if last.Priority < math.MinInt32+1 || last.Priority > math.MaxInt32 {
		m.set = false // out of the column's range: no store writes it
		return
	}
	m.claimStart = claimStart{priority: int32(last.Priority), scheduledAt: last.ScheduledAt, id: last.ID, marked: true}
	m.set = true
}

// forget drops key's mark: its next claim reads from the front.
func (ms *claimMarks) forget(key string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if m := ms.marks[key]; m != nil {
		m.set = false
	}
}
