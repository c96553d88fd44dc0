package cluster

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
)

// envLogs names the variable that, set to 1, prints the output of every
// process when its test ends, also when the test passed.
const envLogs = "KILN_TEST_CLUSTER_LOGS"

// process is one `kiln serve` child process. Its stdout and stderr go to
// files, printed when the test fails (or KILN_TEST_CLUSTER_LOGS=1).
type process struct {
	name           string // also its client ID (--id)
	cmd            *exec.Cmd
	stdout, stderr string // file paths
	done           chan struct{}
	err            error // cmd.Wait's, once done is closed
	killed         bool  // by the test, with sigkill
}

// startServe starts `kiln serve --database dbURL` named name, with extra
// arguments, and kills it (if it still runs) when t ends. It does not wait
// for the process to be ready: see waitReady.
func startServe(t *testing.T, name, dbURL string, extra ...string) *process {
	t.Helper()
	dir := t.TempDir()
	p := &process{
		name:   name,
		stdout: filepath.Join(dir, name+".stdout"),
		stderr: filepath.Join(dir, name+".stderr"),
		done:   make(chan struct{}),
	}
	args := append([]string{"serve", "--database", dbURL, "--id", name, "--log-level", "warn"}, extra...)
	p.cmd = exec.Command(kilnBinary(t), args...)
	p.cmd.Env = append(os.Environ(), "KILN_DATABASE_URL=")
	p.cmd.SysProcAttr = childAttr()
	var err error
	if p.cmd.Stdout, err = os.Create(p.stdout); err != nil {
		t.Fatal(err)
	}
	if p.cmd.Stderr, err = os.Create(p.stderr); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		defer close(p.done)
		p.err = p.cmd.Wait()
		p.cmd.Stdout.(*os.File).Close()
		p.cmd.Stderr.(*os.File).Close()
	}()
	t.Cleanup(func() {
		p.kill()
		<-p.done
		if t.Failed() || os.Getenv(envLogs) == "1" {
			t.Logf("%s (pid %d) %s; its stdout:\n%s\nits stderr:\n%s", name, p.cmd.Process.Pid, p.state(), tail(p.stdout), tail(p.stderr))
		}
	})
	return p
}

// sigkill kills the process with SIGKILL, as a crash or power loss
// would, and waits until it is gone.
func (p *process) sigkill(t *testing.T) {
	t.Helper()
	p.killed = true
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("SIGKILL %s: %v", p.name, err)
	}
	<-p.done
}

// kill SIGKILLs the process, if it still runs.
func (p *process) kill() {
	if !p.exited() {
		_ = p.cmd.Process.Kill() // it may have exited since
	}
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// state describes how the process ended, or that it runs.
func (p *process) state() string {
	if !p.exited() {
		return "is running"
	}
	return "ended: " + p.cmd.ProcessState.String()
}

// waitReady waits until the process says it runs.
func (p *process) waitReady(t *testing.T) {
	t.Helper()
	waitFor(t, 30*time.Second, p.name+" to start", func() (bool, error) {
		if p.exited() {
			t.Fatalf("%s %s before it was ready:\n%s", p.name, p.state(), tail(p.stderr))
		}
		out, err := os.ReadFile(p.stdout)
		return bytes.Contains(out, []byte("kiln serve: running kinds")), err
	})
}

// stop stops the process as Ctrl+C does and checks that it exits with
// status 0 within timeout.
func (p *process) stop(t *testing.T, timeout time.Duration) {
	t.Helper()
	if p.exited() {
		t.Errorf("%s %s before it was asked to stop", p.name, p.state())
		return
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM %s: %v", p.name, err)
		return
	}
	select {
	case <-p.done:
		if p.err != nil {
			t.Errorf("%s %s after SIGTERM, want exit status 0", p.name, p.state())
		}
	case <-time.After(timeout):
		t.Errorf("%s did not stop within %s of SIGTERM", p.name, timeout)
	}
}

// checkLogs reports a data race or a panic that the process wrote on its
// stderr.
func (p *process) checkLogs(t *testing.T) {
	t.Helper()
	for _, bad := range []string{"WARNING: DATA RACE", "panic:"} {
		if p.logged(bad) {
			t.Errorf("%s wrote %q on stderr", p.name, bad)
		}
	}
}

// logged reports whether the process wrote s on its stderr.
func (p *process) logged(s string) bool {
	out, _ := os.ReadFile(p.stderr)
	return bytes.Contains(out, []byte(s))
}

// tail returns the end of the file at path, at most 16 KiB of it.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	const most = 16 << 10
	if len(b) > most {
		return "[...]\n" + string(b[len(b)-most:])
	}
	return strings.TrimRight(string(b), "\n")
}

// waitFor polls cond every 20 ms until it reports true, and fails the
// test if that takes longer than timeout. An error from cond is
// remembered, shown if the wait fails, and does not stop the wait (the
// database may be restarting).
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var lastErr error
	testutil.Poll{Timeout: timeout, Interval: 20 * time.Millisecond}.EventuallyNil(t, what, func() error {
		ok, err := cond()
		if err != nil {
			lastErr = err
		}
		if err != nil || !ok {
			return fmt.Errorf("not yet (last error: %v)", lastErr)
		}
		return nil
	})
}
