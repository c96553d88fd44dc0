package kiln_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
)

// waitFor is testutil.Eventually: it polls cond until it returns true.
var waitFor = testutil.Eventually

// logMessages returns job id's log lines as "attempt/message".
func logMessages(t *testing.T, c *kiln.Client, id int64, p *kiln.JobLogsParams) []string {
	t.Helper()
	lines, err := c.JobLogs(context.Background(), id, p)
	if err != nil {
		t.Fatalf("JobLogs(%d): %v", id, err)
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = fmt.Sprintf("%d/%s", l.Attempt, l.Message)
	}
	return out
}

// progressOf returns job id's stored progress, -1 for none.
func progressOf(t *testing.T, c *kiln.Client, id int64) int {
	t.Helper()
	row, err := c.JobGet(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %d: %v", id, err)
	}
	if row.Progress == nil {
		return -1
	}
	return *row.Progress
}

func TestJobProgressAndLogs(t *testing.T) {
	t.Parallel()
	reported, proceed := make(chan struct{}), make(chan struct{})
	c, _ := setup(t, func(ctx context.Context, job *kiln.Job[testArgs]) error {
		if err := job.Progress(ctx, 10); err != nil {
			return err
		}
		if err := job.Logf(ctx, "step %d of %d", 1, 3); err != nil {
			return err
		}
		close(reported)
		<-proceed
		// Many quick reports: coalesced, the last ones written at the end.
		for i := 11; i <= 100; i++ {
			if err := job.Progress(ctx, i); err != nil {
				return err
			}
		}
		job.Log(ctx, "step 2 of 3\n")
		job.Log(ctx, "step 3 of 3")
		return nil
	})
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	<-reported
	// Readable while the job runs.
	waitFor(t, "progress 10 and the first line", func() bool {
		return progressOf(t, c, job.ID) == 10 &&
			slices.Equal(logMessages(t, c, job.ID, nil), []string{"1/step 1 of 3"})
	})
	if row, _ := c.JobGet(context.Background(), job.ID); row.State != kiln.JobStateRunning {
		t.Fatalf("job is %s, want running", row.State)
	}
	close(proceed)
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if row.Progress == nil || *row.Progress != 100 {
		t.Fatalf("completed job's progress = %v, want 100", row.Progress)
	}
	all := []string{"1/step 1 of 3", "1/step 2 of 3", "1/step 3 of 3"}
	if got := logMessages(t, c, job.ID, nil); !slices.Equal(got, all) {
		t.Fatalf("lines = %q, want %q", got, all)
	}
	if got := logMessages(t, c, job.ID, &kiln.JobLogsParams{Tail: true, Limit: 2}); !slices.Equal(got, all[1:]) {
		t.Fatalf("last 2 lines = %q, want %q", got, all[1:])
	}
	lines, _ := c.JobLogs(context.Background(), job.ID, &kiln.JobLogsParams{AfterSeq: 2})
	if len(lines) != 1 || lines[0].Seq != 3 || lines[0].JobID != job.ID || !lines[0].At.Equal(testBase) {
		t.Fatalf("lines after seq 2 = %+v, want line 3 at %s", lines, testBase)
	}
}

func TestJobLogBounds(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", kiln.JobLogMaxLineBytes) // twice too long
	rangeErrs := make(chan error, 2)
	c, _ := setup(t, func(ctx context.Context, job *kiln.Job[testArgs]) error {
		rangeErrs <- job.Progress(ctx, -1)
		rangeErrs <- job.Progress(ctx, 101)
		for i := 1; i <= kiln.JobLogMaxLines+5; i++ {
			job.Logf(ctx, "line %d", i)
		}
		job.Log(ctx, "bad \xff byte and \x00 NUL")
		job.Log(ctx, long)
		return nil
	})
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	for range 2 {
		if err := <-rangeErrs; err == nil || !strings.Contains(err.Error(), "out of range 0 to 100") {
			t.Errorf("out of range progress: error %v", err)
		}
	}
	clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if p := progressOf(t, c, job.ID); p != -1 {
		t.Errorf("progress = %d after invalid reports only, want none", p)
	}
	lines, err := c.JobLogs(context.Background(), job.ID, &kiln.JobLogsParams{Limit: 10 * kiln.JobLogMaxLines})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) != kiln.JobLogMaxLines {
		t.Fatalf("%d lines kept, want %d", len(lines), kiln.JobLogMaxLines)
	}
	// The newest lines are kept, in order.
	if first := lines[0].Message; first != "line 8" {
		t.Errorf("first kept line %q, want %q", first, "line 8")
	}
	for i := 1; i < len(lines); i++ {
		if lines[i].Seq <= lines[i-1].Seq {
			t.Fatalf("line %d has Seq %d after %d", i, lines[i].Seq, lines[i-1].Seq)
		}
	}
	if got, want := lines[len(lines)-2].Message, "bad \uFFFD byte and \uFFFD NUL"; got != want {
		t.Errorf("sanitized line %q, want %q", got, want)
	}
	cut := lines[len(lines)-1].Message
	if len(cut) > kiln.JobLogMaxLineBytes || !utf8.ValidString(cut) || !strings.HasSuffix(cut, "…") ||
		!strings.HasPrefix(long, strings.TrimSuffix(cut, "…")) || len(cut) < kiln.JobLogMaxLineBytes-4 {
		t.Errorf("long line kept as %d bytes (valid UTF-8 %v), want at most %d ending in …",
			len(cut), utf8.ValidString(cut), kiln.JobLogMaxLineBytes)
	}
}

