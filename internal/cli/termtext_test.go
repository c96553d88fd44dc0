package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/httpapi"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// evilKey is a partition key a tenant chose: an OSC sequence that sets
// the terminal's title and a CSI one that clears the screen. The stores
// accept it (only NUL and invalid UTF-8 are refused).
const evilKey = "acme\x1b]0;pwned\a\x1b[2J"

// wantTerminalSafe fails t if out holds a byte or rune a terminal acts on:
// ESC, BEL, CR and the other C0 controls but "\n" and "\t", DEL, a C1
// control, a bidirectional control, or bytes that are not UTF-8.
func wantTerminalSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("%s wrote bytes that are not UTF-8: %q", what, out)
	}
	for i, r := range out {
		if r != '\n' && r != '\t' && (r < 0x20 || r >= 0x7f && r <= 0x9f || r == '\u202e' || r == '\u2066') {
			t.Errorf("%s wrote %U at byte %d: %q", what, r, i, out)
			return
		}
	}
}

func TestTermText(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in    string
		lines bool
		want  string
	}{
		{in: "acme", want: "acme"},
		{in: "café ☕ 東京", want: "café ☕ 東京"},
		{in: `a\b "c"`, want: `a\b "c"`}, // ordinary text, backslashes and quotes included, is left alone
		{in: "", want: ""},
		{in: evilKey, want: `"acme\x1b]0;pwned\a\x1b[2J"`},
		{in: "a\u0085b", want: `"a\u0085b"`},     // C1 NEL
		{in: "a\u009b2Jb", want: `"a\u009b2Jb"`}, // C1 CSI
		{in: "a\xffb", want: `"a\xffb"`},
		{in: "a\x7fb", want: `"a\x7fb"`},
		{in: "abc\u202egpj.exe", want: `"abc\u202egpj.exe"`}, // right-to-left override
		{in: "a\nb", want: `"a\nb"`},
		{in: "a\tb", want: `"a\tb"`},
		{in: "a\rb", want: `"a\rb"`},
		{in: "line 1\n\tat x.go:3\nline 3", lines: true, want: "line 1\n\tat x.go:3\nline 3"},
		{in: "ok\nbad \x1b[2J\nok", lines: true, want: "ok\n\"bad \\x1b[2J\"\nok"},
		{in: "a\r\nb", lines: true, want: "\"a\\r\"\nb"},
	} {
		if got := termText(c.in, c.lines); got != c.want {
			t.Errorf("termText(%q, %v) = %s, want %s", c.in, c.lines, got, c.want)
		}
	}
	if got := oneLine("a\x1b[2J\n b", 40); got != strconv.Quote("a\x1b[2J b") {
		t.Errorf("oneLine of an ESC = %s", got)
	}
}

// TestJobsShowAndListNoRawEscapes: a job whose partition key, tags, args,
// error, trace, log line and process name hold escape sequences (a
// tenant's, a worker's or a third party's text) is shown by kiln jobs show
// and kiln jobs list with them quoted: no raw ESC, C1 control or bidi
// control reaches the terminal. --json is left as it was (JSON escapes).
func TestJobsShowAndListNoRawEscapes(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	id := enqueueID(t, db, "evil.kind", "--any-kind", "--queue", "evq", "--partition", evilKey,
		"--tag", "t\x1b[31m", "--args", "{\"note\":\"x\u0085\u009b2J\u202e\"}")
	ctx := context.Background()
	server := "p\x1b]2;x\a"
	st, job, now := claimOnly(t, db, "evq", server)
	lease := store.JobReportLease{ID: id, LeasedBy: server, AttemptedAt: *job.AttemptedAt}
	if ok, err := st.JobLogAppend(ctx, &store.JobLogAppendParams{JobReportLease: lease, Keep: 10, Lines: []store.JobLogAppendLine{
		{At: now, Message: "fetched \x1b]52;c;cm0gLXJmIH4=\a"}}}); !ok || err != nil {
		t.Fatalf("append log: %v, %v", ok, err)
	}
	finished := now.Add(time.Second)
	if _, err := st.JobFinishMany(ctx, []*store.JobFinishParams{{ID: id, LeasedBy: server, AttemptedAt: *job.AttemptedAt,
		State: kilntype.JobStateRetryable, ScheduledAt: now.Add(time.Hour), Now: finished,
		Attempt: kilntype.JobAttempt{JobID: id, Attempt: 1, StartedAt: now, FinishedAt: &finished, Server: server,
			Outcome: kilntype.AttemptFailed, Error: "upstream said: \x1b[2J\x1b[Hall good\nsecond line", Trace: "goroutine 1:\n\tmain.go:1 \x9b"}}}); err != nil {
		t.Fatalf("finish: %v", err)
	}

	show := mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db)
	wantTerminalSafe(t, "kiln jobs show", show.stdout)
	for _, want := range []string{"partition:", strconv.Quote(evilKey), strconv.Quote("t\x1b[31m"), `\x1b[2J\x1b[Hall good`,
		"second line", `\x1b]52;c;`, strconv.Quote(server), `\u0085`} {
		if !strings.Contains(show.stdout, want) {
			t.Errorf("kiln jobs show lacks %s:\n%s", want, show.stdout)
		}
	}
	list := mustRun(t, "jobs", "list", "--database", db)
	wantTerminalSafe(t, "kiln jobs list", list.stdout)
	if !strings.Contains(list.stdout, `"upstream said: \x1b[2J\x1b[Hall good second line"`) {
		t.Errorf("kiln jobs list does not show the error quoted:\n%s", list.stdout)
	}
	// --json is unchanged: the key as JSON spells it.
	js := mustRun(t, "jobs", "show", fmt.Sprint(id), "--database", db, "--json")
	if !strings.Contains(js.stdout, `"partition": "acme\u001b]0;pwned\u0007\u001b[2J"`) {
		t.Errorf("kiln jobs show --json changed:\n%s", js.stdout)
	}
}

// TestConcurrencyNoRawEscapes: kiln concurrency prints the busiest
// partition keys quoted when they hold escape sequences.
func TestConcurrencyNoRawEscapes(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	err := printConcurrencyLimits(&b, []*httpapi.ConcurrencyLimitView{{Kind: "k", PartitionMaxConcurrency: 1, Running: 2, Keys: 2,
		BusiestKeys: []kilntype.KeyRunning{{Key: evilKey, Running: 1}, {Key: "plain", Running: 1}}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	wantTerminalSafe(t, "kiln concurrency", b.String())
	if !strings.Contains(b.String(), strconv.Quote(evilKey)+" 1, plain 1") {
		t.Errorf("kiln concurrency:\n%s", b.String())
	}
}

// TestErrorNoRawEscapes: an error printed by kiln (which may quote a
// remote API's answer or a store's message) reaches stderr quoted.
func TestErrorNoRawEscapes(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if code := report(&b, nil, errors.New("http://x answered 500: \x1b[2Jboom")); code != exitError {
		t.Errorf("exit code %d", code)
	}
	wantTerminalSafe(t, "kiln's error", b.String())
	if !strings.Contains(b.String(), `\x1b[2Jboom`) {
		t.Errorf("error printed as %q", b.String())
	}
}
