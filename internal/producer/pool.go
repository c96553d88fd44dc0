package producer

import "sync"

// Pool is a process-wide set of worker slots shared by the producers of
// several queues (Config.MaxWorkers of the root package), each joined with
// a weight. A nil *Pool shares nothing: each producer is bounded by its own
// MaxWorkers alone. It is safe for concurrent use.
//
// A producer reserves slots before each claim (reserve), gives back those
// its claim did not fill (settle) and frees one slot when a worker returns
// (release). The pool hands each free slot to one queue that has waiting
// work (a grant), and wakes that queue's producer once its grants are worth
// a claim:
//
//   - weighted (the default): the queue is chosen by smooth weighted round
//     robin (nginx's upstream balancer, Maxim Dounin, 2012: each queue's
//     current value grows by its weight, the largest is chosen and drops by
//     the sum of the weights), so that while queues of weights w1..wn all
//     have waiting work, each gets wi of every w1+..+wn slots that free up,
//     spread evenly: a queue of weight 1 is never starved;
//   - strict: the queue of the highest weight with waiting work always
//     comes first; queues of equal weight share by round robin.
//
// Either way the pool is work-conserving: a queue with no waiting work is
// given no slot, so the others use its share, and a queue that reaches its
// own MaxWorkers lets the others have the rest.
//
// A queue has waiting work, as far as the pool knows, from its start until a
// claim of its comes back with fewer jobs than it asked for, and again from
// its next reserve (a poll, or a wake by an enqueue): the producers learn it
// from the claims they make anyway, without asking the store more. A queue
// that turns out to have no work gives its grants back with settle, and the
// pool hands them on.
type Pool struct {
	size   int  // slots; read-only
	strict bool // read-only

	mu     sync.Mutex // guards every field below, and those of the members
	free   int        // slots neither held nor granted
	queues []*poolQueue
}

// poolQueue is one queue's account in a Pool; its fields are guarded by the
// pool's mu.
type poolQueue struct {
	name   string
	weight int
	cap    int // the queue's own MaxWorkers
	// wake wakes the queue's producer: at once if force, else only if its
	// own free slots make the grants worth a claim (Producer.poolWake).
	// Called without the pool's mu held; must not block.
	wake func(force bool)
	// held counts the slots the queue uses: reserved by a claim under way,
	// or running a job whose worker has not returned.
	held int
	// granted counts the slots handed to the queue that its producer has
	// not reserved yet.
	granted int
	waiting bool  // the queue has waiting work, as far as the pool knows
	current int64 // smooth weighted round robin's current value
}

// NewPool returns a pool of size slots (at least 1); strict serves the
// queues in order of weight instead of sharing by weight.
func NewPool(size int, strict bool) *Pool {
	return &Pool{size: size, strict: strict, free: size}
}

// join adds the queue of a new Producer with its weight (at least 1), its
// own cap and its wake function, and returns its account. A queue is
// assumed to have waiting work until a claim says otherwise.
func (p *Pool) join(name string, weight, capacity int, wake func(force bool)) *poolQueue {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := &poolQueue{name: name, weight: max(weight, 1), cap: capacity, wake: wake, waiting: true}
	p.queues = append(p.queues, q)
	return q
}

// reserve marks q as having waiting work, hands out the free slots, and
// takes up to want of q's grants for a claim; it returns how many it took
// (zero when the pool's slots are held or granted to others). settle must
// follow a claim of n > 0 slots.
func (p *Pool) reserve(q *poolQueue, want int) int {
	p.mu.Lock()
	q.waiting = true
	wake := p.assignLocked()
	n := min(q.granted, want)
	q.granted -= n
	q.held += n
	p.mu.Unlock()
	wakeAll(wake, q)
	return n
}

// settle ends a claim for reserved slots that started claimed jobs: the
// unused slots go back to the pool, and, when the claim came back short,
// q has no waiting work (its grants are handed on).
func (p *Pool) settle(q *poolQueue, reserved, claimed int) {
	p.mu.Lock()
	unused := reserved - claimed
	q.held -= unused
	p.free += unused
	if claimed < reserved {
		q.waiting = false
		p.free += q.granted
		q.granted = 0
	}
	wake := p.assignLocked()
	force := unused > 0
	if force {
		// A share handed on at once, not slot by slot as jobs end: worth
		// a claim whatever its size, or it could wait for a quarter that
		// the queue's running jobs may take long to make up.
		wake = wake[:0]
		for _, o := range p.queues {
			if o.granted > 0 {
				wake = append(wake, o)
			}
		}
	}
	p.mu.Unlock()
	for _, o := range wake {
		o.wake(force)
	}
}

// release frees the slot of one of q's jobs whose worker returned, and
// hands it on.
func (p *Pool) release(q *poolQueue) {
	p.mu.Lock()
	q.held--
	p.free++
	wake := p.assignLocked()
	p.mu.Unlock()
	wakeAll(wake, nil)
}

// ready reports whether q's grants, up to free (the producer's own free
// slots), are worth a claim now (see readyLocked).
func (p *Pool) ready(q *poolQueue, free int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyLocked(q, free)
}

// readyLocked reports whether q's grants, up to free, are worth a claim: a
// quarter of the slots q may expect while the queues with waiting work
// share the pool (all of them under strict order), at least one; or any
// grant when q runs nothing. Each claim is a write with a fixed cost, as in
// the producer's own rule. The caller holds p.mu.
func (p *Pool) readyLocked(q *poolQueue, free int) bool {
	n := min(q.granted, free)
	if n <= 0 {
		return false
	}
	if q.held == 0 {
		return true
	}
	share := p.size
	if !p.strict {
		total := 0
		for _, o := range p.queues {
			if o.waiting || o == q {
				total += o.weight
			}
		}
		share = (p.size*q.weight + total - 1) / total
	}
	return n >= max(min(share, q.cap)/4, 1)
}

// assignLocked hands every free slot, one at a time, to a queue with
// waiting work and room under its own cap, chosen by weight (see Pool), and
// returns the queues to wake. The caller holds p.mu.
func (p *Pool) assignLocked() []*poolQueue {
	for p.free > 0 {
		q := p.pickLocked()
		if q == nil {
			break
		}
		q.granted++
		p.free--
	}
	var wake []*poolQueue
	for _, q := range p.queues {
		if p.readyLocked(q, q.cap) {
			wake = append(wake, q)
		}
	}
	return wake
}

// pickLocked chooses the queue for one free slot among those with waiting
// work and room: by smooth weighted round robin, over all of them or, under
// strict order, over those of the highest weight. It returns nil when no
// queue qualifies. The caller holds p.mu.
func (p *Pool) pickLocked() *poolQueue {
	top := 0
	if p.strict {
		for _, q := range p.queues {
			if q.eligible() {
				top = max(top, q.weight)
			}
		}
	}
	var best *poolQueue
	var total int64
	for _, q := range p.queues {
		if !q.eligible() || q.weight < top {
			continue
		}
		q.current += int64(q.weight)
		total += int64(q.weight)
		if best == nil || q.current > best.current {
			best = q
		}
	}
	if best != nil {
		best.current -= total
	}
	return best
}

// eligible reports whether q may be handed a slot: it has waiting work
// and room under its own cap. The caller holds the pool's mu.
func (q *poolQueue) eligible() bool { return q.waiting && q.held+q.granted < q.cap }

// wakeAll wakes the producers of queues, except skip (whose producer is
// the caller, about to claim).
func wakeAll(queues []*poolQueue, skip *poolQueue) {
	for _, q := range queues {
		if q != skip {
			q.wake(false)
		}
	}
}
