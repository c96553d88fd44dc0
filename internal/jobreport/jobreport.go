// Package jobreport writes what a running job reports about itself, its
// progress and its log lines, to the store, so that any process can read
// them while the job runs. One Reporter serves one attempt.
//
// Reports are coalesced: a job writes at most once per Interval (the
// client's is 250 ms). A report made when the last write is older than that
// is written at once, by the caller; one made sooner is kept, with those
// that follow it, and written by a timer when the interval has passed.
// Close writes what is left when the worker returns, so the last progress
// and the last lines are never lost to coalescing. Writes apply only while
// the job is still leased by this process under this attempt's claim
// (store.JobProgressStore checks it); once the store refuses one, every
// later report fails fast with an error wrapping jobexec.ErrLeaseLost.
package jobreport

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// The bounds of what a job keeps.
const (
	// MaxLines is how many of a job's newest log lines the store keeps;
	// older ones are deleted as new ones come, and a Reporter holds at
	// most this many unwritten lines (dropping the oldest).
	MaxLines = 1000
	// MaxLineBytes is the longest log line kept, in bytes of UTF-8; a
	// longer one is cut at a character boundary and ends with "…".
	MaxLineBytes = 2048
	// DefaultInterval is the client's Interval: the least time between two
	// writes of one job's reports.
	DefaultInterval = 250 * time.Millisecond
)

// writeTimeout bounds the timer's writes, which no caller waits for: a
// write that fails puts its reports back, for the next one.
const writeTimeout = 5 * time.Second

// Close's bounds: it tries to write what is left, again after each
// failure (a wait of closeRetryFirst, doubling up to closeRetryMax), for
// up to closeTimeout in all, the completer's bound for one write of an
// outcome. Nothing writes the reports after Close, so a single try bounded
// by writeTimeout lost a job's last lines whenever the store was slow for
// a few seconds (1,000 lines on SQLite under -race at load 25 took longer,
// and TestJobLogBounds found 1 or 4 lines of 1,000).
const (
	closeTimeout    = 30 * time.Second
	closeRetryFirst = 50 * time.Millisecond
	closeRetryMax   = 2 * time.Second
)

// Config is shared by the Reporters of one client.
type Config struct {
	Store store.JobProgressStore
	// Now is the client's clock: it dates log lines.
	Now func() time.Time
	// Interval is the least time between two writes of one job (real time,
	// as loop pacing is); 0 writes every report at once.
	Interval time.Duration
	Logger   *slog.Logger
}

// Reporter collects and writes one attempt's reports. Its methods are safe
// for concurrent use; a nil *Reporter (a job not run by a client, or a
// store without progress) validates reports and records nothing.
type Reporter struct {
	cfg   *Config
	lease store.JobReportLease

	mu   sync.Mutex
	idle sync.Cond // signalled under mu when writing becomes false; L is &mu
	// Guarded by mu:
	progress int  // the latest progress reported
	dirty    bool // progress differs from the last written
	written  int  // the last progress written, -1 before the first
	lines    []store.JobLogAppendLine
	last     time.Time   // when the last write started
	writing  bool        // a write is under way
	timer    *time.Timer // non-nil while a timed write is armed
	lost     error       // set once the store refused a write
	failing  bool        // the last write failed (logged once)
	closed   bool

	timed sync.WaitGroup // one count per armed timer, until its write returns
}

// New returns the Reporter of row's attempt (row as claimed), or nil when
// cfg is nil.
func New(cfg *Config, row *kilntype.JobRow) *Reporter {
	if cfg == nil {
		return nil
	}
	r := &Reporter{cfg: cfg, written: -1, lease: store.JobReportLease{ID: row.ID, LeasedBy: row.LeasedBy}}
	if row.AttemptedAt != nil {
		r.lease.AttemptedAt = *row.AttemptedAt
	}
	r.idle.L = &r.mu // a field, not sync.NewCond: one allocation fewer per job
	return r
}

