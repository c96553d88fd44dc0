package kiln_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// keyedWorker runs tenantArgs jobs with a per-key cap, blocking each job
// until the test releases that job, and records the most jobs of one key
// seen running at once, across every client that shares it.
type keyedWorker struct {
	kiln.WorkerDefaults[tenantArgs]
	limit   int
	started chan keyedStart

	// mu guards running, peak and release.
	mu      sync.Mutex
	running map[string]int
	peak    map[string]int
	release map[int64]chan struct{} // by job ID, made when the test releases or the job starts
}

// keyedStart is an attempt that began.
type keyedStart struct {
	id      int64
	key     string
	attempt int
}

func newKeyedWorker(limit int) *keyedWorker {
	return &keyedWorker{limit: limit, started: make(chan keyedStart, 1000),
		running: map[string]int{}, peak: map[string]int{}, release: map[int64]chan struct{}{}}
}

func (w *keyedWorker) PartitionMaxConcurrency() int { return w.limit }

// Timeout is none: the test holds each job until it releases it, which
// took over the default minute on a loaded machine (the job timed out and
// its key's slot freed early).
func (w *keyedWorker) Timeout(*kiln.Job[tenantArgs]) time.Duration { return -1 }

// releaseChan is job id's release channel.
func (w *keyedWorker) releaseChan(id int64) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch, ok := w.release[id]
	if !ok {
		ch = make(chan struct{})
		w.release[id] = ch
	}
	return ch
}

// finish lets job id's attempt return nil.
func (w *keyedWorker) finish(id int64) { close(w.releaseChan(id)) }

func (w *keyedWorker) Work(ctx context.Context, job *kiln.Job[tenantArgs]) error {
	key := job.Partition
	release := w.releaseChan(job.ID)
	w.mu.Lock()
	w.running[key]++
	w.peak[key] = max(w.peak[key], w.running[key])
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running[key]--
		w.mu.Unlock()
	}()
	w.started <- keyedStart{id: job.ID, key: key, attempt: job.Attempt}
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// jobStates lists c's jobs (the first 100) as "id key state attempt", for
// a failure message.
func jobStates(t *testing.T, c *kiln.Client) string {
	t.Helper()
	res, err := c.JobList(context.Background(), &kiln.JobListParams{OrderAsc: true, Limit: 100})
	if err != nil {
		return fmt.Sprintf("(cannot list them: %v)", err)
	}
	var b strings.Builder
	for _, j := range res.Jobs {
		fmt.Fprintf(&b, "\n\t%d %q %s attempt %d", j.ID, j.Partition, j.State, j.Attempt)
	}
	return b.String()
}

