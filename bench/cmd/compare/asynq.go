package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"github.com/kilnjobs/kiln/bench/internal/measure"
)

const asynqTaskType = "bench:noop"

type asynqSystem struct{}

func (asynqSystem) name() string { return "asynq" }

func (asynqSystem) run(ctx context.Context, o *options, _ int) (_ *result, err error) {
	rdb := redis.NewClient(&redis.Options{Addr: o.redisAddr, DB: o.redisDB})
	defer rdb.Close()
	flush := func() error { return rdb.FlushDB(context.WithoutCancel(ctx)).Err() }
	if err := flush(); err != nil {
		return nil, fmt.Errorf("flush Redis db %d: %w", o.redisDB, err)
	}
	defer flush()

	opt := asynq.RedisClientOpt{Addr: o.redisAddr, DB: o.redisDB, PoolSize: max(o.asynqEnqueuers, 10)}
	client := asynq.NewClient(opt)
	defer client.Close()
	inspector := asynq.NewInspector(asynq.RedisClientOpt{Addr: o.redisAddr, DB: o.redisDB})
	defer inspector.Close()

	p := newProbe()
	var handled atomic.Int64
	mux := asynq.NewServeMux()
	mux.HandleFunc(asynqTaskType, func(context.Context, *asynq.Task) error {
		p.started()
		handled.Add(1)
		return nil
	})
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: o.workers, LogLevel: asynq.ErrorLevel})
	r := &result{jobs: o.jobs}

	// 1. Bulk enqueue: no batch API, so concurrent single enqueues.
	began := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, o.asynqEnqueuers)
	for g := range o.asynqEnqueuers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.jobs {
					return
				}
				task := asynq.NewTask(asynqTaskType, []byte(`{"n":`+strconv.Itoa(i)+`}`))
				if _, err := client.EnqueueContext(ctx, task); err != nil {
					errs[g] = err
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.enqueueRate = perSecond(o.jobs, time.Since(began))

	// 2. Burn-down: the handlers count; then the queue must show no pending
	// or active task (the server acknowledges each task right after its
	// handler returns).
	b := startBurnDown(r, measure.Processes("redis-server"))
	if err := srv.Start(mux); err != nil {
		return nil, err
	}
	defer srv.Shutdown()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		if handled.Load() < int64(o.jobs) {
			continue
		}
		q, err := inspector.GetQueueInfo("default")
		if err != nil {
			return nil, err
		}
		if q.Pending+q.Active+q.Retry+q.Scheduled == 0 {
			break
		}
	}
	b.stop(time.Now())

	// 3. Latency: Asynq's client is always separate from its server (the
	// server finds new tasks by polling Redis, TaskCheckInterval), so there
	// is only the cross-client figure.
	if o.samples > 0 {
		other := asynq.NewClient(asynq.RedisClientOpt{Addr: o.redisAddr, DB: o.redisDB})
		defer other.Close()
		r.latCross, err = p.measure(ctx, o.samples, func(ctx context.Context, i int) (func() error, error) {
			info, err := other.EnqueueContext(ctx, asynq.NewTask(asynqTaskType, []byte(`{"n":`+strconv.Itoa(i)+`}`)))
			if err != nil {
				return nil, err
			}
			return func() error { return asynqWaitDone(ctx, inspector, info.Queue, info.ID) }, nil
		})
		if err != nil {
			return nil, fmt.Errorf("latency: %w", err)
		}
	}
	return r, nil
}

func (asynqSystem) continuous(context.Context, *options, int) (*result, error) {
	return nil, errors.New("--duration: the continuous mode runs kiln, river and floor, not asynq")
}

// asynqWaitDone waits until task id is no longer pending or active: with
// no retention it is deleted once done.
func asynqWaitDone(ctx context.Context, inspector *asynq.Inspector, queue, id string) error {
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		info, err := inspector.GetTaskInfo(queue, id)
		switch {
		case errors.Is(err, asynq.ErrTaskNotFound):
			return nil
		case err != nil:
			return err
		case info.State == asynq.TaskStateCompleted:
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
		}
	}
	return fmt.Errorf("task %s did not complete within %s", id, waitTimeout)
}
