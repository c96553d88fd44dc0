// Package heartbeat keeps a process's running jobs alive and listening: it
// renews their leases before they expire, and polls for cancels requested by
// other processes so that a running job's context is cancelled within one
// poll interval of the request.
package heartbeat

import (
	"context"
	"log/slog"
	"time"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/service"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Config configures a Heartbeat. Every field is required.
type Config struct {
	Store         store.Store
	ServerID      string
	LeaseDuration time.Duration // leases are renewed every third of it
	PollInterval  time.Duration // how often cancel requests are read
	Now           func() time.Time
	Logger        *slog.Logger
	// Running returns the jobs this process holds.
	Running func() []*kilntype.JobRow
	// Cancel cancels a running job's context with cause.
	Cancel func(id int64, cause error)
	// Finishing reports whether a job's worker has returned, its outcome
	// being written or written since Running listed it (so a renewal may
	// miss it without the lease being lost).
	Finishing func(id int64) bool
}

// Heartbeat renews leases and relays cancel requests. Create it with New.
type Heartbeat struct {
	cfg    Config
	runner service.Runner
}

// New returns a Heartbeat; Start runs it.
func New(cfg Config) *Heartbeat { return &Heartbeat{cfg: cfg} }

// Start starts the loop.
func (h *Heartbeat) Start(ctx context.Context) { h.runner.Start(ctx, h.run) }

// Stop stops the loop and waits for it.
func (h *Heartbeat) Stop() { h.runner.Stop() }

// run polls cancels every PollInterval and renews leases every third of
// LeaseDuration, on one ticker as fast as the quicker of the two; a failed
// renewal is tried again at the next tick.
func (h *Heartbeat) run(ctx context.Context) {
	renewEvery := h.cfg.LeaseDuration / 3
	tick := min(h.cfg.PollInterval, renewEvery)
	var lastRenew, lastPoll time.Time // zero: due
	service.Every(ctx, tick, func(ctx context.Context) {
		rows := h.cfg.Running()
		if len(rows) == 0 {
			return
		}
		now := time.Now()
		// Each call is bounded by the renewal period: a renewal later than
		// that is worth less than the next one.
		if now.Sub(lastPoll) >= h.cfg.PollInterval-tick/2 {
			lastPoll = now
			service.Bounded(ctx, renewEvery, h.pollCancels)
		}
		if now.Sub(lastRenew) >= renewEvery-tick/2 {
			service.Bounded(ctx, renewEvery, func(ctx context.Context) {
				if h.renew(ctx, rows) {
					lastRenew = now
				}
			})
		}
	})
}

func (h *Heartbeat) pollCancels(ctx context.Context) {
	ids, err := h.cfg.Store.JobListCancelRequested(ctx, &store.JobListCancelRequestedParams{LeasedBy: h.cfg.ServerID})
	if err != nil {
		if !service.Stopping(ctx) {
			h.cfg.Logger.Warn("kiln: cannot read cancel requests", "err", err)
		}
		return
	}
	for _, id := range ids {
		h.cfg.Cancel(id, jobexec.ErrCancelRequested)
	}
}

// renew renews the leases of rows and reports whether the store answered.
func (h *Heartbeat) renew(ctx context.Context, rows []*kilntype.JobRow) bool {
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	now := h.cfg.Now()
	renewed, err := h.cfg.Store.JobLeaseRenew(ctx, &store.JobLeaseRenewParams{
		LeasedBy: h.cfg.ServerID, IDs: ids, LeaseExpiresAt: now.Add(h.cfg.LeaseDuration), Now: now,
	})
	if err != nil {
		if !service.Stopping(ctx) {
			h.cfg.Logger.Error("kiln: cannot renew job leases; jobs may be rescued by another process", "jobs", len(ids), "err", err)
		}
		return false
	}
	if len(renewed) == len(ids) {
		return true
	}
	kept := make(map[int64]bool, len(renewed))
	for _, id := range renewed {
		kept[id] = true
	}
	for _, r := range rows {
		// A job whose outcome was written since Running() was read is not
		// renewed either, and Finishing says so.
		if !kept[r.ID] && !h.cfg.Finishing(r.ID) {
			h.cfg.Logger.Warn("kiln: job lease lost; cancelling this copy", "job_id", r.ID, "kind", r.Kind)
			h.cfg.Cancel(r.ID, jobexec.ErrLeaseLost)
		}
	}
	return true
}
