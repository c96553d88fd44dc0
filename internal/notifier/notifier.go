// Package notifier relays a store's notifications to the engine of one
// process: a job inserted into a queue wakes that queue's producer, a
// cancel requested for a job cancels its context if it runs here, and a
// subscription that may have missed notifications wakes every queue.
// Notifications only make things happen sooner: producers and the
// heartbeat poll in any case, and take over when notifications are lost or
// the store cannot deliver them.
package notifier

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/store"
)

// Config configures a Notifier. Every field is required.
type Config struct {
	Store  store.Notifier
	Logger *slog.Logger
	// Wake makes the producer of queue, if this process runs one, claim at
	// once (store.TopicInsert).
	Wake func(queue string)
	// WakeAll makes every producer of this process claim at once (after
	// notifications may have been lost).
	WakeAll func()
	// Cancel cancels job id's context if it runs in this process
	// (store.TopicCancel).
	Cancel func(id int64)
	// StartWait bounds how long Start waits for the first attempt to
	// subscribe (a store whose Listen never answers); 0 means
	// service.CallTimeout (30 s). Optional.
	StartWait time.Duration
}

// listenRetryMax caps the backoff between attempts to subscribe.
const listenRetryMax = time.Minute

// Notifier subscribes to the store's insert and cancel topics and calls
// Config's functions for what it receives. Create it with New. A nil
// *Notifier is valid and does nothing.
type Notifier struct {
	cfg    Config
	runner service.Runner
	// listening is whether the subscription is up: set once Listen
	// succeeds and when a lost connection is restored, cleared when the
	// connection fails and when the Notifier stops.
	listening atomic.Bool
}

// New returns a Notifier; Start runs it.
func New(cfg Config) *Notifier { return &Notifier{cfg: cfg} }

// Start subscribes and returns once notifications are received, or once
// the first attempt failed: then the Notifier logs a warning and tries
// again, with a backoff of up to a minute, until it succeeds or stops.
// Each time it subscribes it calls WakeAll, for the jobs inserted before.
// A first attempt that has not answered within Config.StartWait (a
// store that accepts the call and never replies) does not hold Start
// either: Start logs a warning and returns, not listening, while the
// attempt goes on (jobs are found by polling meanwhile); Stop ends it.
// Starting a started Notifier does nothing.
func (n *Notifier) Start(ctx context.Context) {
	if n == nil {
		return
	}
	ready := make(chan struct{})
	if !n.runner.Start(ctx, func(ctx context.Context) { n.run(ctx, ready) }) {
		return
	}
	wait := n.cfg.StartWait
	if wait <= 0 {
		wait = service.CallTimeout
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ready:
	case <-timer.C:
		n.cfg.Logger.Warn("kiln: no answer to the subscription for notifications yet; jobs are found by polling meanwhile",
			"waited", wait)
	}
}

// Listening reports whether the Notifier holds a working subscription, so
// that every insert notification sent from now on reaches Wake (a
// connection lost since, and not yet noticed, is the exception: its
// restoration calls WakeAll). It is false before Start's subscription, from
// the moment the subscription's connection fails until it is restored,
// while the store holds notifications back (store.Notification.Held, until
// Resumed: a VACUUM on the subscription's connection), and after Stop; a
// nil Notifier is not listening.
func (n *Notifier) Listening() bool {
	return n != nil && n.listening.Load()
}

// Stop ends the subscription and returns once no function of Config runs
// nor will be called. Stopping a stopped or nil Notifier does nothing.
func (n *Notifier) Stop() {
	if n == nil {
		return
	}
	n.runner.Stop()
}

// run subscribes, closes ready after the first attempt, and holds the
// subscription until ctx is done.
func (n *Notifier) run(ctx context.Context, ready chan<- struct{}) {
	params := &store.ListenParams{
		Topics:  []string{store.TopicInsert, store.TopicCancel},
		Handle:  n.handle,
		OnError: n.onError,
	}
	for failures := 0; ; {
		sub, err := n.cfg.Store.Listen(ctx, params)
		if err == nil {
			n.listening.Store(true) // before ready: Start returns listening
		}
		if ready != nil {
			close(ready)
			ready = nil
		}
		if err == nil {
			if failures > 0 {
				n.cfg.Logger.Info("kiln: listening for notifications")
			}
			// Jobs inserted before the subscription began were not
			// announced to it; a look at every queue finds them, whether
			// or not the producers have started yet.
			n.cfg.WakeAll()
			<-ctx.Done()
			n.listening.Store(false)
			sub.Close()
			return
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		wait := service.Backoff(failures, listenRetryMax)
		n.cfg.Logger.Warn("kiln: cannot listen for notifications; jobs are found by polling meanwhile",
			"try", failures, "retry_in", wait, "err", err)
		if !service.Sleep(ctx, wait) {
			return
		}
	}
}

// handle acts on one notification, on the subscription's goroutine.
func (n *Notifier) handle(note store.Notification) {
	switch {
	case note.Lost:
		n.cfg.Logger.Info("kiln: listening for notifications again")
		n.listening.Store(true)
		n.cfg.WakeAll()
	case note.Held:
		// Notifications arrive late for a while (a VACUUM runs on the
		// subscription's connection): reporting that nothing listens makes
		// the client wake its fetchers for its own inserts at once. An
		// insert committed just before, whose enqueue did not wake them
		// (its notification was to), would wait behind the statement: one
		// look at every queue finds it.
		n.listening.Store(false)
		n.cfg.WakeAll()
	case note.Resumed:
		n.listening.Store(true)
	case note.Topic == store.TopicInsert:
		n.cfg.Wake(note.Payload)
	case note.Topic == store.TopicCancel:
		id, err := strconv.ParseInt(note.Payload, 10, 64)
		if err != nil {
			n.cfg.Logger.Warn("kiln: ignoring a cancel notification without a job ID", "payload", note.Payload)
			return
		}
		n.cfg.Cancel(id)
	}
}

// onError logs a lost subscription connection; the subscription restores
// it by itself.
func (n *Notifier) onError(err error, failures int, wait time.Duration) {
	n.listening.Store(false)
	n.cfg.Logger.Warn("kiln: notifications interrupted; jobs are found by polling meanwhile",
		"try", failures, "retry_in", wait, "err", err)
}
