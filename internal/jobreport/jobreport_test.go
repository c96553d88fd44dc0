package jobreport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStore is a store.JobProgressStore in memory that counts writes.
type fakeStore struct {
	mu       sync.Mutex // guards the fields below
	progress []int      // every progress written, in order
	lines    []string   // every line appended, in order
	appends  int
	refuse   bool  // reports false: the lease is lost
	fail     error // the next write fails with it
}

func (s *fakeStore) write(record func()) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fail; err != nil {
		s.fail = nil
		return false, err
	}
	if s.refuse {
		return false, nil
	}
	record()
	return true, nil
}

func (s *fakeStore) JobProgressSet(_ context.Context, p *store.JobProgressSetParams) (bool, error) {
	return s.write(func() { s.progress = append(s.progress, p.Progress) })
}

func (s *fakeStore) JobLogAppend(_ context.Context, p *store.JobLogAppendParams) (bool, error) {
	return s.write(func() {
		s.appends++
		for _, l := range p.Kept() {
			s.lines = append(s.lines, l.Message)
		}
	})
}

func (s *fakeStore) JobLogList(context.Context, *store.JobLogListParams) ([]*kilntype.JobLogLine, error) {
	return nil, errors.New("not used")
}

// snapshot returns copies of what was written.
func (s *fakeStore) snapshot() (progress []int, lines []string, appends int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.progress...), append([]string(nil), s.lines...), s.appends
}

// newReporter returns a Reporter of a claimed job writing to a new
// fakeStore at most once per interval.
func newReporter(t *testing.T, interval time.Duration) (*Reporter, *fakeStore) {
	t.Helper()
	fs := &fakeStore{}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := New(&Config{Store: fs, Now: func() time.Time { return at }, Interval: interval,
		Logger: slog.New(slog.DiscardHandler)}, &kilntype.JobRow{ID: 7, LeasedBy: "p", AttemptedAt: &at})
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, fs
}

// eventually is testutil.Poll's Eventually, polling every millisecond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Poll{Interval: time.Millisecond}.Eventually(t, what, cond)
}

func TestCoalescesUntilClose(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, time.Hour)
	for p := 1; p <= 50; p++ {
		if err := r.Progress(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []string{"a", "b"} {
		if err := r.Log(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	if progress, lines, _ := fs.snapshot(); fmt.Sprint(progress) != "[1]" || len(lines) != 0 {
		t.Fatalf("before Close: progress writes %v, lines %q; want only the first report written", progress, lines)
	}
	r.Close(ctx)
	progress, lines, appends := fs.snapshot()
	if fmt.Sprint(progress) != "[1 50]" || fmt.Sprint(lines) != "[a b]" || appends != 1 {
		t.Fatalf("after Close: progress writes %v, lines %q in %d appends; want [1 50], [a b] in 1", progress, lines, appends)
	}
	if err := r.Progress(ctx, 60); err == nil || !strings.Contains(err.Error(), "attempt has ended") {
		t.Fatalf("Progress after Close: error %v", err)
	}
	r.Close(ctx) // harmless
}

func TestTimerWritesAfterInterval(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, 20*time.Millisecond)
	r.Progress(ctx, 1)
	r.Progress(ctx, 2)
	r.Log(ctx, "x")
	eventually(t, "timed write", func() bool {
		progress, lines, _ := fs.snapshot()
		return fmt.Sprint(progress) == "[1 2]" && fmt.Sprint(lines) == "[x]"
	})
}

func TestSameProgressNotRewritten(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, 0)
	for range 3 {
		r.Progress(ctx, 5)
	}
	r.Close(ctx)
	if progress, _, _ := fs.snapshot(); fmt.Sprint(progress) != "[5]" {
		t.Fatalf("progress writes %v, want [5]", progress)
	}
}

func TestLeaseLost(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, 0)
	fs.refuse = true
	if err := r.Progress(ctx, 5); !errors.Is(err, jobexec.ErrLeaseLost) {
		t.Fatalf("refused write: error %v, want ErrLeaseLost", err)
	}
	fs.refuse = false // later reports fail without asking the store
	if err := r.Log(ctx, "x"); !errors.Is(err, jobexec.ErrLeaseLost) {
		t.Fatalf("report after a refused write: error %v, want ErrLeaseLost", err)
	}
	r.Close(ctx)
	if progress, lines, _ := fs.snapshot(); len(progress)+len(lines) != 0 {
		t.Fatalf("written after the lease was lost: %v %q", progress, lines)
	}
}

