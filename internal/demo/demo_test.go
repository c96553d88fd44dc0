package demo_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/demo"
	"github.com/kilnjobs/kiln/internal/jobexec"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func job[T kiln.JobArgs](attempt int, args T) *kiln.Job[T] {
	return &kiln.Job[T]{JobRow: &kiln.JobRow{ID: 1, Attempt: attempt}, Args: args}
}

func isCancel(err error) bool {
	var c *jobexec.CancelError
	return errors.As(err, &c)
}

func TestWriteFileAndChecksum(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	w := &demo.WriteFileWorker{}
	for _, name := range []string{"a.txt", "b.txt"} {
		if err := w.Work(ctx, job(1, demo.WriteFileArgs{Dir: dir, Name: name, Content: "hello " + name})); err != nil {
			t.Fatal(err)
		}
	}
	if err := (&demo.ChecksumWorker{}).Work(ctx, job(1, demo.ChecksumArgs{Dir: dir})); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := demo.Checksums(ctx, dir, "SHA256SUMS")
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 2 || sums[0].Name != "a.txt" || sums[1].Name != "b.txt" {
		t.Fatalf("sums = %+v", sums)
	}
	for _, s := range sums {
		if !strings.Contains(string(got), s.SHA256+"  "+s.Name+"\n") {
			t.Errorf("SHA256SUMS %q lacks %s", got, s.Name)
		}
	}
}

func TestWriteFileBadArgsCancel(t *testing.T) {
	t.Parallel()
	w := &demo.WriteFileWorker{}
	dir := t.TempDir()
	for _, a := range []demo.WriteFileArgs{
		{Dir: dir, Name: "../escape"},
		{Dir: dir, Name: ""},
		{Dir: filepath.Join(dir, "missing"), Name: "x"},
	} {
		if err := w.Work(context.Background(), job(1, a)); !isCancel(err) {
			t.Errorf("%+v: got %v, want a JobCancel error", a, err)
		}
	}
}

func TestFlaky(t *testing.T) {
	t.Parallel()
	w := &demo.FlakyWorker{}
	for attempt, wantErr := range map[int]bool{1: true, 2: true, 3: false} {
		err := w.Work(context.Background(), job(attempt, demo.FlakyArgs{}))
		if (err != nil) != wantErr {
			t.Errorf("attempt %d: err = %v, want error %v", attempt, err, wantErr)
		}
	}
	if got := w.Backoff(job(1, demo.FlakyArgs{})); got > 2*time.Second {
		t.Errorf("backoff %s, want a short one", got)
	}
}

func TestSleepHonoursContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (&demo.SleepWorker{}).Work(ctx, job(1, demo.SleepArgs{Millis: 60_000})); !errors.Is(err, context.Canceled) {
		t.Errorf("got %v, want context.Canceled", err)
	}
}

func TestHTTPCallAgainstServer(t *testing.T) {
	t.Parallel()
	srv, err := demo.StartServer()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{}}
	defer func() {
		client.CloseIdleConnections()
		if err := srv.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	w := &demo.HTTPCallWorker{Client: client}
	ctx := context.Background()
	if err := w.Work(ctx, job(1, demo.HTTPCallArgs{URL: srv.URL + "/work?ms=5"})); err != nil {
		t.Errorf("/work: %v", err)
	}
	if err := w.Work(ctx, job(1, demo.HTTPCallArgs{URL: srv.URL + "/status/503"})); err == nil || isCancel(err) || !strings.Contains(err.Error(), "503") {
		t.Errorf("/status/503: got %v, want a retryable error naming the status", err)
	}
	if err := w.Work(ctx, job(1, demo.HTTPCallArgs{URL: "not a url"})); !isCancel(err) {
		t.Errorf("bad url: got %v, want a JobCancel error", err)
	}
	if srv.Requests() != 2 {
		t.Errorf("server got %d requests, want 2", srv.Requests())
	}
}
