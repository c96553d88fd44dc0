package cli

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
)

// dashboardURLLine finds the dashboard's URL in a command's output.
var dashboardURLLine = regexp.MustCompile(`(?:Dashboard:|in the dashboard:) (http://\S+/)`)

// startCommand runs kiln with args until ctx ends; it returns the
// command's output buffers and a channel that gets its exit code.
func startCommand(ctx context.Context, env kilnEnv, args ...string) (stdout, stderr *syncBuffer, code <-chan int) {
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	c := make(chan int, 1)
	go func() { c <- run(ctx, args, strings.NewReader(""), stdout, stderr, env.get) }()
	return stdout, stderr, c
}

// waitURL polls out for the dashboard's URL.
func waitURL(t *testing.T, out, errOut *syncBuffer, code <-chan int) string {
	t.Helper()
	var url string
	testutil.Poll{Interval: 20 * time.Millisecond}.EventuallyNil(t, "the dashboard's URL", func() error {
		select {
		case c := <-code:
			t.Fatalf("exited %d before printing the dashboard's URL\nstdout: %s\nstderr: %s", c, out, errOut)
		default:
		}
		m := dashboardURLLine.FindStringSubmatch(out.String())
		if m == nil {
			return fmt.Errorf("stdout: %s\nstderr: %s", out, errOut)
		}
		url = m[1]
		return nil
	})
	return url
}

// getPage fetches url and returns the status and body.
func getPage(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestServeDashboard checks that serve prints the dashboard's URL, serves
// it while it runs, and shuts it down when it stops.
func TestServeDashboard(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut, code := startCommand(ctx, nil, "serve", "--database", db, "--dashboard-addr", "127.0.0.1:0")
	url := waitURL(t, out, errOut, code)
	if status, body := getPage(t, url); status != http.StatusOK || !strings.Contains(body, "Overview") {
		t.Fatalf("GET %s: %d\n%s", url, status, body)
	}
	if status, body := getPage(t, url+"api/kinds"); status != http.StatusOK || !strings.Contains(body, "http") {
		t.Errorf("GET %sapi/kinds: %d\n%s", url, status, body)
	}
	if status, body := getPage(t, url+"metrics"); status != http.StatusOK || !strings.Contains(body, "kiln_") {
		t.Errorf("GET %smetrics: %d\n%s", url, status, body)
	}
	// The process registers itself in the background: poll.
	testutil.Poll{Interval: 20 * time.Millisecond}.EventuallyNil(t, "the servers page to list serve's process and its http kind", func() error {
		if status, body := getPage(t, url+"servers"); status != http.StatusOK || !strings.Contains(body, "<code>http</code>") {
			return fmt.Errorf("%d\n%s", status, body)
		}
		return nil
	})
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("serve: exit %d\n%s", c, errOut)
	}
	if _, err := http.Get(url); err == nil {
		t.Error("the dashboard still answers after serve stopped")
	}
}

