package demo_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/demo"
)

// TestWorkersReportProgressAndLogs runs demo jobs in a client and reads
// back the progress and the log lines they reported, as the dashboard's job
// page and `kiln jobs show` do.
func TestWorkersReportProgressAndLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv, err := demo.StartServer()
	if err != nil {
		t.Fatal(err)
	}
	httpClient := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() { // after the client's cleanup has stopped it
		httpClient.CloseIdleConnections()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	workers := kiln.NewWorkers()
	demo.Register(workers, httpClient)
	client := clienttest.New(t, workers, nil, true, false)
	dir := t.TempDir()
	for _, name := range []string{"a.txt", "b.txt", "c.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The progress each job ends with (-1: it reports none), and its log
	// as "attempt/message", where a message that varies between runs (it
	// gives a duration) is given up to a final "|".
	type want struct {
		progress int
		log      []string
	}
	for args, w := range map[kiln.JobArgs]want{
		demo.SleepArgs{Millis: 200}:                    {100, []string{"1/sleeping for 200ms, in 10 steps", "1/halfway: 100ms to go", "1/slept |"}},
		demo.ChecksumArgs{Dir: dir}:                    {100, []string{"1/hashing 3 files in " + dir, "1/wrote 3 checksums to SHA256SUMS"}},
		demo.FlakyArgs{Failures: 1}:                    {-1, []string{"1/failing on purpose: attempt 1 of the 1 that fail", "2/succeeding at attempt 2, after 1 failures"}},
		demo.HTTPCallArgs{URL: srv.URL + "/work?ms=1"}: {-1, []string{"1/GET " + srv.URL + "/work?ms=1: 200 OK, |"}},
	} {
		id := clienttest.Enqueue(t, client, args, nil).ID
		row := clienttest.WaitState(t, client, id, kiln.JobStateCompleted)
		progress := -1
		if row.Progress != nil {
			progress = *row.Progress
		}
		if progress != w.progress {
			t.Errorf("%s: progress %d, want %d", row.Kind, progress, w.progress)
		}
		lines, err := client.JobLogs(ctx, id, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines {
			got = append(got, fmt.Sprintf("%d/%s", l.Attempt, l.Message))
		}
		if !matchLines(got, w.log) {
			t.Errorf("%s: log %q, want %q", row.Kind, got, w.log)
		}
	}
}

// matchLines reports whether got has as many lines as want, each equal to
// its want, or starting with what precedes a "|" that ends its want.
func matchLines(got, want []string) bool {
	return slices.EqualFunc(got, want, func(g, w string) bool {
		if prefix, ok := strings.CutSuffix(w, "|"); ok {
			return strings.HasPrefix(g, prefix) && len(g) > len(prefix)
		}
		return g == w
	})
}
