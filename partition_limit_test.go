package kiln_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// keyedWorker runs tenantArgs jobs with a per-key cap, blocking each job
// until released, and records the most jobs of one key seen running at
// once, across every client that shares it.
type keyedWorker struct {
	kiln.WorkerDefaults[tenantArgs]
	limit   int
	started chan string
	release chan struct{}

	// mu guards running and peak.
	mu      sync.Mutex
	running map[string]int
	peak    map[string]int
}

func newKeyedWorker(limit int) *keyedWorker {
	return &keyedWorker{limit: limit, started: make(chan string, 1000), release: make(chan struct{}),
		running: map[string]int{}, peak: map[string]int{}}
}

func (w *keyedWorker) PartitionMaxConcurrency() int { return w.limit }

func (w *keyedWorker) Work(ctx context.Context, job *kiln.Job[tenantArgs]) error {
	key := job.Partition
	w.mu.Lock()
	w.running[key]++
	w.peak[key] = max(w.peak[key], w.running[key])
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		w.running[key]--
		w.mu.Unlock()
	}()
	w.started <- key
	select {
	case <-w.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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
			// Known defect, open in issue 13: this test stalls, on
			// PostgreSQL (3 processes; reproduced in the first of 30
			// runs) and on SQLite (2 processes; within 5 runs), found
			// 2026-12-05: the processes keep claiming, no job is running,
			// and the test's next release has no job to receive it.
			// Whether the per-key claim stops taking due jobs or the
			// test miscounts its handshakes is not known yet; until it
			// is, the cross-process per-key limit is not shown to make
			// progress, and the test does not run.
			t.Skip("stalls (known defect, open in issue 13): see the comment above")
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
				clients = append(clients, startClient(t, cfg))
			}
			var ids []int64
			for i := range keys * perKey {
				args := tenantArgs{Tenant: string(rune('a' + i%keys)), N: i}
				ids = append(ids, clienttest.Enqueue(t, clients[i%len(clients)], args, nil).ID)
			}
			// Every key fills its slots; then each release frees a slot
			// that lets one more job start, in any process.
			total := keys * perKey
			for range keys * limit {
				<-w.started
			}
			for range total - keys*limit {
				w.release <- struct{}{}
				<-w.started
			}
			for range keys * limit {
				w.release <- struct{}{}
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
