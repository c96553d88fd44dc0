package producer

import "sync"

// KindLimiter caps how many jobs of a kind run at once in this process,
// across all queues (Rystem's WithMaxParallelism). A nil *KindLimiter limits
// nothing. It is safe for concurrent use.
type KindLimiter struct {
	mu      sync.Mutex     // guards running
	limits  map[string]int // kind -> most jobs at once; read-only
	running map[string]int // kind -> jobs running or reserved by a claim
}

// NewKindLimiter returns a limiter for the given limits, or nil if there are
// none.
func NewKindLimiter(limits map[string]int) *KindLimiter {
	if len(limits) == 0 {
		return nil
	}
	return &KindLimiter{limits: limits, running: make(map[string]int, len(limits))}
}

// Reserve takes every free slot of every limited kind for one claim and
// returns them, to pass as the claim's KindLimits. Settle must follow.
func (l *KindLimiter) Reserve() map[string]int {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	free := make(map[string]int, len(l.limits))
	for kind, limit := range l.limits {
		n := max(limit-l.running[kind], 0)
		free[kind] = n
		l.running[kind] += n
	}
	return free
}

// Settle gives back the reserved slots the claim did not use.
func (l *KindLimiter) Settle(reserved, claimed map[string]int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for kind, n := range reserved {
		l.running[kind] -= n - claimed[kind]
	}
}

// limitsOf returns the limits by kind (nil for a nil limiter); read-only.
func (l *KindLimiter) limitsOf() map[string]int {
	if l == nil {
		return nil
	}
	return l.limits
}

// Release frees the slot of one finished job of kind.
func (l *KindLimiter) Release(kind string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.limits[kind]; ok {
		l.running[kind]--
	}
}
