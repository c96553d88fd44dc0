package cluster

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// TestServeStartErrors checks that `kiln serve` on a database it cannot
// use exits at once with status 1 and an error that says what is wrong and,
// when the schema is missing, the command that creates it.
func TestServeStartErrors(t *testing.T) {
	dbURL := pgtest.URL(t)
	kilnBinary(t)
	schema := pgtest.Schema(t) // never migrated
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	withSchema := *u
	q := withSchema.Query()
	q.Set("kiln_schema", schema)
	withSchema.RawQuery = q.Encode()
	noDatabase := *u
	noDatabase.Path = "/kiln_no_such_database"
	hung := *u
	hung.Host = hungServer(t)

	for _, tc := range []struct {
		name, database string
		want           []string
		within         time.Duration
	}{
		{"MissingSchema", withSchema.String(),
			[]string{"has no Kiln schema", "run `kiln migrate --database ", "kiln_schema=" + schema}, 10 * time.Second},
		{"NoSuchDatabase", noDatabase.String(),
			[]string{`database "kiln_no_such_database" does not exist`}, 10 * time.Second},
		{"ServerNeverAnswers", hung.String(),
			[]string{"cannot connect", "timeout"}, postgres.DefaultConnectTimeout + 10*time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			begin := time.Now()
			code, stderr := runKiln(t, tc.within, "serve", "--dashboard-addr", "off", "--database", tc.database)
			if code != 1 {
				t.Errorf("exit status %d, want 1; stderr:\n%s", code, stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			t.Logf("failed in %s: %s", time.Since(begin).Round(time.Millisecond), strings.TrimSpace(stderr))
		})
	}
}

// runKiln runs the kiln binary with args and returns its exit status and
// stderr; it fails the test if the command runs longer than within.
func runKiln(t *testing.T, within time.Duration, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	cmd := exec.CommandContext(ctx, kilnBinary(t), args...)
	cmd.Env = append(cmd.Environ(), "KILN_DATABASE_URL=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("kiln %s still ran after %s; stderr:\n%s", strings.Join(args, " "), within, stderr.String())
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// hungServer returns the address of a TCP server that accepts connections
// and never answers, as a hung server (or one that is not PostgreSQL) does.
// It closes them when t ends.
func hungServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}
