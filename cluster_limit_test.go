package kiln_test

import (
	"path/filepath"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

// clusterWorker is a blockingWorker whose kind is capped across processes.
type clusterWorker struct {
	*blockingWorker
	limit int
}

func (w clusterWorker) ClusterMaxConcurrency() int { return w.limit }

// TestClusterMaxConcurrency: two processes (clients on their own stores,
// one database file), each with 10 free workers, never run more than the
// kind's cluster limit at once, and run all the jobs.
func TestClusterMaxConcurrency(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "kiln.db")
	w := newBlockingWorker() // shared by both processes: its peak is the cluster's
	const limit, jobs = 2, 8
	var clients []*kiln.Client
	for range 2 {
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, clusterWorker{w, limit})
		cfg := fastConfig(openStore(t, path), workers, newClock())
		cfg.Queues = map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 10}}
		clients = append(clients, startClient(t, cfg))
	}
	var ids []int64
	for i := range jobs {
		ids = append(ids, clienttest.Enqueue(t, clients[i%2], testArgs{N: i}, nil).ID)
	}
	// Both slots fill; then each release frees a slot that lets the next
	// job start, in either process.
	for range limit {
		<-w.started
	}
	for range jobs - limit {
		w.release <- struct{}{}
		<-w.started
	}
	for range limit {
		w.release <- struct{}{}
	}
	for _, id := range ids {
		clienttest.WaitState(t, clients[0], id, kiln.JobStateCompleted)
	}
	if peak := w.peak.Load(); peak != limit {
		t.Fatalf("at most %d jobs ran at once across both processes; want exactly the limit, %d", peak, limit)
	}
}
