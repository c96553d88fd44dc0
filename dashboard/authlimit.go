package dashboard

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// The limits on wrong credentials (Options.BasicAuth, Options.BearerToken),
// per client address: authFailureBurst failures at once, then one per
// authFailureEvery. Past them, every request of that client that carries
// credentials, right or wrong, gets 429 with Retry-After until it may try
// again: a right password must not be told apart from a wrong one while
// the client is limited. authLimiterMaxClients bounds the clients
// remembered: once that many have failed recently, new ones share one
// limit.
const (
	authFailureBurst      = 10
	authFailureEvery      = 10 * time.Second
	authLimiterMaxClients = 10_000
)

// authLimiter limits the wrong credentials a client may present: a token
// bucket (golang.org/x/time/rate) per client address, an IPv4 address or
// an IPv6 /64 (what one host usually holds). A try takes a token before
// the credentials are checked and gives it back when they were right, so
// that concurrent tries cannot pass the limit together. It keeps at most
// max buckets, of clients whose bucket is not full; when that many are, the
// others share the overflow bucket. It is safe for concurrent use.
type authLimiter struct {
	now   func() time.Time
	every time.Duration
	burst int
	max   int

	mu       sync.Mutex // guards clients, overflow and swept
	clients  map[netip.Prefix]*rate.Limiter
	overflow *rate.Limiter
	swept    time.Time // when clients was last swept of full buckets
}

// newAuthLimiter returns a limiter of burst failures at once, then one per
// every, per client, remembering at most max clients; now is its clock.
func newAuthLimiter(now func() time.Time, burst int, every time.Duration, max int) *authLimiter {
	return &authLimiter{
		now: now, every: every, burst: burst, max: max,
		clients:  make(map[netip.Prefix]*rate.Limiter),
		overflow: rate.NewLimiter(rate.Every(every), burst),
	}
}

// try takes a failure token for the client at remoteAddr (a request's
// RemoteAddr, "ip:port"), before its credentials are checked. When the
// client is over its limit, ok is false and wait is the time until it may
// try again. Otherwise the caller must call done with whether the
// credentials were right: right gives the token back.
func (l *authLimiter) try(remoteAddr string) (done func(right bool), wait time.Duration, ok bool) {
	now := l.now()
	key := clientKey(remoteAddr)
	lim := l.bucket(key, now)
	res := lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return nil, d, false
	}
	return func(right bool) {
		if !right {
			return
		}
		// At the reservation's own time: CancelAt gives nothing back
		// for a time after it.
		res.CancelAt(now)
		l.forgetIfFull(key, lim, now)
	}, 0, true
}

// bucket returns the client's bucket, creating it if there is room.
func (l *authLimiter) bucket(key netip.Prefix, now time.Time) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.clients[key]; ok {
		return lim
	}
	if len(l.clients) >= l.max && now.Sub(l.swept) >= l.every {
		// A full bucket holds nothing a new one would not: drop them.
		// At most once per refill interval, so that a flood of new
		// addresses cannot make every request walk the map.
		l.swept = now
		for k, lim := range l.clients {
			if lim.TokensAt(now) >= float64(l.burst) {
				delete(l.clients, k)
			}
		}
	}
	if len(l.clients) >= l.max {
		return l.overflow
	}
	lim := rate.NewLimiter(rate.Every(l.every), l.burst)
	l.clients[key] = lim
	return lim
}

// forgetIfFull drops the client's bucket when it is full again (the client
// has no recent failure): clients that log in right take no room.
func (l *authLimiter) forgetIfFull(key netip.Prefix, lim *rate.Limiter, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients[key] == lim && lim.TokensAt(now) >= float64(l.burst) {
		delete(l.clients, key)
	}
}

// clientKey returns the address block a request's RemoteAddr counts for:
// the IPv4 address, or the IPv6 /64. An unparsable address gets the zero
// prefix, which all such clients share.
func clientKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return netip.Prefix{}
	}
	return p
}
