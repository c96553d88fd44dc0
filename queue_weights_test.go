package kiln_test

import (
	"context"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
)

// TestQueueWeightsConfig checks the pool's settings: clear errors for
// out-of-range values and for weights or strict order without a pool, and
// the defaults (a queue's own cap is the pool), without changing the
// caller's map.
func TestQueueWeightsConfig(t *testing.T) {
	t.Parallel()
	st := openStore(t, "")
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	q := func(maxWorkers, weight int) kiln.QueueConfig {
		return kiln.QueueConfig{MaxWorkers: maxWorkers, Weight: weight}
	}
	for _, tc := range []struct {
		name    string
		pool    int
		strict  bool
		queues  map[string]kiln.QueueConfig
		wantErr string
	}{
		{"negative pool", -1, false, nil, "Config.MaxWorkers is -1; want 1 to 10000, or 0"},
		{"pool too large", 10_001, false, nil, "Config.MaxWorkers is 10001"},
		{"strict without pool", 0, true, nil, "Config.StrictPriority orders the queues of a pool; set Config.MaxWorkers"},
		{"weight without pool", 0, false, map[string]kiln.QueueConfig{"a": q(5, 2)},
			`Config.Queues["a"].Weight is 2, but weights share a pool that is not set; set Config.MaxWorkers`},
		{"negative weight", 10, false, map[string]kiln.QueueConfig{"a": q(0, -3)}, `Config.Queues["a"].Weight is -3; want 1 to 1000000, or 0 for 1`},
		{"weight too large", 10, false, map[string]kiln.QueueConfig{"a": q(0, 1_000_001)}, `Config.Queues["a"].Weight is 1000001`},
		{"negative own cap", 10, false, map[string]kiln.QueueConfig{"a": q(-1, 1)}, `Config.Queues["a"].MaxWorkers is -1; want 1 to 10000, or 0 for the whole pool`},
		{"no cap without pool", 0, false, map[string]kiln.QueueConfig{"a": q(0, 0)}, `Config.Queues["a"].MaxWorkers is 0; want 1 to 10000`},
	} {
		_, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, MaxWorkers: tc.pool, StrictPriority: tc.strict, Queues: tc.queues})
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: NewClient error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
	for _, tc := range []struct {
		name   string
		pool   int
		strict bool
		queues map[string]kiln.QueueConfig
	}{
		{"no pool (the old way)", 0, false, map[string]kiln.QueueConfig{"a": q(5, 0)}},
		{"pool with default queue", 10, false, nil},
		{"pool with weights and caps", 10, false, map[string]kiln.QueueConfig{"a": q(0, 6), "b": q(3, 3), "c": q(50, 0)}},
		{"strict pool", 10, true, map[string]kiln.QueueConfig{"a": q(0, 2), "b": q(0, 1)}},
	} {
		before := maps.Clone(tc.queues)
		if _, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, MaxWorkers: tc.pool, StrictPriority: tc.strict, Queues: tc.queues}); err != nil {
			t.Errorf("%s: NewClient: %v", tc.name, err)
		}
		if !maps.Equal(before, tc.queues) {
			t.Errorf("%s: NewClient changed the caller's Queues to %v", tc.name, tc.queues)
		}
	}
}

// TestQueueWeightsOnSQLite runs real jobs of two queues of weights 3 and 1
// through a pool of 4 on SQLite: never more than 4 run at once, and while
// both queues have jobs waiting, "critical" starts about 3 of every 4 (by
// the time its 40th job starts, "low" has started 13 ± 4); then "low", alone,
// runs on the whole pool.
func TestQueueWeightsOnSQLite(t *testing.T) {
	t.Parallel()
	var (
		mu              sync.Mutex // guards the fields below
		running, most   int
		starts          []string // queues, in start order
		critical        int      // starts of critical
		lowWhenCritDone = -1     // starts of low when critical's last job started
	)
	release := make(chan struct{})
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error {
		mu.Lock()
		running++
		most = max(most, running)
		starts = append(starts, job.Queue)
		if job.Queue == "critical" {
			if critical++; critical == 40 {
				lowWhenCritDone = len(starts) - critical
			}
		}
		mu.Unlock()
		select { // jobs end as the test lets them, so that the pool stays full
		case <-release:
		case <-ctx.Done():
		}
		mu.Lock()
		running--
		mu.Unlock()
		return nil
	}))
	cfg := fastConfig(openStore(t, ""), workers, newClock())
	cfg.MaxWorkers = 4
	cfg.Queues = map[string]kiln.QueueConfig{"critical": {Weight: 3}, "low": {Weight: 1}}
	c, err := kiln.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var params []kiln.EnqueueParams
	for i := range 40 {
		for _, queue := range []string{"critical", "low"} {
			params = append(params, kiln.EnqueueParams{Args: testArgs{N: i}, Opts: &kiln.EnqueueOpts{Queue: queue}})
		}
	}
	ctx := context.Background()
	if _, err := c.EnqueueMany(ctx, params); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(release)
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	startedN := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(starts)
	}
	// Let two jobs end at a time, each time once the pool is full again.
	for n := 4; n <= 80; n += 2 {
		testutil.Eventually(t, "a full pool", func() bool { return startedN() >= n })
		if n < 80 {
			release <- struct{}{}
			release <- struct{}{}
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if most > 4 {
		t.Errorf("%d jobs ran at once in a pool of 4", most)
	}
	if lowWhenCritDone < 9 || lowWhenCritDone > 17 {
		t.Errorf("low had started %d jobs when critical's 40th started, want 13 ± 4 (3 to 1); starts %v", lowWhenCritDone, starts)
	}
}
