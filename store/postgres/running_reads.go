package postgres

import "sync"

// runningReads is how a Store's in-order claims under a per-key limit
// (sqlPartitionInOrder) find each key's running jobs, per queue and kind:
// by one read of the kind's running entries of kiln_job_running per claim,
// stopped at the claim's window ($13 of the statement), or by one seek of
// the key's running entries per job read. A claim whose read stopped at its
// window (wide: more jobs of the kind run, in every process, than it may
// read jobs) has sought per job as well; the next runningWideSkip in-order
// claims of the queue and kind then seek at once (bound returns 0), so
// that a kind with many running jobs (many processes sharing the database,
// each claiming few jobs at a time) does not pay that read on top of the
// seeks at every claim, and the one after them reads again.
//
// It is safe for concurrent use; mu guards skip.
type runningReads struct {
	mu   sync.Mutex
	skip map[string]int // by claim-mark key: in-order claims left that seek at once
}

// runningWideSkip is the number of in-order claims of a queue and kind
// that seek their keys' running entries at once after a claim whose read
// of the kind's running jobs stopped at its window (runningReads).
const runningWideSkip = 16

// runningReadsPrune is the number of queues and kinds from which done
// drops those with no claim left to skip.
const runningReadsPrune = 64

// bound returns the running jobs that the next in-order claim of key (a
// claim-mark key) reads at most: window, or 0 (seek at once) while claims
// are left to skip after a wide one, counting this one.
func (r *runningReads) bound(key string, window int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := r.skip[key]; n > 0 {
		r.skip[key] = n - 1
		return 0
	}
	return window
}

// done records how an in-order claim of key that read at most bound
// running jobs ended: wide (its read stopped at bound) makes the next
// runningWideSkip claims seek at once. A claim that sought at once
// (bound 0) changes nothing.
func (r *runningReads) done(key string, bound int, wide bool) {
	if bound == 0 || !wide {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.skip == nil {
		r.skip = make(map[string]int)
	}
	if len(r.skip) >= runningReadsPrune {
		for k, n := range r.skip {
			if n == 0 {
				delete(r.skip, k)
			}
		}
	}
	r.skip[key] = runningWideSkip
}
