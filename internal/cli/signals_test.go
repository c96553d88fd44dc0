package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childArgsEnv, set to a JSON array of arguments, makes the test binary
// run the kiln command with them instead of the tests (see TestMain), so
// that a test can run kiln as a process of its own and signal it.
const childArgsEnv = "KILN_CLI_TEST_CHILD_ARGS"

// runChild runs the kiln command with the JSON array of arguments args, as
// the kiln binary would, and returns its exit code.
func runChild(args string) int {
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", childArgsEnv, err)
		return exitError
	}
	return run(context.Background(), argv, os.Stdin, os.Stdout, os.Stderr, os.Getenv)
}

// TestServeStopsAsItSays runs `kiln serve` as a process, with SIGINT
// inherited as it is and as a shell script's background job inherits it
// (ignored), while a job runs that does not end, and checks that serve
// keeps its word: the signal it tells the user to send stops it
// gracefully, and a second one ends it at once (the shutdown timeout is an
// hour). With SIGINT ignored, Go's signal.Notify would take SIGINT back for
// the first signal and, once stopped, leave it ignored again: a second
// Ctrl+C did nothing although serve asked for one.
func TestServeStopsAsItSays(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("POSIX signals and /bin/sh")
	}
	t.Parallel()
	for _, tt := range []struct {
		name      string
		ignoreINT bool
		want      string // the way to stop that serve must name
	}{
		{"SIGINT default", false, "Ctrl+C"},
		{"SIGINT ignored", true, "SIGTERM"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := newDB(t)
			started := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case started <- struct{}{}:
				default:
				}
				<-r.Context().Done() // until serve is gone
			}))
			defer srv.Close()
			enqueueID(t, db, "http", "--args", fmt.Sprintf(`{"url":%q,"timeout_seconds":3600}`, srv.URL))

			args, _ := json.Marshal([]string{"serve", "--database", db, "--dashboard-addr", "off", "--shutdown-timeout", "1h"})
			script := `exec "$0"`
			if tt.ignoreINT {
				script = `trap '' INT; exec "$0"` // as sh does for `kiln serve &`
			}
			cmd := exec.Command("/bin/sh", "-c", script, os.Args[0])
			cmd.Env = append(os.Environ(), childArgsEnv+"="+string(args))
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr syncBuffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var waitErr error
			exited := make(chan struct{})
			lines := make(chan string, 100)
			go func() {
				defer close(exited)
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					lines <- sc.Text()
				}
				close(lines)
				waitErr = cmd.Wait()
			}()
			defer func() {
				cmd.Process.Kill() // if the test failed before it ended
				for range lines {
				}
				<-exited
			}()
			deadline := time.After(time.Minute)
			nextLine := func(prefix string) string {
				t.Helper()
				for {
					select {
					case line, ok := <-lines:
						if !ok {
							t.Fatalf("serve ended before printing %q\nstderr: %s", prefix, stderr.String())
						}
						if strings.HasPrefix(line, prefix) {
							return line
						}
					case <-deadline:
						t.Fatalf("serve did not print %q within a minute\nstderr: %s", prefix, stderr.String())
					}
				}
			}
			// signal sends the signal that line tells the user to send.
			signal := func(line string) {
				t.Helper()
				sig := syscall.SIGTERM
				if strings.Contains(line, "Ctrl+C") {
					sig = syscall.SIGINT
				}
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}

			line := nextLine("kiln serve: running")
			if !strings.Contains(line, tt.want) || (tt.want != "Ctrl+C" && strings.Contains(line, "Ctrl+C")) {
				t.Errorf("serve says %q; want it to tell to send %s, and only that", line, tt.want)
			}
			select {
			case <-started:
			case <-deadline:
				t.Fatalf("the job did not start within a minute\nstderr: %s", stderr.String())
			}
			signal(line)
			line = nextLine("Stopping")
			if !strings.Contains(line, tt.want+" again to quit at once") || (tt.want != "Ctrl+C" && strings.Contains(line, "Ctrl+C")) {
				t.Errorf("serve says %q; want it to tell to send %s again, and only that", line, tt.want)
			}
			signal(line)
			select {
			case <-exited:
				err := waitErr
				var ee *exec.ExitError
				if !errors.As(err, &ee) || !ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
					t.Errorf("serve ended with %v after the second signal, want killed by the signal\nstderr: %s", err, stderr.String())
				}
			case <-deadline:
				t.Fatalf("serve still runs a minute after the second signal it asked for (%q)\nstderr: %s", line, stderr.String())
			}
		})
	}
}
