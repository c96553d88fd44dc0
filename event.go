package kiln

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind says what happened to a job.
type EventKind string

const (
	// EventJobStarted: this process began an attempt.
	EventJobStarted EventKind = "job_started"
	// EventJobCompleted: an attempt succeeded.
	EventJobCompleted EventKind = "job_completed"
	// EventJobFailed: an attempt failed and the job will be retried.
	EventJobFailed EventKind = "job_failed"
	// EventJobDiscarded: the last allowed attempt failed.
	EventJobDiscarded EventKind = "job_discarded"
	// EventJobCancelled: the job was cancelled while running.
	EventJobCancelled EventKind = "job_cancelled"
	// EventJobSnoozed: the worker postponed the job with JobSnooze.
	EventJobSnoozed EventKind = "job_snoozed"
	// EventJobInterrupted: shutdown stopped the attempt; the job is
	// available again.
	EventJobInterrupted EventKind = "job_interrupted"
	// EventJobRescued: the rescuer took back a job whose lease expired.
	EventJobRescued EventKind = "job_rescued"
)

// Event is something that happened to a job in this process. Job is the
// job's row as it is after the event (a copy the receiver may keep).
// Read Job and Attempt, never write through them: Job's time fields may
// point to values shared with other jobs' rows (those claimed or
// finished with it: see JobRow) and with the engine's record of the
// attempt, which decides whether the attempt's outcome is written;
// Attempt is the engine's own record of the attempt. Copy a value to
// change it.
type Event struct {
	Kind EventKind // what happened
	At   time.Time // when, UTC
	Job  *JobRow   // the job's row after the event; read-only
	// Attempt is the attempt that ended, for every kind but started and
	// rescued; read-only.
	Attempt *JobAttempt
}

// events fans events out to subscribers. A slow subscriber loses events
// rather than slowing jobs down (as River's subscriptions do).
type events struct {
	mu   sync.Mutex // guards subs; kinds is written under it
	subs []*subscription
	// kinds has the kindBit of every kind some subscriber takes (every
	// bit for one that takes every kind): wanted reads it without mu, as
	// it is asked twice per job.
	kinds atomic.Uint32
}

type subscription struct {
	ch    chan *Event
	kinds map[EventKind]bool // nil: every kind
	// bits has the kindBit of each kind in kinds: emit tests it first,
	// and looks kinds up only for the kinds this package does not define
	// (they share a bit).
	bits uint32
}

// takes reports whether s takes events of kind.
func (s *subscription) takes(kind EventKind) bool {
	if s.kinds == nil {
		return true
	}
	bit := kindBit(kind)
	if s.bits&bit == 0 {
		return false
	}
	return bit != otherKindsBit || s.kinds[kind]
}

// kindBit returns kind's bit in events.kinds; the kinds this package does
// not define share one bit.
func kindBit(kind EventKind) uint32 {
	switch kind {
	case EventJobStarted:
		return 1 << 0
	case EventJobCompleted:
		return 1 << 1
	case EventJobFailed:
		return 1 << 2
	case EventJobDiscarded:
		return 1 << 3
	case EventJobCancelled:
		return 1 << 4
	case EventJobSnoozed:
		return 1 << 5
	case EventJobInterrupted:
		return 1 << 6
	case EventJobRescued:
		return 1 << 7
	}
	return otherKindsBit
}

// otherKindsBit is the kindBit of the kinds this package does not define.
const otherKindsBit = 1 << 31

// setWantedLocked recomputes e.kinds from e.subs; e.mu is held.
func (e *events) setWantedLocked() {
	var bits uint32
	for _, s := range e.subs {
		if s.kinds == nil {
			bits = ^uint32(0)
			break
		}
		for k := range s.kinds {
			bits |= kindBit(k)
		}
	}
	e.kinds.Store(bits)
}

// subscribeBuffer is the size of each subscription's channel.
const subscribeBuffer = 1024

// Subscribe returns a channel that receives this process's job events of
// the given kinds (every kind if none are given), and a function that ends
// the subscription and closes the channel. Events are sent without waiting:
// when the channel's buffer (1024 events) is full, events are dropped. The
// subscription outlives Stop and Start; only the returned function ends it.
func (c *Client) Subscribe(kinds ...EventKind) (<-chan *Event, func()) {
	s := &subscription{ch: make(chan *Event, subscribeBuffer)}
	if len(kinds) > 0 {
		s.kinds = make(map[EventKind]bool, len(kinds))
		for _, k := range kinds {
			s.kinds[k] = true
			s.bits |= kindBit(k)
		}
	}
	e := &c.events
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = append(e.subs, s)
	e.setWantedLocked()
	return s.ch, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if i := slices.Index(e.subs, s); i >= 0 {
			e.subs = slices.Delete(e.subs, i, i+1)
			e.setWantedLocked()
			close(s.ch)
		}
	}
}

// wanted reports whether a subscriber takes events of kind, so that the
// caller can skip building one that no one would receive.
// It may report true for a kind that no subscriber takes (kinds this
// package does not define share a bit), never false for one that a
// subscriber takes; emit sends to the subscribers of the kind alone.
func (e *events) wanted(kind EventKind) bool {
	return e.kinds.Load()&kindBit(kind) != 0
}

func (e *events) emit(ev *Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.subs {
		if !s.takes(ev.Kind) {
			continue
		}
		select {
		case s.ch <- ev:
		default:
		}
	}
}
