package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// testLimits are short dashboard limits, for tests of what they cut.
var testLimits = dashboardLimits{
	ReadHeader:     200 * time.Millisecond,
	Read:           300 * time.Millisecond,
	Idle:           300 * time.Millisecond,
	MaxHeaderBytes: 4 << 10,
}

// serveLimited serves h with newDashboardHTTPServer and limits on a
// loopback port until the test ends, and returns the address.
func serveLimited(t *testing.T, h http.Handler, limits dashboardLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newDashboardHTTPServer(h, slog.New(slog.DiscardHandler), limits)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// waitClosed reads conn until the server closes it, and fails the test if
// that takes more than 10 s (the limits under test are well below a
// second). It returns what was read.
func waitClosed(t *testing.T, conn net.Conn, what string) string {
	t.Helper()
	if err := conn.SetReadDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(conn)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s: the server still holds the connection after 10 s (read so far: %q)", what, got)
	}
	return string(got)
}

// TestDashboardServerCutsSlowClients checks kiln serve's HTTP server
// against the slow-client attacks: headers sent slowly, a body sent
// slowly, a kept-alive connection left idle, and huge headers.
func TestDashboardServerCutsSlowClients(t *testing.T) {
	t.Parallel()
	addr := serveLimited(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return // a body that did not arrive in time
		}
		fmt.Fprint(w, "ok")
	}), testLimits)
	dial := func() net.Conn {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}

	t.Run("SlowHeaders", func(t *testing.T) {
		t.Parallel()
		conn := dial()
		fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
		if got := waitClosed(t, conn, "headers never finished"); strings.Contains(got, " 200 ") {
			t.Errorf("answered 200 to unfinished headers: %q", got)
		}
	})
	t.Run("SlowBody", func(t *testing.T) {
		t.Parallel()
		conn := dial()
		fmt.Fprint(conn, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nten bytes.")
		if got := waitClosed(t, conn, "a body 990 bytes short"); strings.Contains(got, "ok") {
			t.Errorf("the handler got the whole body: %q", got)
		}
	})
	t.Run("IdleKeepAlive", func(t *testing.T) {
		t.Parallel()
		conn := dial()
		fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("first request: %d, close %v; want 200 on a kept-alive connection", resp.StatusCode, resp.Close)
		}
		waitClosed(t, conn, "an idle kept-alive connection")
	})
	t.Run("HugeHeaders", func(t *testing.T) {
		t.Parallel()
		conn := dial()
		fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", 64<<10))
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("64 KiB of headers over a 4 KiB limit: %d; want 431", resp.StatusCode)
		}
	})
}

// TestDashboardServerLetsHandlersRun checks that the limits cut slow
// clients, not slow answers: a handler that runs three times the read
// limit after its request arrived, with and without a body, is neither
// cancelled nor cut off (as a WriteTimeout or a handler timeout would).
func TestDashboardServerLetsHandlersRun(t *testing.T) {
	t.Parallel()
	addr := serveLimited(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		// Run past the read limit: this wait is the behaviour under
		// test, not synchronisation.
		select {
		case <-time.After(3 * testLimits.Read):
			fmt.Fprintf(w, "done %s", body)
		case <-r.Context().Done():
			// The client sees the connection end without an answer.
		}
	}), testLimits)
	for _, tc := range []struct{ method, body string }{{http.MethodGet, ""}, {http.MethodPost, "body"}} {
		req, err := http.NewRequest(tc.method, "http://"+addr+"/", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s running past the read limit: %v (the handler's context was cancelled)", tc.method, err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "done " + tc.body; err != nil || string(got) != want {
			t.Errorf("%s: %d %q, %v; want %q", tc.method, resp.StatusCode, got, err, want)
		}
	}
}

// TestServeDashboardServerLimits checks that the dashboard server of kiln
// serve and kiln demo (startDashboard) has the default limits and no
// write timeout.
func TestServeDashboardServerLimits(t *testing.T) {
	t.Parallel()
	st, err := openDatabase(context.Background(), newDB(t), mustExist)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	client, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	d, err := startDashboard(&dashboardFlags{addr: "127.0.0.1:0"}, true, client, kilnEnv{}.get, logger, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Shutdown()
	s, want := d.srv, defaultDashboardLimits
	if s.ReadHeaderTimeout != want.ReadHeader || s.ReadTimeout != want.Read || s.IdleTimeout != want.Idle || s.MaxHeaderBytes != want.MaxHeaderBytes {
		t.Errorf("server limits: header %s, read %s, idle %s, max header bytes %d; want %+v",
			s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout, s.MaxHeaderBytes, want)
	}
	if s.WriteTimeout != 0 {
		t.Errorf("WriteTimeout %s would cut long responses", s.WriteTimeout)
	}
}
