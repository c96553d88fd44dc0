package producer

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/kilntype"
)

// testQueue joins a queue to pool with a wake that counts.
func testQueue(p *Pool, name string, weight, capacity int) (*poolQueue, *atomic.Int32) {
	var wakes atomic.Int32
	return p.join(name, weight, capacity, func(bool) { wakes.Add(1) }), &wakes
}

// The pool alone: free slots go to the queues with waiting work by smooth
// weighted round robin, evenly spread (6/3/1: every 10 slots hold exactly
// 6, 3 and 1, and the weight-1 queue's comes in the middle); a queue whose
// claim comes back short gives its grants back to the others.
func TestPoolGrantsByWeight(t *testing.T) {
	p := NewPool(10, false)
	a, _ := testQueue(p, "a", 6, 10)
	b, _ := testQueue(p, "b", 3, 10)
	c, wakeC := testQueue(p, "c", 1, 10)
	// The first reserve hands out the whole pool: every queue is assumed
	// to have waiting work until a claim says otherwise.
	if n := p.reserve(a, 10); n != 6 {
		t.Fatalf("a reserved %d of 10 slots, want its share, 6", n)
	}
	if b.granted != 3 || c.granted != 1 || wakeC.Load() != 1 {
		t.Fatalf("grants b %d, c %d (c woken %d times); want 3 and 1, c woken once", b.granted, c.granted, wakeC.Load())
	}
	if n := p.reserve(b, 10); n != 3 {
		t.Fatalf("b reserved %d, want 3", n)
	}
	if n := p.reserve(c, 10); n != 1 {
		t.Fatalf("c reserved %d, want 1", n)
	}
	p.settle(a, 6, 6)
	p.settle(b, 3, 3)
	p.settle(c, 1, 1)
	// Twenty jobs end one by one: the freed slots go 6/3/1 in every ten.
	counts := map[string]int{}
	for i := range 20 {
		ended := a
		if a.held == 0 {
			ended = b
		}
		p.release(ended)
		for _, q := range []*poolQueue{a, b, c} {
			if q.granted > 0 {
				counts[q.name]++
				p.settle(q, p.reserve(q, 10), 1)
			}
		}
		if i%10 == 9 && (counts["a"] != 6*(i+1)/10 || counts["b"] != 3*(i+1)/10 || counts["c"] != (i+1)/10) {
			t.Fatalf("%d freed slots went %v, want 6/3/1 in every ten", i+1, counts)
		}
	}
	// c's next claim comes back empty: it has no waiting work, and its
	// grants go to the others.
	for c.granted == 0 {
		p.release(c)
		for _, q := range []*poolQueue{a, b} {
			n := p.reserve(q, 10)
			p.settle(q, n, n)
		}
	}
	p.release(a)
	p.settle(c, p.reserve(c, 10), 0)
	if c.waiting || c.granted != 0 || p.free != 0 {
		t.Fatalf("after c's short claim: waiting %v, granted %d, pool free %d; want false, 0, 0", c.waiting, c.granted, p.free)
	}
	if held := a.held + b.held + c.held + a.granted + b.granted; held != 10 {
		t.Fatalf("%d slots held or granted, want the whole pool, 10", held)
	}
}

// Under strict order the highest weight with waiting work takes every
// slot; a lower queue gets slots once the higher ones have none, and a
// queue at its own cap lets the next one have the rest.
func TestPoolStrictOrder(t *testing.T) {
	p := NewPool(4, true)
	hi, _ := testQueue(p, "hi", 3, 4)
	mid, _ := testQueue(p, "mid", 2, 1)
	lo, _ := testQueue(p, "lo", 1, 4)
	if n := p.reserve(lo, 4); n != 0 {
		t.Fatalf("lo reserved %d while hi has waiting work, want 0", n)
	}
	if hi.granted != 4 {
		t.Fatalf("hi granted %d, want the whole pool", hi.granted)
	}
	p.settle(hi, p.reserve(hi, 4), 2) // hi's claim comes back short
	if hi.waiting || mid.granted != 1 || lo.granted != 1 {
		t.Fatalf("after hi's short claim: hi waiting %v, mid granted %d (its cap is 1), lo %d; want false, 1, 1",
			hi.waiting, mid.granted, lo.granted)
	}
	p.settle(mid, p.reserve(mid, 1), 0)
	if lo.granted != 2 {
		t.Fatalf("lo granted %d once mid has no work, want 2", lo.granted)
	}
}

