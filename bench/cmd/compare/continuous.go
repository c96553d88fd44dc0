package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kilnjobs/kiln/bench/internal/measure"
)

// burnDown measures one burn-down: CPU time of this process and of the
// database backends, and the peak RSS of this process, from its start
// to stop.
type burnDown struct {
	r     *result
	cpu   *measure.CPUMeter
	began time.Time
}

// startBurnDown resets the peak RSS and starts measuring the CPU of this
// process and of servers; call it just before the workers start.
func startBurnDown(r *result, servers func() []int) *burnDown {
	if err := measure.ResetPeakRSS(); err != nil {
		r.notes = append(r.notes, err.Error())
	}
	return &burnDown{r: r, cpu: measure.StartCPU(servers), began: time.Now()}
}

// stop records the figures of a burn-down whose last job completed at
// last.
func (b *burnDown) stop(last time.Time) {
	b.r.burnClientCPU, b.r.burnServerCPU = b.cpu.Stop()
	b.r.burnDownRate = perSecond(b.r.jobs, last.Sub(b.began))
	if rss, err := measure.PeakRSS(); err == nil {
		b.r.peakRSS = rss
	} else {
		b.r.notes = append(b.r.notes, err.Error())
	}
}

// contRig is what the continuous mode needs of a system whose workers
// are not started yet, on a fresh schema.
type contRig struct {
	// insert stores n jobs, {"n": first} onwards, in one call.
	insert func(ctx context.Context, first, n int) error
	// start starts the workers.
	start func(ctx context.Context) error
	// available counts the jobs waiting in the database.
	available func(ctx context.Context) (int, error)
	// completed counts the jobs completed, from the database (or, for the
	// floor, from its completer, which counts after each commit).
	completed func(ctx context.Context) (int, error)
	// events counts completion events in this process; the inserter
	// keeps the backlog from it, as River's benchmark does.
	events *completions
	// servers lists the database backends whose CPU is counted.
	servers func() []int
}

// insertPeriod is how often the continuous inserter tops the backlog up
// (River's benchmark: 250 ms).
const insertPeriod = 250 * time.Millisecond

// runContinuous runs the continuous mode (--duration) on rig: like
// `river bench --duration`, it inserts jobs until --backlog wait, starts
// the workers, and then, every insertPeriod, one inserter tops the
// backlog (jobs inserted − completion events counted) up to --backlog, in
// batches of batchSize. It reports the completed jobs per second over
// --duration (from the database's counts at the start and the end), the
// rate in each third of the window, and the queue length (available
// jobs) at the start, the middle and the end.
func runContinuous(ctx context.Context, o *options, rig *contRig) (*result, error) {
	r := &result{}
	var inserted int
	insertBatch := func(ctx context.Context) error {
		if err := rig.insert(ctx, inserted, batchSize); err != nil {
			return fmt.Errorf("insert: %w", err)
		}
		inserted += batchSize
		return nil
	}
	for inserted < o.backlog {
		if err := insertBatch(ctx); err != nil {
			return nil, err
		}
	}
	q0, err := rig.available(ctx)
	if err != nil {
		return nil, err
	}
	c0, err := rig.completed(ctx)
	if err != nil {
		return nil, err
	}

	cpu := measure.StartCPU(rig.servers)
	began := time.Now()
	if err := rig.start(ctx); err != nil {
		return nil, err
	}

	// The inserter.
	stopInsert := make(chan struct{})
	var insertErr error
	var insertedDuring int
	var wg sync.WaitGroup
	wg.Go(func() {
		first := inserted
		defer func() { insertedDuring = inserted - first }()
		tick := time.NewTicker(insertPeriod)
		defer tick.Stop()
		for {
			select {
			case <-stopInsert:
				return
			case <-ctx.Done():
				insertErr = ctx.Err()
				return
			case <-tick.C:
			}
			for inserted-int(rig.events.n.Load()) < o.backlog {
				if insertErr = insertBatch(ctx); insertErr != nil {
					return
				}
				select {
				case <-stopInsert:
					return
				default:
				}
			}
		}
	})
	var stopOnce sync.Once
	stopInserter := func() error {
		stopOnce.Do(func() {
			close(stopInsert)
			wg.Wait()
		})
		return insertErr
	}
	defer stopInserter()

	// Checkpoints: the completed count at each third, the queue length at
	// the middle and the end; the completion events each second go to the
	// notes.
	type mark struct {
		at time.Time
		n  int // completed, from rig.completed
	}
	marks := []mark{{began, c0}}
	var qMid, qEnd int
	checkpoints := []struct {
		at     time.Duration
		action func(ctx context.Context) error
	}{
		{o.duration / 3, nil},
		{o.duration / 2, func(ctx context.Context) (err error) { qMid, err = rig.available(ctx); return err }},
		{2 * o.duration / 3, nil},
		{o.duration, func(ctx context.Context) (err error) { qEnd, err = rig.available(ctx); return err }},
	}
	var series []int64
	lastEvents := int64(0)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for _, cp := range checkpoints {
		due := time.NewTimer(time.Until(began.Add(cp.at)))
	wait:
		for {
			select {
			case <-ctx.Done():
				due.Stop()
				return nil, ctx.Err()
			case <-tick.C:
				n := rig.events.n.Load()
				series = append(series, n-lastEvents)
				lastEvents = n
			case <-due.C:
				break wait
			}
		}
		if cp.action == nil || cp.at == o.duration {
			n, err := rig.completed(ctx)
			if err != nil {
				return nil, err
			}
			marks = append(marks, mark{time.Now(), n})
		}
		if cp.action != nil {
			if err := cp.action(ctx); err != nil {
				return nil, err
			}
		}
	}
	if err := stopInserter(); err != nil {
		return nil, err
	}
	r.burnClientCPU, r.burnServerCPU = cpu.Stop()

	end := marks[len(marks)-1]
	r.jobs = end.n - c0
	r.burnDownRate = perSecond(r.jobs, end.at.Sub(began))
	for i := range 3 {
		r.thirds[i] = perSecond(marks[i+1].n-marks[i].n, marks[i+1].at.Sub(marks[i].at))
	}
	r.queue = [3]int{q0, qMid, qEnd}
	r.inserted = insertedDuring
	var b strings.Builder
	for i, n := range series {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(comma(n))
	}
	r.notes = append(r.notes, fmt.Sprintf("completion events per second: %s", b.String()))
	return r, nil
}
