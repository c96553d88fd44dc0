package kiln

import (
	"context"
	"errors"
	"fmt"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/jobreport"
	"github.com/kilnjobs/kiln/internal/testhook"
	"github.com/kilnjobs/kiln/store"
)

// The hooks package kilntest uses (see internal/testhook).
func init() {
	testhook.Unit = func(workers any, row *JobRow, report *jobreport.Config) (jobexec.WorkUnit, bool) {
		return workers.(*Workers).unitFor(row, report, nil)
	}
	testhook.Exec = func(client any) *jobexec.Settings {
		s := *client.(*Client).exec
		return &s
	}
	testhook.Store = func(client any) store.Store { return client.(*Client).cfg.Store }
	testhook.DrainStep = func(ctx context.Context, client any, queue string) (*JobRow, *store.JobFinishParams, error) {
		return client.(*Client).drainStep(ctx, queue)
	}
}

// drainMax bounds the jobs one drain step moves to available or releases.
const drainMax = 10_000

// drainStep is testhook.DrainStep: one synchronous step of a drain, for
// a client that is not started.
func (c *Client) drainStep(ctx context.Context, queue string) (*JobRow, *store.JobFinishParams, error) {
	if c.isRunning() {
		return nil, nil, errors.New("kiln: drain: the client is started; drain a client that is not")
	}
	if c.cfg.Workers == nil {
		return nil, nil, errors.New("kiln: drain: Config.Workers is nil")
	}
	now := c.now()
	if _, err := c.cfg.Store.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: now, Max: drainMax}); err != nil {
		return nil, nil, fmt.Errorf("kiln: drain: %w", err)
	}
	if _, err := c.cfg.Store.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: now, Max: drainMax}); err != nil {
		return nil, nil, fmt.Errorf("kiln: drain: %w", err)
	}
	rows, err := c.cfg.Store.JobClaim(ctx, &store.JobClaimParams{
		Queue: queue, Max: 1, Kinds: c.cfg.Workers.Kinds(), AnyKind: c.cfg.StrictKinds, FromFront: true,
		LeasedBy: c.cfg.ID, LeaseExpiresAt: now.Add(c.cfg.LeaseDuration), Now: now,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("kiln: drain: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil, nil
	}
	row := rows[0]
	c.onStart(row)
	unit, _ := c.jobUnits().Unit(row)
	params := jobexec.Run(ctx, c.exec, row, unit)
	moved, err := c.cfg.Store.JobFinishMany(ctx, []*store.JobFinishParams{params})
	if err != nil {
		return row, params, fmt.Errorf("kiln: drain: record the outcome of job %d: %w", row.ID, err)
	}
	if len(moved) == 1 {
		c.onFinish(row, params)
	}
	return row, params, nil
}