// poolRig is a set of producers sharing one pool, each queue with its own
// fake store (the fake store does not filter by queue).
type poolRig struct {
	pool *Pool
	hs   map[string]*harness
}

// newPoolRig makes a producer for each queue of weights, sharing a pool of
// size slots, with due[queue] jobs; a queue's own cap is caps[queue], or
// size.
func newPoolRig(t *testing.T, size int, strict bool, weights, due, caps map[string]int) *poolRig {
	t.Helper()
	r := &poolRig{pool: NewPool(size, strict), hs: map[string]*harness{}}
	for name, w := range weights {
		h := newHarness(t, func(c *Config) {
			c.Queue, c.MaxWorkers, c.Pool, c.Weight = name, cmp.Or(caps[name], size), r.pool, w
		})
		h.st.AddJobs(jobs("k", span(1, int64(due[name]))...)...)
		r.hs[name] = h
	}
	return r
}

func (r *poolRig) start(t *testing.T) {
	for _, h := range r.hs {
		h.start(t)
	}
}

func (r *poolRig) started() map[string]int {
	out := map[string]int{}
	for name, h := range r.hs {
		out[name] = len(h.startedIDs())
	}
	return out
}

func (r *poolRig) totalStarted() int {
	n := 0
	for _, v := range r.started() {
		n += v
	}
	return n
}

// Under saturation (every queue with more jobs than the pool runs), the
// starts of queues of weights 6/3/1 sharing a pool of 10 are 60/30/10%
// within 2 points, whatever order the jobs end in (random here, a few at a
// time), and the pool stays full.
func TestWeightedSharesUnderSaturation(t *testing.T) {
	const size = 10
	r := newPoolRig(t, size, false, map[string]int{"a": 6, "b": 3, "c": 1},
		map[string]int{"a": 3000, "b": 3000, "c": 3000}, nil)
	r.start(t)
	want := size
	enginetest.Eventually(t, "a full pool", func() bool { return r.totalStarted() == want })
	base := r.started()
	released := map[string]int{} // jobs released per queue: IDs 1..n, as they were claimed in order
	rng := rand.New(rand.NewPCG(13, 4))
	for range 250 {
		// The running jobs: started and not released, per queue.
		var running []string
		for name, n := range r.started() {
			for range n - released[name] {
				running = append(running, name)
			}
		}
		if len(running) != size {
			t.Fatalf("%d jobs running, want the whole pool, %d", len(running), size)
		}
		slices.Sort(running)
		rng.Shuffle(len(running), func(i, j int) { running[i], running[j] = running[j], running[i] })
		k := 1 + rng.IntN(size)
		for _, name := range running[:k] {
			released[name]++
			r.hs[name].release(int64(released[name]))
		}
		want += k
		enginetest.Eventually(t, fmt.Sprintf("%d starts", want), func() bool { return r.totalStarted() == want })
	}
	got := r.started()
	total := want - size
	for name, w := range map[string]int{"a": 6, "b": 3, "c": 1} {
		share := float64(got[name]-base[name]) / float64(total)
		if expect := float64(w) / 10; share < expect-0.02 || share > expect+0.02 {
			t.Errorf("queue %s (weight %d): %.1f%% of %d starts, want %.0f%% ± 2", name, w, 100*share, total, 100*expect)
		}
		t.Logf("queue %s (weight %d): %.1f%% of %d starts", name, w, 100*share, total)
	}
}