// TestJobReportsOfStaleCopyRefused lets a running job's lease lapse, so
// that it is rescued and claimed again, and checks that the first copy's
// reports are refused with ErrLeaseLost and never reach the store.
func TestJobReportsOfStaleCopyRefused(t *testing.T) {
	t.Parallel()
	st := &renewFailingStore{Store: openStore(t, ""), healOnReclaim: true}
	staleErr := make(chan error, 1)
	firstLogged, second, release := make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		if job.Attempt == 1 {
			job.Progress(ctx, 10)
			job.Log(ctx, "first")
			select {
			case firstLogged <- struct{}{}:
			default:
				t.Errorf("attempt 1 ran twice")
			}
			<-ctx.Done() // cancelled when the job is claimed again
			// Reports are refused once the store has said so; the first
			// may still be coalesced and refused by the timed write.
			var err error
			testutil.EventuallyNil(t, "the stale copy's reports to be refused", func() error {
				if err = errors.Join(job.Progress(ctx, 99), job.Log(ctx, "stale")); err == nil {
					return errors.New("they were accepted")
				}
				return nil
			})
			staleErr <- err
			return nil
		}
		if job.Attempt != 2 {
			t.Errorf("attempt %d ran: the second copy lost its lease too", job.Attempt)
			return nil
		}
		job.Log(ctx, "second")
		job.Progress(ctx, 20)
		close(second)
		<-release
		return nil
	}))
	cfg := fastConfig(nil, workers, nil)
	// Only the first copy's lease may lapse, when its renewals fail on
	// purpose: 15 s keeps a loaded machine's late heartbeats from losing
	// the second copy's lease by accident (1 s did; 5 s did once in the
	// -race suite at load 31-39). The test waits that long for the
	// first copy's lease to lapse.
	cfg.Store, cfg.RetryPolicy, cfg.LeaseDuration = st, nil, 15*time.Second
	c := startClient(t, cfg)
	job := clienttest.Enqueue(t, c, testArgs{}, nil)
	// The first copy's line is stored while it holds its lease (a busy
	// machine may take longer than the lease to write it); only then do
	// its renewals fail, so that it is rescued and claimed again.
	<-firstLogged
	testutil.EventuallyNil(t, "the first line to be stored", func() error {
		if lines := logMessages(t, c, job.ID, nil); !slices.Equal(lines, []string{"1/first"}) {
			return fmt.Errorf("lines = %q", lines)
		}
		return nil
	})
	st.fail.Store(true) // until the job is claimed again (healOnReclaim)
	<-second
	err := <-staleErr
	close(release)
	if !errors.Is(err, kiln.ErrLeaseLost) {
		t.Fatalf("stale copy's report: error %v, want ErrLeaseLost", err)
	}
	row := clienttest.WaitState(t, c, job.ID, kiln.JobStateCompleted)
	if row.Attempt != 2 || row.Progress == nil || *row.Progress != 20 {
		t.Fatalf("completed at attempt %d with progress %v, want attempt 2 with 20", row.Attempt, row.Progress)
	}
	if got, want := logMessages(t, c, job.ID, nil), []string{"1/first", "2/second"}; !slices.Equal(got, want) {
		t.Fatalf("lines = %q, want %q", got, want)
	}
}

func TestJobOutsideClientRecordsNothing(t *testing.T) {
	t.Parallel()
	job := &kiln.Job[testArgs]{JobRow: &kilntype.JobRow{ID: 1}}
	ctx := context.Background()
	if err := errors.Join(job.Progress(ctx, 50), job.Log(ctx, "x"), job.Logf(ctx, "%d", 1)); err != nil {
		t.Fatalf("reports of a job made in a test: %v", err)
	}
	if err := job.Progress(ctx, 101); err == nil {
		t.Fatal("Progress(101): no error")
	}
}

// TestJobListArgsContainsWindow lists jobs by args text across a gap of
// 200,000 IDs (as deleted jobs leave): each call examines one window of
// JobListScanWindow IDs, and a short page still gives a NextCursor.
func TestJobListArgsContainsWindow(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	st := openStore(t, path)
	c, err := kiln.NewClient(&kiln.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	early := clienttest.Enqueue(t, c, testArgs{N: 424242}, nil)
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = seq + 200000 WHERE name = 'kiln_job'`); err != nil {
		t.Fatal(err)
	}
	late := clienttest.Enqueue(t, c, testArgs{N: 424242}, &kiln.EnqueueOpts{Tags: []string{"late"}})
	other := clienttest.Enqueue(t, c, testArgs{N: 7}, &kiln.EnqueueOpts{Tags: []string{"late"}})

	for _, asc := range []bool{false, true} {
		var pages [][]int64
		p := &kiln.JobListParams{ArgsContains: "424242", Limit: 10, OrderAsc: asc}
		for range 10 {
			res, err := c.JobList(ctx, p)
			if err != nil {
				t.Fatal(err)
			}
			var page []int64
			for _, j := range res.Jobs {
				page = append(page, j.ID)
			}
			pages = append(pages, page)
			if res.NextCursor == 0 {
				break
			}
			p.Cursor = res.NextCursor
		}
		// 200,002 IDs: three windows.
		want := [][]int64{{late.ID}, nil, {early.ID}}
		if asc {
			want = [][]int64{{early.ID}, nil, {late.ID}}
		}
		if fmt.Sprint(pages) != fmt.Sprint(want) {
			t.Errorf("asc %v: pages %v, want %v", asc, pages, want)
		}
	}
	res, err := c.JobList(ctx, &kiln.JobListParams{Tag: "late"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Jobs) != 2 || res.Jobs[0].ID != other.ID || res.Jobs[1].ID != late.ID || res.NextCursor != 0 {
		t.Errorf("jobs tagged late: %d jobs, next %d", len(res.Jobs), res.NextCursor)
	}
}
