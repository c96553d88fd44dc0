package producer

import "sync"

// workQueue hands a producer's claimed jobs to its worker goroutines.
//
// A worker that ends a job takes the next queued one itself, without
// sleeping; a sleeping (idle) worker is woken only when a queued job would
// otherwise wait: when a job is queued while no woken worker is on its way
// to the queue, or when a worker takes a job and leaves more queued while
// none is. As the Go scheduler does with its spinning threads, a worker
// wakes the next before it runs its own job, so a job never waits behind
// another job (however long that one runs), only for a woken worker to be
// scheduled; and a claim of many short jobs wakes a few workers instead of
// one per job (the unbuffered channel this replaced handed each job to a
// sleeping worker: a goroutine wake-up, and often a thread's, per job).
//
// Its zero value needs cond.L set to &mu; it is guarded by mu.
type workQueue struct {
	mu   sync.Mutex // guards the fields below
	cond sync.Cond  // idle workers wait on it, with mu
	// jobs[head:] are the queued jobs, oldest first.
	jobs []*runningJob
	head int
	// idle counts the workers waiting on cond; waking the workers woken
	// (or started) that have not yet taken mu to look at the queue, and
	// those coming back to it from a job whose slot they freed
	// (Producer.execute).
	idle, waking int
	closed       bool // no more jobs will be queued: idle workers exit
	started      int  // worker goroutines started, counted for tests
}

// popLocked removes and returns the oldest queued job, or nil if none is
// queued.
func (q *workQueue) popLocked() *runningJob {
	if q.head == len(q.jobs) {
		return nil
	}
	j := q.jobs[q.head]
	q.jobs[q.head] = nil
	if q.head++; q.head == len(q.jobs) {
		q.jobs, q.head = q.jobs[:0], 0
	}
	return j
}

// queuedLocked reports whether a job is queued.
func (q *workQueue) queuedLocked() bool { return q.head < len(q.jobs) }

// close marks q closed and wakes its idle workers, which exit once the
// queue is empty.
func (q *workQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.waking += q.idle
	q.idle = 0
	q.cond.Broadcast()
}
