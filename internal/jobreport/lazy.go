package jobreport

import (
	"context"
	"sync"

	"github.com/kilnjobs/kiln/kilntype"
)

// Lazy is the Reporter of one attempt, made at the attempt's first report:
// most attempts report nothing, and a Reporter (~200 bytes, with its lock,
// condition and wait group) was made and closed for each of them. A Lazy
// is a few words, kept in the attempt's work unit.
//
// Its methods behave as the Reporter's: a report made after Close fails as
// a closed Reporter's does. Init it before use and do not copy it after;
// its methods are safe for concurrent use. A nil *Lazy (a job not run by a
// client, or a store without progress) validates reports and records
// nothing, as a nil *Reporter does.
type Lazy struct {
	cfg *Config
	row *kilntype.JobRow

	mu     sync.Mutex // guards r and closed
	r      *Reporter  // nil until the first report
	closed bool       // Close was called
}

// Init sets l up for row's attempt (row as claimed), and returns l, or nil
// when cfg is nil.
func (l *Lazy) Init(cfg *Config, row *kilntype.JobRow) *Lazy {
	if cfg == nil {
		return nil
	}
	l.cfg, l.row = cfg, row
	return l
}

// reporter returns the attempt's Reporter, made now if this is its first
// report (closed at once if l is closed), or nil if l is nil.
func (l *Lazy) reporter() *Reporter {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.r == nil {
		l.r = New(l.cfg, l.row)
		l.r.closed = l.closed // not shared yet: no lock needed
	}
	return l.r
}

// Progress is Reporter.Progress.
func (l *Lazy) Progress(ctx context.Context, percent int) error {
	return l.reporter().Progress(ctx, percent)
}

// Log is Reporter.Log.
func (l *Lazy) Log(ctx context.Context, message string) error {
	return l.reporter().Log(ctx, message)
}

// Close is Reporter.Close: it writes what the attempt reported and is left
// unwritten, if it reported anything, and ends its reports.
func (l *Lazy) Close(ctx context.Context) {
	if l == nil {
		return
	}
	l.mu.Lock()
	l.closed = true
	r := l.r
	l.mu.Unlock()
	r.Close(ctx)
}
