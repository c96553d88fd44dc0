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

	"github.com/kilnjobs/kiln/kilntype"
)

// newLazy returns a Lazy of a claimed job writing to a new fakeStore at
// most once per hour (Close writes what is left).
func newLazy(t *testing.T) (*Lazy, *fakeStore) {
	t.Helper()
	fs := &fakeStore{}
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	l := new(Lazy).Init(&Config{Store: fs, Now: func() time.Time { return at }, Interval: time.Hour,
		Logger: slog.New(slog.DiscardHandler)}, &kilntype.JobRow{ID: 7, LeasedBy: "p", AttemptedAt: &at})
	t.Cleanup(func() { l.Close(context.Background()) })
	return l, fs
}

// An attempt that reports nothing makes no Reporter, and Close writes
// nothing; a report after Close fails as a closed Reporter's does.
func TestLazyWithoutReports(t *testing.T) {
	ctx := context.Background()
	l, fs := newLazy(t)
	l.Close(ctx)
	if l.r != nil {
		t.Fatal("Close made a Reporter for an attempt that reported nothing")
	}
	if progress, lines, appends := fs.snapshot(); len(progress)+len(lines)+appends != 0 {
		t.Fatalf("wrote progress %v, lines %q in %d appends; want nothing", progress, lines, appends)
	}
	for _, err := range []error{l.Progress(ctx, 10), l.Log(ctx, "late")} {
		if err == nil || !strings.Contains(err.Error(), "attempt has ended") {
			t.Fatalf("report after Close: error %v, want the attempt has ended", err)
		}
	}
	if progress, lines, _ := fs.snapshot(); len(progress)+len(lines) != 0 {
		t.Fatalf("a report after Close wrote progress %v, lines %q", progress, lines)
	}
	l.Close(ctx) // harmless
}

// Reports made from several goroutines at once go to one Reporter, and
// Close writes the last of them, as a Reporter's Close does.
func TestLazyReportsThenClose(t *testing.T) {
	ctx := context.Background()
	l, fs := newLazy(t)
	if err := l.Progress(ctx, 10); err != nil { // written at once: the first write
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if err := errors.Join(l.Progress(ctx, 20+i), l.Log(ctx, fmt.Sprint("line ", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if err := l.Progress(ctx, 50); err != nil {
		t.Fatal(err)
	}
	if progress, lines, _ := fs.snapshot(); fmt.Sprint(progress) != "[10]" || len(lines) != 0 {
		t.Fatalf("before Close: progress writes %v, %d lines; want [10] and none (within the interval)", progress, len(lines))
	}
	l.Close(ctx)
	progress, lines, _ := fs.snapshot()
	if fmt.Sprint(progress) != "[10 50]" || len(lines) != 8 {
		t.Fatalf("after Close: progress writes %v, %d lines; want [10 50] and 8", progress, len(lines))
	}
	if err := l.Progress(ctx, 60); err == nil || !strings.Contains(err.Error(), "attempt has ended") {
		t.Fatalf("Progress after Close: error %v", err)
	}
}

func TestNilLazy(t *testing.T) {
	var l *Lazy
	ctx := context.Background()
	if err := errors.Join(l.Progress(ctx, 0), l.Log(ctx, "x")); err != nil {
		t.Fatal(err)
	}
	if err := l.Progress(ctx, 101); err == nil {
		t.Fatal("Progress(101): no error")
	}
	l.Close(ctx)
	if new(Lazy).Init(nil, &kilntype.JobRow{}) != nil {
		t.Fatal("Init(nil config) is not nil")
	}
}
