package cli

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/demo"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(runChild(args))
	}
	goleak.VerifyTestMain(pgtest.Main(m))
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// result is what one kiln command did.
type result struct {
	code           int
	stdout, stderr string
}

// kilnEnv is the environment tests run commands in; empty by default.
type kilnEnv map[string]string

func (e kilnEnv) get(k string) string { return e[k] }

// runKiln runs the kiln command with args in-process, with an empty
// environment.
func runKiln(t *testing.T, args ...string) result {
	t.Helper()
	return runKilnCtx(t, context.Background(), nil, args...)
}

func runKilnCtx(t *testing.T, ctx context.Context, env kilnEnv, args ...string) result {
	t.Helper()
	return runKilnStdin(t, ctx, env, "", args...)
}

// runKilnStdin runs the kiln command with args in-process, with stdin as
// its standard input.
func runKilnStdin(t *testing.T, ctx context.Context, env kilnEnv, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr syncBuffer
	code := run(ctx, args, strings.NewReader(stdin), &stdout, &stderr, env.get)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// mustRun runs kiln with args and fails the test unless it succeeds.
func mustRun(t *testing.T, args ...string) result {
	t.Helper()
	r := runKiln(t, args...)
	if r.code != exitOK {
		t.Fatalf("kiln %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// wantFail checks that r failed with code and that its stderr has one
// error line (plus the usage hint for usage errors) containing each of
// wants.
func wantFail(t *testing.T, r result, code int, wants ...string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	wantLines := 1
	if code == exitUsage {
		wantLines = 2
	}
	if len(lines) != wantLines || !strings.HasPrefix(lines[0], "Error: ") {
		t.Errorf("stderr is not a one-line error:\n%s", r.stderr)
	}
	for _, w := range wants {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error %q lacks %q", lines[0], w)
		}
	}
}

// newDB returns the path of a migrated database in a temporary directory.
func newDB(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "kiln.db")
	mustRun(t, "migrate", "--database", db)
	return db
}

func TestHelpListsCommands(t *testing.T) {
	t.Parallel()
	r := mustRun(t, "--help")
	for _, c := range []string{"migrate", "serve", "enqueue", "jobs", "demo", "bench"} {
		if !strings.Contains(r.stdout, "\n  "+c+" ") {
			t.Errorf("kiln --help does not list %s:\n%s", c, r.stdout)
		}
	}
	// Bare kiln shows the help too.
	if r := mustRun(t); !strings.Contains(r.stdout, "Available Commands") {
		t.Errorf("kiln without arguments:\n%s", r.stdout)
	}
}

func TestEveryCommandHasLongHelp(t *testing.T) {
	t.Parallel()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && strings.TrimSpace(c.Long) == "" {
			t.Errorf("%s has no Long help", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(kilnEnv{}.get))
}

// docs/ARCHITECTURE.md lists every command of kiln, each with its
// subcommands in parentheses (issue #12: it once listed 6 of 12), in the
// internal/cli/ entry of its folder list.
func TestArchitectureListsEveryCommand(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "ARCHITECTURE.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	begin := strings.Index(text, "\ninternal/cli/ ")
	if begin < 0 {
		t.Fatal("docs/ARCHITECTURE.md has no internal/cli/ entry")
	}
	end := strings.Index(text[begin:], "\ninternal/demo/ ")
	if end < 0 {
		t.Fatal("docs/ARCHITECTURE.md: no internal/demo/ entry after internal/cli/")
	}
	entry := strings.Join(strings.Fields(text[begin:begin+end]), " ")
	for _, c := range newRootCmd(kilnEnv{}.get).Commands() {
		if c.Name() == "help" || c.Hidden {
			continue
		}
		var subs []string
		for _, s := range c.Commands() {
			if s.Name() != "help" && !s.Hidden {
				subs = append(subs, s.Name())
			}
		}
		at := strings.Index(entry, " "+c.Name()+" (")
		if len(subs) == 0 {
			at = strings.Index(entry, " "+c.Name())
		}
		if at < 0 {
			t.Errorf("docs/ARCHITECTURE.md's internal/cli/ entry does not list kiln %s", c.Name())
			continue
		}
		if len(subs) == 0 {
			continue
		}
		group := entry[at+len(c.Name())+3:]
		group = group[:max(strings.Index(group, ")"), 0)]
		listed := map[string]bool{}
		for _, w := range strings.FieldsFunc(group, func(r rune) bool { return r == ',' || r == ':' || r == ';' || r == ' ' }) {
			listed[w] = true
		}
		for _, s := range subs {
			if !listed[s] {
				t.Errorf("docs/ARCHITECTURE.md lists kiln %s (%s) without %s", c.Name(), group, s)
			}
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "kiln"`},
		{[]string{"jobs", "lsit"}, `did you mean "list"?`},
		{[]string{"jobs", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"jobs", "list", "--limit", "x"}, "invalid argument"},
		{[]string{"jobs", "list", "--state", "done", "--database", db}, `invalid --state "done"`},
		{[]string{"jobs", "show"}, "takes one job ID"},
		{[]string{"jobs", "show", "abc", "--database", db}, `invalid job ID "abc"`},
		{[]string{"migrate", "extra"}, "takes no arguments"},
		{[]string{"--log-level", "loud", "migrate", "--database", db}, `invalid --log-level "loud"`},
		{[]string{"serve", "--queues", "default", "--database", db}, `invalid --queues entry "default"`},
		{[]string{"serve", "--queues", "a=0", "--database", db}, "workers must be 1 to 10000"},
		{[]string{"bench", "--jobs", "0"}, "--jobs 0"},
		{[]string{"--database", "mysql://x/y", "jobs", "list"}, "unsupported kind of database"},
		{[]string{"--database", "sqlite::memory:", "jobs", "list"}, "in-memory"},
		{[]string{"--database", "file:x.db?mode=ro", "jobs", "list"}, "query parameters"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			wantFail(t, runKiln(t, tt.args...), exitUsage, tt.want)
		})
	}
}

func TestDatabasePath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"./kiln.db":              "./kiln.db",
		"/var/lib/kiln.db":       "/var/lib/kiln.db",
		"sqlite:./a.db":          "./a.db",
		"sqlite://./a.db":        "./a.db",
		"sqlite:///tmp/a.db":     "/tmp/a.db",
		"SQLITE:/tmp/a.db":       "/tmp/a.db",
		"file:a.db":              "a.db",
		"file:///tmp/a.db":       "/tmp/a.db",
		`C:\jobs\kiln.db`:        `C:\jobs\kiln.db`,
		"dir with spaces/k.db":   "dir with spaces/k.db",
		"relative/dir/kiln.db":   "relative/dir/kiln.db",
		"sqlite:relative/k.db":   "relative/k.db",
		"file:./x:y/kiln.db":     "./x:y/kiln.db",
		"./odd:name/kiln.sqlite": "./odd:name/kiln.sqlite",
	} {
		got, err := databasePath(in)
		if err != nil || got != want {
			t.Errorf("databasePath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "redis://h", "sqlite:", "file:", ":memory:", "a.db?x=1"} {
		if _, err := databasePath(in); err == nil {
			t.Errorf("databasePath(%q): no error", in)
		}
	}
}

func TestPostgresUnreachable(t *testing.T) {
	t.Parallel()
	r := runKiln(t, "--database", "postgres://kiln:s3cret@127.0.0.1:1/kiln?connect_timeout=5&sslmode=disable", "jobs", "list")
	wantFail(t, r, exitError, "open database postgres://kiln:xxxxx@127.0.0.1:1/kiln", "cannot connect")
	if strings.Contains(r.stderr, "s3cret") {
		t.Errorf("the error shows the password: %s", r.stderr)
	}
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "kiln.db")

	// Before migrate: a missing file is not created, and the error says
	// how to fix it.
	wantFail(t, runKiln(t, "jobs", "list", "--database", db), exitError, "does not exist", "kiln migrate --database "+db)
	if _, err := os.Stat(db); err == nil {
		t.Fatal("jobs list created the database file")
	}

	r := mustRun(t, "migrate", "--database", db)
	if !strings.Contains(r.stdout, "Migrated "+db) {
		t.Errorf("migrate printed %q", r.stdout)
	}
	r = mustRun(t, "migrate", "--database", "sqlite:"+db)
	if !strings.Contains(r.stdout, "up to date") {
		t.Errorf("second migrate printed %q", r.stdout)
	}
	if r := mustRun(t, "jobs", "list", "--database", "file:"+db); !strings.Contains(r.stdout, "No jobs.") {
		t.Errorf("jobs list on a new database printed %q", r.stdout)
	}

	// A SQLite file without the schema.
	bare := filepath.Join(dir, "bare.db")
	st, err := sqlite.Open(context.Background(), bare, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	for _, args := range [][]string{
		{"jobs", "list"}, {"jobs", "show", "1"}, {"jobs", "cancel", "1"},
		{"enqueue", "demo.sleep"}, {"serve"},
	} {
		wantFail(t, runKiln(t, append(args, "--database", bare)...), exitError, "no Kiln schema", "run `kiln migrate --database "+bare+"`")
	}

	// A file that is not a database at all.
	junk := filepath.Join(dir, "junk.db")
	if err := os.WriteFile(junk, bytes.Repeat([]byte("not a database "), 100), 0o644); err != nil {
		t.Fatal(err)
	}
	wantFail(t, runKiln(t, "jobs", "list", "--database", junk), exitError, "is not a SQLite database")
	wantFail(t, runKiln(t, "migrate", "--database", filepath.Join(dir, "nodir", "k.db")), exitError, "does not exist")
}

func TestDatabaseFromEnvironment(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	env := kilnEnv{envDatabase: "sqlite:" + db}
	if r := runKilnCtx(t, context.Background(), env, "enqueue", "demo.sleep"); r.code != exitOK {
		t.Fatalf("enqueue with %s set: %d %s", envDatabase, r.code, r.stderr)
	}
	r := mustRun(t, "jobs", "list", "--database", db)
	if !strings.Contains(r.stdout, "demo.sleep") {
		t.Errorf("the job did not go to $%s:\n%s", envDatabase, r.stdout)
	}
	// --database wins over the environment.
	other := filepath.Join(t.TempDir(), "missing.db")
	wantFail(t, runKilnCtx(t, context.Background(), env, "jobs", "list", "--database", other), exitError, "does not exist")
}

func TestParseQueues(t *testing.T) {
	t.Parallel()
	got, err := parseQueues("default=100, other=10,")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]kiln.QueueConfig{"default": {MaxWorkers: 100}, "other": {MaxWorkers: 10}}
	if len(got) != len(want) || got["default"] != want["default"] || got["other"] != want["other"] {
		t.Errorf("parseQueues = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "default", "=3", "a=x", "a=1,a=2", "a=10001"} {
		if _, err := parseQueues(bad); err == nil {
			t.Errorf("parseQueues(%q): no error", bad)
		}
	}
}

func TestFormatHelpers(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := comma(n); got != want {
			t.Errorf("comma(%d) = %q, want %q", n, got, want)
		}
	}
	sorted := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for p, want := range map[float64]time.Duration{50: 5, 90: 9, 99: 10, 100: 10, 0: 1} {
		if got := percentile(sorted, p); got != want {
			t.Errorf("percentile(%v) = %v, want %v", p, got, want)
		}
	}
	if got := oneLine("a\nb   c", 10); got != "a b c" {
		t.Errorf("oneLine = %q", got)
	}
	if got := oneLine(strings.Repeat("é", 20), 5); got != "éééé…" {
		t.Errorf("oneLine = %q", got)
	}
	if got := shellQuote("./my db's.db"); got != `'./my db'\''s.db'` {
		t.Errorf("shellQuote = %s", got)
	}
}

// startClient sets cfg.Store to the SQLite store at db, starts a client of
// cfg, and stops the client and closes the store when the test ends.
func startClient(t *testing.T, db string, cfg *kiln.Config) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg.Store = st
	client, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// runUntil runs kiln with args until its stdout contains want, and returns
// that run. It fails the test if a run fails or none prints want within
// testutil.Timeout.
func runUntil(t *testing.T, want string, args ...string) result {
	t.Helper()
	var r result
	testutil.Poll{Interval: 10 * time.Millisecond}.EventuallyNil(t, fmt.Sprintf("kiln %s to print %q", strings.Join(args, " "), want), func() error {
		if r = mustRun(t, args...); !strings.Contains(r.stdout, want) {
			return fmt.Errorf("it printed:\n%s", r.stdout)
		}
		return nil
	})
	return r
}

// startWorker starts a client with the demo workers on db, and stops it
// when the test ends. It returns the client and a subscription to its
// events.
func startWorker(t *testing.T, db string) (*kiln.Client, <-chan *kiln.Event) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	workers := kiln.NewWorkers()
	demo.Register(workers, nil)
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, Logger: slog.New(slog.DiscardHandler),
		FetchPollInterval: 10 * time.Millisecond, CancelPollInterval: 10 * time.Millisecond,
		ScheduleInterval: 10 * time.Millisecond, DisableMaintenance: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	events, unsubscribe := client.Subscribe()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := client.StopAndCancel(stopCtx); err != nil {
			t.Errorf("stop: %v", err)
		}
		unsubscribe()
		st.Close()
	})
	return client, events
}
