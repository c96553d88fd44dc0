package cluster

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxy forwards TCP connections from a local port to PostgreSQL. Cut
// closes every connection it forwards and, until Resume, closes the new
// ones at once: a server restart as its clients see it (connections lost,
// new ones failing), without touching the server that other tests share.
type proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every connection's pipes

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{} // both ends of every forwarded connection

	// refused counts the connections closed at once because of a Cut.
	refused atomic.Int64
}

// startProxy starts a proxy to target (host:port) on a free port of
// 127.0.0.1, stopped when t ends.
func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{target: target, ln: ln, conns: make(map[net.Conn]struct{})}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		p.wg.Wait()
	})
	return p
}

// Addr returns the proxy's host:port.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every forwarded connection, and makes the proxy close new
// ones at once until Resume.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
}

// Resume makes the proxy forward new connections again.
func (p *proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // the listener was closed
		}
		p.wg.Add(1)
		go p.forward(client)
	}
}

// forward connects client to the target and copies both ways until
// either side closes, or Cut closes them.
func (p *proxy) forward(client net.Conn) {
	defer p.wg.Done()
	defer client.Close()
	if p.isCut() {
		p.refused.Add(1)
		return
	}
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	defer server.Close()
	if !p.track(client, server) {
		p.refused.Add(1)
		return
	}
	defer p.untrack(client, server)
	var pipes sync.WaitGroup
	pipes.Add(2)
	pipe := func(dst, src net.Conn) {
		defer pipes.Done()
		_, _ = io.Copy(dst, src) // ends when either side is closed
		dst.Close()
		src.Close()
	}
	go pipe(server, client)
	go pipe(client, server)
	pipes.Wait()
}

func (p *proxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

// track records the ends of a connection so that Cut can close them, and
// reports false (recording nothing) if the proxy is cut.
func (p *proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}
