package kiln

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// ConcurrencyLimitState is a kind's concurrency limits and their use as
// Client.ConcurrencyLimits shows them: the limits its worker declares
// (MaxConcurrency, ClusterMaxConcurrency, PartitionMaxConcurrency), its
// running jobs in every process and in this one, and its busiest partition
// keys; re-exported from kilntype.
type ConcurrencyLimitState = kilntype.ConcurrencyLimitState

// KeyRunning is how many jobs of a kind with one partition key run now
// (ConcurrencyLimitState.BusiestKeys); re-exported from kilntype.
type KeyRunning = kilntype.KeyRunning

// ConcurrencyBusiestKeys is how many of a kind's busiest partition keys
// Client.ConcurrencyLimits shows (ConcurrencyLimitState.BusiestKeys).
const ConcurrencyBusiestKeys = 10

// ConcurrencyLimits returns, sorted by kind, the concurrency limits of
// each kind whose worker, registered with this client, declares one
// (Worker.MaxConcurrency, Worker.ClusterMaxConcurrency or
// WorkerWithPartitionLimit.PartitionMaxConcurrency), with their use: how
// many of its jobs run now in every process sharing the store, how many
// in this process (0 when the client is not started), and, for a kind with
// a per-key limit, how many partition keys have a running job and the
// ConcurrencyBusiestKeys busiest. Concurrency limits are set in code: the
// limits are this client's workers', and other processes may declare
// others. The counts are read from the store in one statement
// (store.JobStore.JobRunningCount: as many index entries as jobs run);
// there is no call to the store when no kind has a limit (nil, nil). An
// error is the store's, wrapped.
func (c *Client) ConcurrencyLimits(ctx context.Context) ([]*ConcurrencyLimitState, error) {
	var (
		out         []*ConcurrencyLimitState
		kinds, keys []string
	)
	for _, k := range c.cfg.Workers.Kinds() {
		e, _ := c.cfg.Workers.entry(k)
		pc, _ := e.partitioned()
		st := &ConcurrencyLimitState{Kind: k, MaxConcurrency: max(e.maxConcurrency(), 0),
			ClusterMaxConcurrency: max(e.clusterMaxConcurrency(), 0), PartitionMaxConcurrency: max(pc.MaxRunning, 0)}
		if st.MaxConcurrency == 0 && st.ClusterMaxConcurrency == 0 && st.PartitionMaxConcurrency == 0 {
			continue
		}
		out, kinds = append(out, st), append(kinds, k)
		if st.PartitionMaxConcurrency > 0 {
			keys = append(keys, k)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	counts, err := c.cfg.Store.JobRunningCount(ctx, &store.JobRunningCountParams{Kinds: kinds, PartitionKinds: keys,
		MaxKeys: ConcurrencyBusiestKeys})
	if err != nil {
		return nil, fmt.Errorf("kiln: list concurrency limits: %w", err)
	}
	here := map[string]int{}
	for _, row := range c.runningJobs() {
		here[row.Kind]++
	}
	for _, st := range out {
		st.Running, st.RunningHere = counts.ByKind[st.Kind], here[st.Kind]
		st.BusiestKeys = []KeyRunning{}
		if pr := counts.ByKey[st.Kind]; pr != nil {
			st.Keys, st.BusiestKeys = pr.Keys, pr.Busiest
		}
	}
	return out, nil
}
