package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/bench/internal/floor"
)

// floorSystem is the raw-SQL floor (package floor): the batched
// statements any PostgreSQL job queue must run per job, with no engine.
// It has no latency figures: it sends no notifications, and its fetch
// loop polls every --floor-poll-interval when it finds nothing.
type floorSystem struct{}

func (floorSystem) name() string { return "floor" }

// floorRig is the floor's table on a fresh schema, with a pool of
// --max-conns connections.
type floorRig struct {
	o      *options
	pool   *pgxpool.Pool
	table  *floor.Table
	runner *floor.Runner
	comps  *completions
	drop   func()
}

func openFloor(ctx context.Context, o *options) (_ *floorRig, err error) {
	f := &floorRig{o: o, comps: newCompletions()}
	schema := freshSchema("floor_compare_")
	if f.drop, err = createSchema(ctx, o.database, schema); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.close())
		}
	}()
	database, err := withAppName(o.database)
	if err != nil {
		return f, err
	}
	if f.pool, err = newPool(ctx, database, o.maxConns); err != nil {
		return f, err
	}
	f.table, err = floor.Create(ctx, f.pool, schema)
	return f, err
}

// start starts the floor's workers.
func (f *floorRig) start(ctx context.Context) (err error) {
	f.runner, err = f.table.Start(ctx, floor.Config{
		Workers: f.o.workers, ClaimMax: f.o.floorClaimMax, PollInterval: f.o.floorPollInterval,
		OnCompleted: f.comps.addN,
	})
	return err
}

// close stops the workers and drops the schema.
func (f *floorRig) close() error {
	var err error
	if f.runner != nil {
		err = f.runner.Stop()
		f.runner = nil
	}
	if f.pool != nil {
		f.pool.Close()
	}
	f.drop()
	return err
}

// runnerErr returns the error that stopped the runner, if any.
func (f *floorRig) runnerErr() error {
	if f.runner == nil {
		return nil
	}
	return f.runner.Err()
}

func (floorSystem) run(ctx context.Context, o *options, _ int) (_ *result, err error) {
	f, err := openFloor(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, f.close()) }()
	r := &result{jobs: o.jobs}

	// 1. Bulk enqueue.
	began := time.Now()
	for done := 0; done < o.jobs; done += batchSize {
		if err := f.table.InsertN(ctx, done, min(batchSize, o.jobs-done)); err != nil {
			return nil, err
		}
	}
	r.enqueueRate = perSecond(o.jobs, time.Since(began))

	// 2. Burn-down.
	b := startBurnDown(r, pgBackends(ctx, f.pool))
	if err := f.start(ctx); err != nil {
		return nil, err
	}
	last, missed, err := f.comps.waitCount(ctx, o.jobs, func(ctx context.Context) (bool, error) {
		if err := f.runnerErr(); err != nil {
			return false, err
		}
		left, err := f.table.CountLeft(ctx)
		return left == 0, err
	})
	if err != nil {
		return nil, err
	}
	b.stop(last)
	if missed > 0 {
		return nil, fmt.Errorf("burn-down: %d completions not counted", missed)
	}
	return r, f.runnerErr()
}

func (floorSystem) continuous(ctx context.Context, o *options, _ int) (_ *result, err error) {
	f, err := openFloor(ctx, o)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, f.close()) }()
	return runContinuous(ctx, o, &contRig{
		insert: func(ctx context.Context, first, n int) error {
			if err := f.table.InsertN(ctx, first, n); err != nil {
				return err
			}
			if f.runner != nil {
				f.runner.Wake() // as an enqueue wakes Kiln's producer in its process
			}
			return nil
		},
		start:     f.start,
		available: f.table.CountAvailable,
		completed: func(context.Context) (int, error) {
			if err := f.runnerErr(); err != nil {
				return 0, err
			}
			return int(f.comps.n.Load()), nil
		},
		events:  f.comps,
		servers: pgBackends(ctx, f.pool),
	})
}
