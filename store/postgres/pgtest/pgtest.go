// Package pgtest gives tests a PostgreSQL database to work in: the URL from
// $KILN_TEST_POSTGRES_URL, and schemas of their own that are dropped when
// the test ends. Without the variable a test is skipped, with a message
// saying how to run it, or fails in CI (CI=true), where PostgreSQL tests
// must run.
//
// A package whose tests use pgtest wraps its TestMain's [testing.M] in
// [Main], which says after the run how many PostgreSQL tests were skipped,
// so that `go test ./...` without -v does not pass them over in silence.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable that gives the test database.
const EnvURL = "KILN_TEST_POSTGRES_URL"

// exampleURL is the URL the messages suggest: a local server with trust
// authentication.
const exampleURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// URL returns the URL of the database the tests may create schemas in, or
// skips the test (fails it in CI) when there is none.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " must be set in CI")
		}
		skipped.Add(1)
		t.Skip(EnvURL + " is not set, so this PostgreSQL test does not run. To run it, point it at a " +
			"database the tests may create schemas in, e.g. " + EnvURL + "=" + exampleURL)
	}
	return url
}

// Schema returns a schema name that no other test uses (it does not create
// the schema), and drops that schema, with all it holds, when t ends.
// Cleanups run last first, so stores opened on it afterwards are closed by
// then.
func Schema(t testing.TB) string {
	t.Helper()
	URL(t)
	schema := uniqueName(t)
	t.Cleanup(func() {
		// t.Context is done by the time cleanups run. A connection of its
		// own, closed here, leaves no goroutine behind for leak checks.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, os.Getenv(EnvURL))
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// uniqueName returns a name no other test's schema or database has:
// kiln_test_ and 16 random hex digits.
func uniqueName(t testing.TB) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "kiln_test_" + hex.EncodeToString(b)
}

// Database creates a database that no other test uses and returns its URL
// (the test database's, another database named); it drops the database,
// closing its sessions, when t ends. For tests that other sessions of the
// shared test database would disturb: VACUUM keeps the dead rows that any
// session of the same database may still see, so a test that needs a
// vacuum to remove them waits on every other test's open transactions
// unless its table is in a database of its own.
func Database(t testing.TB) string {
	t.Helper()
	base, err := url.Parse(URL(t))
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	name := uniqueName(t)
	admin := Admin(t)
	if _, err := admin.Exec(t.Context(), `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// DROP DATABASE waits for a checkpoint: on a server busy with
		// other tests' writes (load 17-22) it took over a minute once.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	base.Path = "/" + name
	return base.String()
}

// Admin returns a small pool on the test database for work outside the
// test's stores (terminating sessions, say), closed when t ends.
func Admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// skipped counts the tests (and subtests) that URL skipped in this test
// binary.
var skipped atomic.Int64

// SkipExamples skips the named examples (function names, such as
// "ExampleEnqueueTx") when $KILN_TEST_POSTGRES_URL is not set, as URL
// skips tests, and counts them among the skipped that [Main] reports. An
// example cannot skip itself, so call it in TestMain, before m.Run: it
// adds the names to the -test.skip pattern (parsing the command line's
// flags if that has not been done). In CI ($CI=true) it skips nothing, and
// the examples fail without a database.
func SkipExamples(names ...string) {
	if os.Getenv(EnvURL) != "" || os.Getenv("CI") == "true" || len(names) == 0 {
		return
	}
	if !flag.Parsed() {
		flag.Parse()
	}
	pattern := "^(" + strings.Join(names, "|") + ")$"
	if old := flag.Lookup("test.skip").Value.String(); old != "" {
		pattern = old + "|" + pattern
	}
	if err := flag.Set("test.skip", pattern); err != nil {
		panic("pgtest: " + err.Error())
	}
	skipped.Add(int64(len(names)))
}

// TestingM is what [Main] wraps: a [*testing.M], or anything with its Run
// method (goleak.VerifyTestMain takes one too).
type TestingM interface {
	Run() int
}

// Main wraps m so that its Run, once the tests have run, reports how many
// of them pgtest skipped for want of $KILN_TEST_POSTGRES_URL, in one line
// naming the package; it reports nothing when none was skipped. Use it in
// the TestMain of every package whose tests call pgtest:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.Main(m)) }
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m).Run()) }
//
// The line goes to standard output, where `go test -v` and a failing
// package show it. `go test ./...` drops everything a passing package
// printed (it keeps only its "ok" line), so without -v, and when standard
// output is not itself a terminal, the line is also written to the
// controlling terminal (/dev/tty) if the process has one; in CI, which has
// none, $CI=true makes a missing database fail the tests instead.
func Main(m TestingM) TestingM { return reportingM{m} }

type reportingM struct{ m TestingM }

func (r reportingM) Run() int {
	code := r.m.Run()
	if n := skipped.Load(); n > 0 {
		report(n, packageName(), testing.Verbose())
	}
	return code
}

// Where report writes; tests replace them.
var (
	stdout io.Writer = os.Stdout
	// stdoutIsTerminal reports whether standard output is a terminal the
	// user sees (`go test` run in a package's directory streams it there).
	stdoutIsTerminal = func() bool {
		fi, err := os.Stdout.Stat()
		return err == nil && fi.Mode()&os.ModeCharDevice != 0
	}
	openTerminal = func() (io.WriteCloser, error) { return os.OpenFile("/dev/tty", os.O_WRONLY, 0) }
)

// report writes the line saying that n tests of pkg were skipped: to
// standard output, and to the terminal as well when `go test` would
// otherwise drop it (not verbose, standard output not a terminal).
func report(n int64, pkg string, verbose bool) {
	tests := "tests were"
	if n == 1 {
		tests = "test was"
	}
	line := fmt.Sprintf("%s: %d PostgreSQL %s skipped: %s is not set (to run them: %s=%s)\n",
		pkg, n, tests, EnvURL, EnvURL, exampleURL)
	fmt.Fprint(stdout, line)
	if verbose || stdoutIsTerminal() {
		return
	}
	tty, err := openTerminal()
	if err != nil {
		return // no terminal (CI, an IDE, a detached shell): stdout is all there is
	}
	defer tty.Close()
	fmt.Fprint(tty, line)
}

// packageName returns the import path of the package under test, from the
// test binary's build info ("example.com/x/y.test"), or the binary's name.
func packageName() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" {
		return strings.TrimSuffix(bi.Path, ".test")
	}
	return strings.TrimSuffix(filepath.Base(os.Args[0]), ".test")
}