func TestFailedWriteRetried(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, time.Millisecond)
	fs.fail = errors.New("database hiccup")
	if err := r.Progress(ctx, 5); err == nil || !strings.Contains(err.Error(), "database hiccup") {
		t.Fatalf("failed write: error %v", err)
	}
	eventually(t, "retried write", func() bool {
		progress, _, _ := fs.snapshot()
		return fmt.Sprint(progress) == "[5]"
	})
}

// TestCloseRetriesFailedWrite checks that the reports left at Close are
// written even when Close's first write fails: nothing else writes them
// after Close.
func TestCloseRetriesFailedWrite(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, time.Hour)
	r.Log(ctx, "first") // written at once
	r.Log(ctx, "last")  // left for Close
	fs.mu.Lock()
	fs.fail = errors.New("database hiccup")
	fs.mu.Unlock()
	r.Close(ctx)
	if _, lines, _ := fs.snapshot(); fmt.Sprint(lines) != "[first last]" {
		t.Fatalf("lines written %q, want [first last]", lines)
	}
}

func TestDoneContextWritesLater(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r, fs := newReporter(t, 0)
	if err := r.Log(ctx, "after cancel"); err != nil {
		t.Fatalf("Log under a done context: %v", err)
	}
	eventually(t, "timed write", func() bool {
		_, lines, _ := fs.snapshot()
		return fmt.Sprint(lines) == "[after cancel]"
	})
}

func TestPendingLinesBounded(t *testing.T) {
	ctx := context.Background()
	r, fs := newReporter(t, time.Hour)
	r.Log(ctx, "first") // written at once
	for i := range MaxLines + 10 {
		r.Log(ctx, fmt.Sprint(i))
	}
	r.Close(ctx)
	_, lines, _ := fs.snapshot()
	if len(lines) != 1+MaxLines || lines[1] != "10" || lines[len(lines)-1] != fmt.Sprint(MaxLines+9) {
		t.Fatalf("%d lines written (second %q, last %q); want 1+%d, the newest", len(lines), lines[1], lines[len(lines)-1], MaxLines)
	}
}

func TestNilReporter(t *testing.T) {
	var r *Reporter
	ctx := context.Background()
	if err := errors.Join(r.Progress(ctx, 0), r.Progress(ctx, 100), r.Log(ctx, "x")); err != nil {
		t.Fatal(err)
	}
	if err := r.Progress(ctx, -1); err == nil {
		t.Fatal("Progress(-1): no error")
	}
	r.Close(ctx)
	if New(nil, &kilntype.JobRow{}) != nil {
		t.Fatal("New(nil config) is not nil")
	}
}

func TestCleanLine(t *testing.T) {
	long := strings.Repeat("ab€", MaxLineBytes) // 5 bytes each
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines\r\n\n", "two\nlines"},
		{"bad \xff\xfe byte", "bad \uFFFD byte"},
		{"nul \x00 byte", "nul \uFFFD byte"},
	} {
		if got := cleanLine(tc.in); got != tc.want {
			t.Errorf("cleanLine(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	got := cleanLine(long)
	if len(got) > MaxLineBytes || len(got) < MaxLineBytes-5 || !utf8.ValidString(got) ||
		!strings.HasSuffix(got, "…") || !strings.HasPrefix(long, strings.TrimSuffix(got, "…")) {
		t.Errorf("cleanLine(long) = %d bytes, valid %v: want a prefix of it, at most %d bytes, ending in …",
			len(got), utf8.ValidString(got), MaxLineBytes)
	}
}