// Progress reports the attempt's progress in percent. It returns an error
// if percent is outside 0 to 100, if the attempt has ended, if the job's
// lease is lost (wrapping jobexec.ErrLeaseLost) or if a write made now
// failed.
func (r *Reporter) Progress(ctx context.Context, percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("progress %d%% out of range 0 to 100", percent)
	}
	if r == nil {
		return nil
	}
	r.mu.Lock()
	if err := r.usable(); err != nil {
		r.mu.Unlock()
		return err
	}
	r.progress = percent
	r.dirty = percent != r.written
	return r.changed(ctx)
}

// Log reports one log line. message is made valid UTF-8 without NUL bytes
// (each bad byte becomes U+FFFD), stripped of trailing line breaks and cut
// to MaxLineBytes. Errors are as Progress's.
func (r *Reporter) Log(ctx context.Context, message string) error {
	if r == nil {
		return nil
	}
	line := store.JobLogAppendLine{At: r.cfg.Now(), Message: cleanLine(message)}
	r.mu.Lock()
	if err := r.usable(); err != nil {
		r.mu.Unlock()
		return err
	}
	if len(r.lines) == MaxLines {
		copy(r.lines, r.lines[1:])
		r.lines = r.lines[:MaxLines-1]
	}
	r.lines = append(r.lines, line)
	return r.changed(ctx)
}

// Close ends the attempt's reports: it waits for writes under way, then
// writes what is left, under ctx's values but not its cancellation (the
// job's context may be done), trying again after a failed write, for up
// to 30 s in all (closeTimeout); what is still unwritten then is given up
// with an error logged. Reports made after Close fail. Closing twice is
// harmless.
func (r *Reporter) Close(ctx context.Context) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.closed = true
	if r.timer != nil && r.timer.Stop() {
		r.timer = nil
		r.timed.Done()
	}
	r.mu.Unlock()
	r.timed.Wait()
	r.mu.Lock()
	for r.writing {
		r.idle.Wait()
	}
	if r.lost != nil || !r.pending() {
		r.mu.Unlock()
		return
	}
	b := r.take()
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
	defer cancel()
	for wait := closeRetryFirst; r.write(ctx, b) != nil; wait = min(2*wait, closeRetryMax) {
		// A failed write put its reports back; a refused one (the lease
		// is lost) dropped them, and ends the reports.
		r.mu.Lock()
		if r.lost != nil || !r.pending() {
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			r.cfg.Logger.Error("kiln: gave up recording a job's last progress and log lines", "job_id", r.lease.ID,
				"lines", len(b.lines), "err", ctx.Err())
			return
		case <-t.C:
		}
		r.mu.Lock()
		b = r.take()
		r.mu.Unlock()
	}
}

// usable returns why reports are refused, if they are. mu must be held.
func (r *Reporter) usable() error {
	switch {
	case r.lost != nil:
		return r.lost
	case r.closed:
		return fmt.Errorf("kiln: job %d: its attempt has ended; reports are no longer recorded", r.lease.ID)
	}
	return nil
}

// pending reports whether something is left to write. mu must be held.
func (r *Reporter) pending() bool { return r.dirty || len(r.lines) > 0 }

// changed writes the reports now, under ctx, if the interval since the
// last write has passed, no write is under way and ctx is not done, and
// otherwise arms the timer. mu must be held; changed releases it.
func (r *Reporter) changed(ctx context.Context) error {
	if !r.pending() {
		r.mu.Unlock()
		return nil
	}
	// A done ctx (the job timed out or was cancelled) cannot carry the
	// write: the timer writes with a context of its own.
	if r.writing || time.Since(r.last) < r.cfg.Interval || ctx.Err() != nil {
		r.arm()
		r.mu.Unlock()
		return nil
	}
	b := r.take()
	r.mu.Unlock()
	return r.write(ctx, b)
}