// A queue alone with work uses the whole pool (the others lend their
// shares), and a queue that gets work later gets its share of the slots
// that free up.
func TestLoneQueueUsesTheWholePool(t *testing.T) {
	r := newPoolRig(t, 10, false, map[string]int{"a": 1, "b": 3, "c": 6}, map[string]int{"a": 100}, nil)
	r.start(t)
	a, c := r.hs["a"], r.hs["c"]
	a.waitStarted(t, 10)
	// b and c each claimed once, found nothing and gave their grants back.
	for _, name := range []string{"b", "c"} {
		r.hs[name].st.WaitCalls(t, enginetest.JobClaim, 1)
	}
	if got := r.started(); got["b"]+got["c"] != 0 {
		t.Fatalf("started %v", got)
	}
	// c gets jobs (an enqueue in this process wakes it): the pool is full,
	// so it waits for slots, and is handed about 6 of the next 7 (its
	// round-robin value carries over from the first hand-out, so 5 to 7).
	c.st.AddJobs(jobs("k", span(1, 20)...)...)
	c.p.Wake()
	enginetest.Eventually(t, "c waiting for slots", func() bool {
		r.pool.mu.Lock()
		defer r.pool.mu.Unlock()
		return c.p.share.waiting
	})
	a.release(span(1, 7)...)
	var gotA, gotC int
	enginetest.Eventually(t, "the 7 freed slots handed out", func() bool {
		r.pool.mu.Lock()
		defer r.pool.mu.Unlock()
		qa, qc := a.p.share, c.p.share
		gotA, gotC = qa.held+qa.granted-3, qc.held+qc.granted
		// a holds its 3 jobs left and those it started since: then all
		// 7 slots are freed, and no claim of a's is under way.
		return qa.held-(len(a.startedIDs())-10) == 3 && r.pool.free == 0
	})
	if gotC < 5 {
		t.Fatalf("of 7 freed slots, a was handed %d and c %d; want about 1 and 6", gotA, gotC)
	}
	// c had nothing running: its first grant was worth a claim.
	enginetest.Eventually(t, "a start in c", func() bool { return len(c.startedIDs()) > 0 })
}

// A queue at its own MaxWorkers lets the others have the rest of the pool,
// whatever their weights.
func TestQueueCapLendsTheRest(t *testing.T) {
	r := newPoolRig(t, 10, false, map[string]int{"big": 9, "small": 1}, map[string]int{"big": 50, "small": 50},
		map[string]int{"big": 3})
	r.start(t)
	enginetest.Eventually(t, "a full pool", func() bool { return r.totalStarted() == 10 })
	if got := r.started(); got["big"] != 3 || got["small"] != 7 {
		t.Fatalf("started %v, want big 3 (its cap), small 7", got)
	}
}

// Strict order: the lower queue starts nothing while the higher one has
// due jobs (checked as each of its jobs starts), and takes the whole pool
// once it has none; the empty middle queue gives back what it is handed.
func TestStrictPriorityOrder(t *testing.T) {
	r := newPoolRig(t, 4, true, map[string]int{"hi": 3, "mid": 2, "lo": 1}, map[string]int{"hi": 12, "lo": 12}, nil)
	hi, lo := r.hs["hi"], r.hs["lo"]
	var early atomic.Int32 // lo's starts while hi had due jobs
	onStart := lo.p.cfg.OnStart
	lo.p.cfg.OnStart = func(row *kilntype.JobRow) {
		if hi.st.Due() > 0 {
			early.Add(1)
		}
		onStart(row)
	}
	r.start(t)
	for id := int64(1); id <= 12; id++ {
		hi.waitStarted(t, int(min(id+3, 12)))
		hi.release(id)
	}
	hi.waitFinished(t, 12)
	lo.waitStarted(t, 4) // the whole pool
	if got := len(lo.startedIDs()); got != 4 {
		t.Fatalf("lo started %d, want 4", got)
	}
	lo.release(span(1, 12)...)
	lo.waitFinished(t, 12)
	if n := early.Load(); n != 0 {
		t.Fatalf("lo started %d jobs while hi had due jobs", n)
	}
	if got := r.started()["mid"]; got != 0 {
		t.Fatalf("mid started %d jobs with none due", got)
	}
}