// TestServeDashboardOffAndBusy checks --dashboard-addr off, a busy
// address given explicitly (an error), and --dashboard-user without its
// password (a usage error).
func TestServeDashboardOffAndBusy(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	out, errOut, code := startCommand(ctx, nil, "serve", "--database", db, "--dashboard-addr", "off")
	testutil.Poll{Interval: 20 * time.Millisecond}.Eventually(t, "kiln serve to run", func() bool {
		return strings.Contains(out.String(), "kiln serve: running")
	})
	cancel()
	if c := <-code; c != exitOK || strings.Contains(out.String(), "Dashboard:") {
		t.Errorf("serve --dashboard-addr off: exit %d, output:\n%s\n%s", c, out, errOut)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	r := runKiln(t, "serve", "--database", db, "--dashboard-addr", busy.Addr().String())
	wantFail(t, r, exitError, "--dashboard-addr "+busy.Addr().String())

	r = runKiln(t, "serve", "--database", db, "--dashboard-addr", "127.0.0.1:0", "--dashboard-user", "ops")
	wantFail(t, r, exitUsage, "KILN_DASHBOARD_PASSWORD")
}

// TestServeDashboardAuth checks that basic auth from the environment
// guards the dashboard.
func TestServeDashboardAuth(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := kilnEnv{envDashboardPassword: "pw"}
	out, errOut, code := startCommand(ctx, env, "serve", "--database", db, "--dashboard-addr", "127.0.0.1:0", "--dashboard-user", "ops")
	url := waitURL(t, out, errOut, code)
	if status, _ := getPage(t, url); status != http.StatusUnauthorized {
		t.Errorf("without credentials: %d; want 401", status)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("ops", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with credentials: %d; want 200", resp.StatusCode)
	}
	cancel()
	<-code
}

// TestDemoPrintsDashboard checks that the demo prints the dashboard's URL
// and that the dashboard shows the demo's jobs.
func TestDemoPrintsDashboard(t *testing.T) {
	t.Parallel()
	db := t.TempDir() + "/demo.db"
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut, code := startCommand(ctx, nil, "demo", "--for", "20s", "--database", db, "--dashboard-addr", "127.0.0.1:0")
	url := waitURL(t, out, errOut, code)
	testutil.Poll{Interval: 50 * time.Millisecond}.EventuallyNil(t, "a demo job on the dashboard's jobs page", func() error {
		if _, body := getPage(t, url+"jobs"); !strings.Contains(body, "demo.write_file") {
			return fmt.Errorf("page:\n%s", body)
		}
		return nil
	})
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("demo: exit %d\n%s", c, errOut)
	}
}

// getHost fetches url with the Host header host (url's host:port when
// empty) and returns the status.
func getHost(t *testing.T, url, host string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestServeDashboardAllowedHost checks that without authentication serve's
// dashboard answers only to loopback names and --dashboard-allowed-host
// (DNS rebinding), and that a loopback address gets no warning.
func TestServeDashboardAllowedHost(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut, code := startCommand(ctx, nil, "serve", "--database", db, "--dashboard-addr", "127.0.0.1:0",
		"--dashboard-allowed-host", "kiln.test", "--dashboard-allowed-host", "ops.test")
	url := waitURL(t, out, errOut, code)
	port := url[strings.LastIndex(url, ":")+1 : len(url)-1]
	for host, want := range map[string]int{
		"": 200, "localhost:" + port: 200, "kiln.test:" + port: 200, "ops.test": 200,
		"evil.example:" + port: 403, "kiln.test.evil.example:" + port: 403,
	} {
		if got := getHost(t, url+"api/jobs", host); got != want {
			t.Errorf("GET %sapi/jobs with Host %q: %d; want %d", url, host, got, want)
		}
	}
	if strings.Contains(errOut.String(), "Warning") {
		t.Errorf("a loopback address got a warning:\n%s", errOut)
	}
	cancel()
	if c := <-code; c != exitOK {
		t.Fatalf("serve: exit %d\n%s", c, errOut)
	}
}

// TestServeDashboardRemoteAddrWarns checks that serving the dashboard on an
// address other hosts can reach, without authentication, warns at start
// and names the flags that let them in; with authentication it does not.
func TestServeDashboardRemoteAddrWarns(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	for _, tc := range []struct {
		env  kilnEnv
		warn bool
	}{{nil, true}, {kilnEnv{envDashboardToken: "t0k"}, false}} {
		ctx, cancel := context.WithCancel(context.Background())
		out, errOut, code := startCommand(ctx, tc.env, "serve", "--database", db, "--dashboard-addr", "0.0.0.0:0")
		waitURL(t, out, errOut, code)
		cancel()
		if c := <-code; c != exitOK {
			t.Fatalf("serve: exit %d\n%s", c, errOut)
		}
		stderr := errOut.String()
		warned := strings.Contains(stderr, "Warning: the dashboard listens on 0.0.0.0:")
		if warned != tc.warn {
			t.Errorf("token %q: warned %v, want %v; stderr:\n%s", tc.env[envDashboardToken], warned, tc.warn, stderr)
		}
		if tc.warn && (!strings.Contains(stderr, "--dashboard-user") || !strings.Contains(stderr, "$KILN_DASHBOARD_PASSWORD") || !strings.Contains(stderr, "$KILN_DASHBOARD_TOKEN")) {
			t.Errorf("the warning does not name the flags that let other hosts in:\n%s", stderr)
		}
	}
}
