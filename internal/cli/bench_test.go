package cli

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"
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
