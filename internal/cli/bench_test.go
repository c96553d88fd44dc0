package cli

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestBench(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "bench.db")
	r := mustRun(t, "bench", "--jobs", "2000", "--workers", "50", "--latency-samples", "20", "--database", db)
	for _, re := range []string{
		`machine: +\d+ CPUs, \w+/\w+, go`,
		`parameters: --jobs 2000 --workers 50 --latency-samples 20`,
		`1\. enqueue +2,000 jobs in batches of 1000: \S+, [\d,]+ jobs/s`,
		`2\. burn-down +2,000 jobs with 50 workers: \S+, [\d,]+ jobs/s\n`,
		`3\. latency .* 20 single jobs .*: p50 \S+, p90 \S+, p99 \S+, max \S+`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("bench output does not match %s:\n%s", re, r.stdout)
		}
	}

	// The database now holds only finished jobs, so it can be reused; a
	// database with unfinished jobs is refused.
	mustRun(t, "bench", "--jobs", "10", "--latency-samples", "0", "--database", db)
	mustRun(t, "enqueue", "demo.sleep", "--in", "1h", "--database", db)
	wantFail(t, runKiln(t, "bench", "--jobs", "10", "--database", db), exitError, "holds 1 unfinished jobs")
	if strings.Contains(r.stderr, "Error") {
		t.Errorf("stderr: %s", r.stderr)
	}
}

// TestBenchPostgres runs bench on PostgreSQL: without kiln_schema in the
// URL it works in a temporary schema that it drops; with kiln_schema it
// uses that schema, which it keeps and refuses when it holds unfinished
// jobs, as for a SQLite --database.
func TestBenchPostgres(t *testing.T) {
	t.Parallel()
	base := postgresURLForTest(t)
	r := mustRun(t, "bench", "--jobs", "300", "--workers", "20", "--latency-samples", "5", "--database", base)
	for _, re := range []string{
		`parameters: --jobs 300 --workers 20 --latency-samples 5`,
		`database: +PostgreSQL postgres\S* \(schema kiln_bench_[0-9a-f]{16}, temporary\)\n`,
		`1\. enqueue +300 jobs in batches of 1000: \S+, [\d,]+ jobs/s`,
		`2\. burn-down +300 jobs with 20 workers: \S+, [\d,]+ jobs/s\n`,
		`3\. latency .* 5 single jobs .*: p50 \S+, p90 \S+, p99 \S+, max \S+`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stdout) {
			t.Errorf("bench output does not match %s:\n%s", re, r.stdout)
		}
	}
	if m := regexp.MustCompile(`schema (kiln_bench_[0-9a-f]{16})`).FindStringSubmatch(r.stdout); m != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, m[1]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("the temporary schema %s was not dropped", m[1])
		}
	}

	// A named schema is used, migrated if need be, and kept; with an
	// unfinished job it is refused.
	schema := postgresSchemaForTest(t, base)
	db := withParam(base, pgSchemaParam, schema)
	r = mustRun(t, "bench", "--jobs", "10", "--latency-samples", "0", "--database", db)
	if want := "(schema " + schema + ")\n"; !strings.Contains(r.stdout, want) {
		t.Errorf("bench output does not name the schema %s:\n%s", schema, r.stdout)
	}
	mustRun(t, "bench", "--jobs", "10", "--latency-samples", "0", "--database", db)
	mustRun(t, "enqueue", "demo.sleep", "--in", "1h", "--database", db)
	wantFail(t, runKiln(t, "bench", "--jobs", "10", "--database", db), exitError,
		"holds 1 unfinished jobs", "omit kiln_schema from the URL to use a temporary schema")
}