// TestPartitionMaxConcurrencyAcrossProcesses: clients that share one store
// (3 on PostgreSQL, 2 on one SQLite file), each with more free workers
// than the keys' limits add up to, never run more than the per-key limit
// of one key's jobs at once, and run them all.
func TestPartitionMaxConcurrencyAcrossProcesses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		clients int
		open    func(t *testing.T) func() store.Store
	}{
		{"SQLite", 2, func(t *testing.T) func() store.Store {
			path := filepath.Join(t.TempDir(), "kiln.db")
			return func() store.Store { return openStore(t, path) }
		}},
		{"PostgreSQL", 3, func(t *testing.T) func() store.Store {
			url, schema := pgtest.URL(t), pgtest.Schema(t)
			first := true
			return func() store.Store {
				st := openPostgres(t, url, schema, first)
				first = false
				return st
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const limit, keys, perKey = 2, 4, 5
			w := newKeyedWorker(limit)
			open := tc.open(t)
			var clients []*kiln.Client
			for range tc.clients {
				workers := kiln.NewWorkers()
				kiln.AddWorker(workers, kiln.Worker[tenantArgs](w))
				cfg := fastConfig(nil, workers, newClock())
				cfg.Store = open()
				cfg.Queues = map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 10}}
				// The limit is what is tested, not leases: on a loaded
				// machine renewals can fail for longer than the default
				// 20 s (they did on SQLite's busy writer), and a rescued
				// job would run twice (rescue_test.go covers that).
				cfg.LeaseDuration = 10 * time.Minute
				clients = append(clients, startClient(t, cfg))
			}
			var ids []int64
			for i := range keys * perKey {
				args := tenantArgs{Tenant: string(rune('a' + i%keys)), N: i}
				ids = append(ids, clienttest.Enqueue(t, clients[i%len(clients)], args, nil).ID)
			}
			// Every key fills its slots. Then the test releases the
			// oldest running job of a key that still has jobs waiting:
			// that frees the only slot that can take a job (every other
			// key runs at its limit), so the next start, in any process,
			// must be of that key. When no key has jobs waiting the rest
			// are released.
			total := keys * perKey
			byKey := map[string][]int64{} // running job IDs of each key, oldest first
			startedOf := map[string]int{}
			startedIDs := map[int64]bool{}
			receive := func(what string) keyedStart {
				st := testutil.Receive(t, w.started, what, nil)
				if startedIDs[st.id] {
					t.Fatalf("job %d (key %q) started twice", st.id, st.key)
				}
				startedIDs[st.id] = true
				if st.attempt != 1 {
					t.Fatalf("job %d (key %q) started attempt %d; each job should run once", st.id, st.key, st.attempt)
				}
				byKey[st.key] = append(byKey[st.key], st.id)
				startedOf[st.key]++
				return st
			}
			for range keys * limit {
				receive("the first jobs of every key to start")
			}
			for started := keys * limit; started < total; started++ {
				key := ""
				for k, n := range startedOf {
					if n < perKey && (key == "" || k < key) {
						key = k
					}
				}
				if key == "" {
					t.Fatalf("%d of %d jobs started, but every key's jobs have: %v", started, total, startedOf)
				}
				w.finish(byKey[key][0])
				byKey[key] = byKey[key][1:]
				if st := receive(fmt.Sprintf("a job of key %q to start in the slot its finished job freed", key)); st.key != key {
					t.Fatalf("job %d of key %q started when only key %q had a free slot; running per key %v, jobs: %s",
						st.id, st.key, key, byKey, jobStates(t, clients[0]))
				}
			}
			for _, running := range byKey {
				for _, id := range running {
					w.finish(id)
				}
			}
			for _, id := range ids {
				clienttest.WaitState(t, clients[0], id, kiln.JobStateCompleted)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			for key, peak := range w.peak {
				if peak != limit {
					t.Errorf("key %q: at most %d jobs ran at once across %d processes; want exactly the limit, %d", key, peak, tc.clients, limit)
				}
			}
		})
	}
}

// TestFinishUnderPartitionLimitClaimsNext: when a claim comes back short
// because every key with waiting jobs runs at its limit, the finish of a
// job of such a key makes the process claim again at once, not at its next
// poll (an hour here: without that claim the next job of the key would
// not start). Before, a burn-down of 100 keys with a limit of 1 ran one
// claim per FetchPollInterval: 500 jobs/s instead of thousands.
func TestFinishUnderPartitionLimitClaimsNext(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		open func(t *testing.T) store.Store
	}{
		{"SQLite", func(t *testing.T) store.Store { return openStore(t, filepath.Join(t.TempDir(), "kiln.db")) }},
		{"PostgreSQL", func(t *testing.T) store.Store { return openPostgres(t, pgtest.URL(t), pgtest.Schema(t), true) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newKeyedWorker(1)
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, kiln.Worker[tenantArgs](w))
			cfg := fastConfig(nil, workers, newClock())
			cfg.Store = tc.open(t)
			cfg.FetchPollInterval = time.Hour
			cfg.Queues = map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 10}}
			c := startClient(t, cfg)
			const perKey = 3
			for i := range 2 * perKey {
				clienttest.Enqueue(t, c, tenantArgs{Tenant: string(rune('a' + i%2)), N: i}, nil)
			}
			running := map[string]int64{}
			for range 2 {
				st := testutil.Receive(t, w.started, "the first job of each key to start", nil)
				running[st.key] = st.id
			}
			// Each key runs at its limit of 1, with jobs waiting: each
			// finish must start the key's next job.
			for i := range 2 * (perKey - 1) {
				key := string(rune('a' + i%2))
				w.finish(running[key])
				st := testutil.Receive(t, w.started, "the next job of key "+key+" after a finish", nil)
				if st.key != key {
					t.Fatalf("job %d of key %q started after the finish of a job of key %q", st.id, st.key, key)
				}
				running[key] = st.id
			}
			for _, id := range running {
				w.finish(id)
			}
		})
	}
}
