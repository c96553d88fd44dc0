package dashboard

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeNow is a hand-moved clock for the limiter.
type fakeNow struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeNow) now() time.Time           { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeNow) add(d time.Duration)      { c.mu.Lock(); defer c.mu.Unlock(); c.t = c.t.Add(d) }
func newFakeNow() *fakeNow                  { return &fakeNow{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }
func fail(l *authLimiter, addr string) bool { return tryAs(l, addr, false) }

// tryAs makes one try from addr, right or wrong, and reports whether it
// was let through to the check.
func tryAs(l *authLimiter, addr string, right bool) bool {
	done, _, ok := l.try(addr)
	if ok {
		done(right)
	}
	return ok
}

// TestAuthLimiterRefills checks the burst, the refill and the wait the
// limiter reports, on its clock.
func TestAuthLimiterRefills(t *testing.T) {
	clock := newFakeNow()
	l := newAuthLimiter(clock.now, 3, 10*time.Second, 100)
	for i := range 3 {
		if !fail(l, "192.0.2.1:1000") {
			t.Fatalf("failure %d refused; want 3 at once", i+1)
		}
	}
	if _, wait, ok := l.try("192.0.2.1:2000"); ok || wait.Round(time.Millisecond) != 10*time.Second {
		t.Fatalf("4th try: ok %v, wait %s; want refused for 10s (ports do not matter)", ok, wait)
	}
	clock.add(4 * time.Second)
	if _, wait, ok := l.try("192.0.2.1:1000"); ok || wait.Round(time.Millisecond) != 6*time.Second {
		t.Fatalf("after 4s: ok %v, wait %s; want refused for 6s", ok, wait)
	}
	clock.add(6 * time.Second)
	if !fail(l, "192.0.2.1:1000") || fail(l, "192.0.2.1:1000") {
		t.Fatal("after 10s: want one more try, then none")
	}
	// One IPv6 host's /64 is one client; the next /64 is another.
	for range 3 {
		fail(l, "[2001:db8:0:1::1]:1")
	}
	if fail(l, "[2001:db8:0:1:ffff::2]:1") {
		t.Error("another address of the same /64 was let through")
	}
	if !fail(l, "[2001:db8:0:2::1]:1") {
		t.Error("another /64 was held back")
	}
}

// TestAuthLimiterBounded checks that a flood of failing addresses cannot
// grow the limiter past its bound: past it they share one limit, and
// buckets that refilled make room again. Clients that log in right take
// no room.
func TestAuthLimiterBounded(t *testing.T) {
	clock := newFakeNow()
	l := newAuthLimiter(clock.now, 2, 10*time.Second, 100)
	for i := range 100 {
		if !tryAs(l, fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), true) {
			t.Fatal("a right login was refused")
		}
	}
	if n := len(l.clients); n != 0 {
		t.Fatalf("right logins left %d buckets; want 0", n)
	}
	for i := range 10_000 {
		fail(l, fmt.Sprintf("10.1.%d.%d:1", i/256, i%256))
	}
	if n := len(l.clients); n != 100 {
		t.Fatalf("%d buckets after 10000 failing addresses; want the bound, 100", n)
	}
	// The overflow bucket is spent: a new address is held back.
	if fail(l, "10.2.0.1:1") {
		t.Error("a new address past the bound was let through with the overflow spent")
	}
	// Once the buckets refilled, a sweep frees them for new clients.
	clock.add(20 * time.Second)
	if !fail(l, "10.2.0.2:1") {
		t.Error("a new address after the buckets refilled was held back")
	}
	if n := len(l.clients); n != 1 {
		t.Errorf("%d buckets after the sweep; want 1", n)
	}
}
