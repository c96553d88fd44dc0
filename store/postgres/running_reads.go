package postgres

import "sync"

// runningReads is how a Store's in-order claims under a per-key limit
// (sqlPartitionInOrder) find each key's running jobs, per queue and kind:
// by one read of the kind's running entries of kiln_job_running per claim,
// stopped at the claim's window ($13 of the statement), or by one seek of
// the key's running entries per job read. A claim whose read stopped at its
// window (wide: more jobs of the kind run, in every process, than it may
// read jobs) has sought per job as well; the next runningWideSkip in-order
// claims of the queue and kind whose window is no larger than that one's
// then seek at once (bound returns 0), so that a kind with many running
// jobs (many processes sharing the database, each claiming few jobs at a
// time) does not pay that read on top of the seeks at every claim, and the
// one after them reads again. A claim with a larger window reads, up to
// its window, meanwhile: the wide read said only that more jobs run than
// the smaller window, and a client whose workers free up unevenly
// alternates small claims and large ones (in a burn-down of 50,000 jobs by
// 200 workers over 1,000 keys at a limit of 1, claims of 20 and 180 jobs
// with 200 to 300 running: each claim of 20, window 80, came back wide, and
// the claims of 180 that followed, window 720, sought each of their jobs'
// keys, half of the in-order claim's jobs; docs/benchmarks.md, "PostgreSQL
// per key in the real burn-down (pgreal, 2026-12-07 fourteenth session)").
//
// It is safe for concurrent use; mu guards skip.
type runningReads struct {
	mu   sync.Mutex
	skip map[string]wideSkip // by claim-mark key
}

// wideSkip is, for one queue and kind, the in-order claims left that seek
// at once (left), and the window of the read that came back wide (at): a
// claim with a larger window reads.
type wideSkip struct {
	left, at int
}

// runningWideSkip is the number of in-order claims of a queue and kind
// that seek their keys' running entries at once after a claim whose read
// of the kind's running jobs stopped at its window (runningReads).
const runningWideSkip = 16

// runningReadsPrune is the number of queues and kinds from which done
// drops those with no claim left to skip.
const runningReadsPrune = 64

// bound returns the running jobs that the next in-order claim of key (a
// claim-mark key) with window reads at most: window, or 0 (seek at once)
// while claims are left to skip after a wide read at a window no smaller,
// counting this one.
func (r *runningReads) bound(key string, window int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if w := r.skip[key]; w.left > 0 && window <= w.at {
		w.left--
		r.skip[key] = w
		return 0
	}
	return window
}

// done records how an in-order claim of key that read at most bound
// running jobs ended: wide (its read stopped at bound) makes the next
// runningWideSkip claims with a window up to bound seek at once. A claim
// that sought at once (bound 0) changes nothing.
func (r *runningReads) done(key string, bound int, wide bool) {
	if bound == 0 || !wide {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skip == nil {
		r.skip = make(map[string]wideSkip)
	}
	if len(r.skip) >= runningReadsPrune {
		for k, w := range r.skip {
			if w.left == 0 {
				delete(r.skip, k)
			}
		}
	}
	r.skip[key] = wideSkip{left: runningWideSkip, at: bound}
}
