package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

type kilnArgs struct {
	N int `json:"n"`
}

func (kilnArgs) Kind() string { return "bench.noop" }

type kilnSystem struct{}

func (kilnSystem) name() string { return "kiln" }

func (kilnSystem) run(ctx context.Context, o *options, round int) (_ *result, err error) {
	schema := freshSchema("kiln_compare_")
	database, err := withAppName(o.database)
	if err != nil {
		return nil, err
	}
	st, err := postgres.Open(ctx, database, &postgres.Options{Schema: schema, MaxConns: int32(o.maxConns), Migrate: true})
	if err != nil {
		return nil, err
	}
	drop := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := st.Pool().Exec(dctx, `DROP SCHEMA "`+schema+`" CASCADE`); err != nil {
			fmt.Printf("compare: drop schema %s: %v\n", schema, err)
		}
		st.Close()
	}
	defer drop()

	logs := newQuietLogger()
	p := newProbe()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[kilnArgs]) error {
		p.started()
		return nil
	}))
	var kst store.Store = st
	var traced *tracedStore
	if o.kilnTrace {
		traced = newTracedStore(st)
		kst = traced.asStore()
	}
	// tracePhase adds the trace of the phase that took wall to the notes.
	tracePhase := func(r *result, phase string, wall time.Duration) {
		if traced != nil {
			r.notes = append(r.notes, traced.report(phase, wall)...)
		}
	}
	if _, ok := kst.(store.Notifier); !ok {
		return nil, errors.New("the store given to the Kiln client sends no notifications (store.Notifier): enqueues from another client would wait for a poll")
	}
	client, err := kiln.NewClient(&kiln.Config{
		Store: kst, Workers: workers, Logger: logs.logger("kiln"),
		Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: o.workers}},
	})
	if err != nil {
		return nil, err
	}
	profile := func(phase string) bool { return round == 0 && o.kilnProfilePart == phase }
	r := &result{}

	// 1. Bulk enqueue.
	err = withProfile(profile("enqueue"), o.kilnCPUProfile, func() error {
		began := time.Now()
		batch := make([]kiln.EnqueueParams, 0, batchSize)
		for done := 0; done < o.jobs; {
			batch = batch[:0]
			for i := done; i < min(done+batchSize, o.jobs); i++ {
				batch = append(batch, kiln.EnqueueParams{Args: kilnArgs{N: i}})
			}
			if _, err := client.EnqueueMany(ctx, batch); err != nil {
				return err
			}
			done += len(batch)
		}
		took := time.Since(began)
		r.enqueueRate = perSecond(o.jobs, took)
		tracePhase(r, "enqueue", took)
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 2. Burn-down.
	comps := newCompletions()
	events, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
	counted := make(chan struct{})
	go func() {
		defer close(counted)
		for ev := range events {
			comps.add(ev.Job.ID)
		}
	}()
	defer func() {
		unsubscribe()
		<-counted
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = errors.Join(err, client.Stop(sctx))
	}()
	err = withProfile(profile("burn-down"), o.kilnCPUProfile, func() error {
		cpu := startCPU(pgBackends(ctx, st.Pool()))
		began := time.Now()
		if err := client.Start(ctx); err != nil {
			return err
		}
		last, missed, err := comps.waitCount(ctx, o.jobs, func(ctx context.Context) (bool, error) {
			counts, err := client.JobCountByState(ctx)
			if err != nil {
				return false, err
			}
			left := counts[kiln.JobStateAvailable] + counts[kiln.JobStateRunning] + counts[kiln.JobStateRetryable] + counts[kiln.JobStateScheduled]
			return left == 0, nil
		})
		if err != nil {
			return err
		}
		r.burnClientCPU, r.burnServerCPU = cpu.stop()
		r.burnDownRate = perSecond(o.jobs, last.Sub(began))
		tracePhase(r, "burn-down", last.Sub(began))
		if missed > 0 {
			r.notes = append(r.notes, fmt.Sprintf("burn-down: %d completion events dropped; end time from the last one seen", missed))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}

	// 3. Latency: through the client that runs the workers, whose enqueues
	// wake its producer at once; then through an enqueue-only client on a
	// pool of its own: its inserts send a notification (pg_notify, in the
	// insert's transaction), which the notifier of the client that runs the
	// workers receives (LISTEN) and turns into a wake of its producer. The
	// enqueue-only client runs no queue, so it listens to nothing.
	if o.samples > 0 {
		comps.track.Store(true)
		enqueueWith := func(c *kiln.Client) func(ctx context.Context, i int) (func() error, error) {
			return func(ctx context.Context, i int) (func() error, error) {
				res, err := c.Enqueue(ctx, kilnArgs{N: i}, nil)
				if err != nil {
					return nil, err
				}
				return comps.waitFor(ctx, res.Job.ID), nil
			}
		}
		err = withProfile(profile("latency"), o.kilnCPUProfile, func() error {
			began := time.Now()
			r.latIn, err = p.measure(ctx, o.samples, enqueueWith(client))
			tracePhase(r, "in-process latency", time.Since(began))
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("in-process latency: %w", err)
		}
		st2, err := postgres.Open(ctx, database, &postgres.Options{Schema: schema, MaxConns: int32(o.maxConns)})
		if err != nil {
			return nil, err
		}
		defer st2.Close()
		other, err := kiln.NewClient(&kiln.Config{Store: st2, Logger: logs.logger("kiln-enqueuer")})
		if err != nil {
			return nil, err
		}
		r.latCross, err = p.measure(ctx, o.samples, enqueueWith(other))
		if err != nil {
			return nil, fmt.Errorf("cross-client latency: %w", err)
		}
	}
	r.notes = append(r.notes, logs.notes()...)
	return r, nil
}
