package enginetest

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/internal/testutil"
)

// Clock is a manual clock: Now returns the time it was set to, which only
// Advance moves. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex // guards now
	now time.Time
}

// NewClock returns a Clock set to a fixed time in UTC.
func NewClock() *Clock { return &Clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Record is one logged message with its attributes (resolved to their Go
// values).
type Record struct {
	Level   slog.Level
	Message string
	Attrs   map[string]any
}

// Log is a slog.Handler that keeps what is logged through it. It is safe
// for concurrent use.
type Log struct {
	mu      sync.Mutex // guards records
	records []Record
}

// NewLogger returns a logger that records into a new Log, and the Log.
func NewLogger() (*slog.Logger, *Log) {
	l := &Log{}
	return slog.New(l), l
}

// Enabled implements slog.Handler: every level is kept.
func (l *Log) Enabled(context.Context, slog.Level) bool { return true }

// Handle implements slog.Handler.
func (l *Log) Handle(_ context.Context, r slog.Record) error {
	rec := Record{Level: r.Level, Message: r.Message, Attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.Attrs[a.Key] = a.Value.Resolve().Any()
		return true
	})
	l.mu.Lock()
	l.records = append(l.records, rec)
	l.mu.Unlock()
	return nil
}

// WithAttrs implements slog.Handler; the engine does not use it, and the
// attributes are dropped.
func (l *Log) WithAttrs([]slog.Attr) slog.Handler { return l }

// WithGroup implements slog.Handler; the group is dropped.
func (l *Log) WithGroup(string) slog.Handler { return l }

// Records returns the records whose message contains substr, oldest first.
func (l *Log) Records(substr string) []Record {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Record
	for _, r := range l.records {
		if strings.Contains(r.Message, substr) {
			out = append(out, r)
		}
	}
	return out
}

// Eventually polls cond every millisecond until it holds, and fails the
// test, naming what, if it does not within WaitTimeout: it is
// testutil.Poll's Eventually, the one polling helper of Kiln's tests.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	testutil.Poll{Timeout: WaitTimeout, Interval: time.Millisecond}.Eventually(t, what, cond)
}