// batch is what one write carries.
type batch struct {
	progress    int
	hasProgress bool
	lines       []store.JobLogAppendLine
}

// take moves the pending reports into a batch and marks a write under way.
// mu must be held.
func (r *Reporter) take() batch {
	b := batch{progress: r.progress, hasProgress: r.dirty, lines: r.lines}
	r.dirty, r.lines = false, nil
	r.writing, r.last = true, time.Now()
	return b
}

// write writes b, then records the outcome: a refused write makes the
// Reporter refuse every later report; a failed one puts b back to be
// written again after the interval, under newer reports.
func (r *Reporter) write(ctx context.Context, b batch) error {
	err := r.store(ctx, b)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writing = false
	r.idle.Broadcast()
	switch {
	case err == nil:
		r.failing = false
		if b.hasProgress {
			r.written = b.progress
			r.dirty = r.progress != r.written
		}
	case errors.Is(err, jobexec.ErrLeaseLost):
		r.lost, r.dirty, r.lines = err, false, nil
	default:
		if !r.failing {
			r.cfg.Logger.Warn("kiln: cannot record job progress or log lines; retrying", "job_id", r.lease.ID, "err", err)
		}
		r.failing = true
		if b.hasProgress && !r.dirty {
			r.progress, r.dirty = b.progress, true
		}
		r.lines = append(b.lines, r.lines...)
		r.lines = r.lines[max(len(r.lines)-MaxLines, 0):]
	}
	if r.pending() && !r.closed {
		r.arm()
	}
	return err
}

// store writes b to the store: the progress, then the lines.
func (r *Reporter) store(ctx context.Context, b batch) error {
	refused := fmt.Errorf("kiln: job %d: reports not recorded: %w", r.lease.ID, jobexec.ErrLeaseLost)
	if b.hasProgress {
		ok, err := r.cfg.Store.JobProgressSet(ctx, &store.JobProgressSetParams{JobReportLease: r.lease, Progress: b.progress})
		if err != nil {
			return fmt.Errorf("kiln: job %d: record progress: %w", r.lease.ID, err)
		}
		if !ok {
			return refused
		}
	}
	if len(b.lines) > 0 {
		ok, err := r.cfg.Store.JobLogAppend(ctx, &store.JobLogAppendParams{JobReportLease: r.lease, Lines: b.lines, Keep: MaxLines})
		if err != nil {
			return fmt.Errorf("kiln: job %d: record log lines: %w", r.lease.ID, err)
		}
		if !ok {
			return refused
		}
	}
	return nil
}

// arm makes the timer write the pending reports once the interval since
// the last write has passed, unless it is armed already. mu must be held.
func (r *Reporter) arm() {
	if r.timer != nil {
		return
	}
	r.timed.Add(1)
	r.timer = time.AfterFunc(max(r.cfg.Interval-time.Since(r.last), 0), r.fire)
}

// fire is the timer's write.
func (r *Reporter) fire() {
	defer r.timed.Done()
	r.mu.Lock()
	r.timer = nil
	// A write under way re-arms the timer when it ends, if need be.
	if r.closed || r.writing || !r.pending() {
		r.mu.Unlock()
		return
	}
	b := r.take()
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	r.write(ctx, b)
}

// cleanLine makes message a storable log line: valid UTF-8 without NUL
// bytes (PostgreSQL's text refuses both), without trailing line breaks,
// at most MaxLineBytes long.
func cleanLine(message string) string {
	message = strings.ToValidUTF8(message, "\uFFFD")
	message = strings.ReplaceAll(message, "\x00", "\uFFFD")
	message = strings.TrimRight(message, "\r\n")
	if len(message) <= MaxLineBytes {
		return message
	}
	const ellipsis = "…"
	cut := MaxLineBytes - len(ellipsis)
	for cut > 0 && !utf8.RuneStart(message[cut]) {
		cut--
	}
	return message[:cut] + ellipsis
}
