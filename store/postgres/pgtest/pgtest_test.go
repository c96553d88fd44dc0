package pgtest

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// nopCloser is a terminal that records what was written to it.
type nopCloser struct{ *bytes.Buffer }

func (nopCloser) Close() error { return nil }

// fakeM runs run as its tests.
type fakeM struct{ run func() int }

func (f fakeM) Run() int { return f.run() }

// replaceOutputs points report at buffers for the test: out for standard
// output (not a terminal) and tty for the terminal.
func replaceOutputs(t *testing.T) (out, tty *bytes.Buffer) {
	out, tty = new(bytes.Buffer), new(bytes.Buffer)
	oldStdout, oldIsTerm, oldOpen := stdout, stdoutIsTerminal, openTerminal
	stdout = out
	stdoutIsTerminal = func() bool { return false }
	openTerminal = func() (io.WriteCloser, error) { return nopCloser{tty}, nil }
	t.Cleanup(func() { stdout, stdoutIsTerminal, openTerminal = oldStdout, oldIsTerm, oldOpen })
	return out, tty
}

// TestMainReportsSkippedTests checks that a run where URL skipped tests
// ends with a line saying how many, on standard output and, since `go test
// ./...` drops the output of a passing package, on the terminal too.
func TestMainReportsSkippedTests(t *testing.T) {
	out, tty := replaceOutputs(t)
	skipped.Store(0)
	t.Cleanup(func() { skipped.Store(0) })
	code := Main(fakeM{run: func() int {
		for _, name := range []string{"a", "b"} {
			t.Run(name, func(t *testing.T) {
				t.Setenv(EnvURL, "")
				t.Setenv("CI", "")
				URL(t)
				t.Error("URL did not skip the test")
			})
		}
		return 7
	}}).Run()
	if code != 7 {
		t.Errorf("Run() = %d, want the tests' code 7", code)
	}
	for name, got := range map[string]string{"stdout": out.String(), "terminal": tty.String()} {
		if !strings.Contains(got, "2 PostgreSQL tests were skipped: "+EnvURL+" is not set") {
			t.Errorf("%s = %q, want the number of skipped tests and the reason", name, got)
		}
		if !strings.Contains(got, "store/postgres/pgtest:") {
			t.Errorf("%s = %q, want the package named", name, got)
		}
	}
}

// TestMainQuietWithoutSkips checks that nothing is reported when no test
// was skipped.
func TestMainQuietWithoutSkips(t *testing.T) {
	out, tty := replaceOutputs(t)
	skipped.Store(0)
	Main(fakeM{run: func() int { return 0 }}).Run()
	if out.Len()+tty.Len() != 0 {
		t.Errorf("reported %q / %q with no test skipped", out, tty)
	}
}

// TestReportTerminalOnlyWhenDropped checks that the terminal gets the line
// only when `go test` would drop standard output: not with -v, and not
// when standard output is the terminal already.
func TestReportTerminalOnlyWhenDropped(t *testing.T) {
	out, tty := replaceOutputs(t)
	report(1, "p", true)
	if !strings.Contains(out.String(), "p: 1 PostgreSQL test was skipped") || tty.Len() != 0 {
		t.Errorf("verbose: stdout %q, terminal %q; want stdout only", out, tty)
	}
	out.Reset()
	stdoutIsTerminal = func() bool { return true }
	report(1, "p", false)
	if out.Len() == 0 || tty.Len() != 0 {
		t.Errorf("stdout a terminal: stdout %q, terminal %q; want stdout only", out, tty)
	}
}
