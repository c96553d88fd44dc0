package kiln

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

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

// KindLimits are the limits a worker of one kind declares in code
// (concurrency limits and default rate limits), as each started client
// publishes them with its row of the server registry (ServerRow.Limits);
// re-exported from kilntype.
type KindLimits = kilntype.KindLimits

// declaredLimits returns the limits the workers of ws declare in code,
// one entry per kind that declares one, sorted by kind.
func (ws *Workers) declaredLimits() []KindLimits {
	out := []KindLimits{}
	for _, k := range ws.Kinds() {
		e, _ := ws.entry(k)
		pc, _ := e.partitioned()
		l := KindLimits{Kind: k, MaxConcurrency: max(e.maxConcurrency(), 0),
			ClusterMaxConcurrency: max(e.clusterMaxConcurrency(), 0), PartitionMaxConcurrency: max(pc.MaxRunning, 0)}
		if r := e.rateLimit(); r.Enabled() {
			l.RateLimit = &r
		}
		if r := e.keyRateLimit(); r.Enabled() {
			l.PartitionRateLimit = &r
		}
		if l != (KindLimits{Kind: k}) {
			out = append(out, l)
		}
	}
	return out
}

// knownLimits returns the declared limits of every kind this client
// knows of, by kind: those of its own workers, and, for the kinds it has
// no worker for, those the live processes sharing the store published
// (ServerList; when processes declare different limits for a kind, as in
// a rolling deploy, those of the one started last).
func (c *Client) knownLimits(ctx context.Context) (map[string]KindLimits, error) {
	out := map[string]KindLimits{}
	for _, l := range c.cfg.Workers.declaredLimits() {
		out[l.Kind] = l
	}
	servers, err := c.cfg.Store.ServerList(ctx)
	if err != nil {
		return nil, err
	}
	started := map[string]time.Time{}
	for _, s := range servers {
		for _, l := range s.Limits {
			if _, own := c.cfg.Workers.entry(l.Kind); own {
				continue
			}
			if at, seen := started[l.Kind]; !seen || s.StartedAt.After(at) {
				out[l.Kind], started[l.Kind] = l, s.StartedAt
			}
		}
	}
	return out, nil
}

// ConcurrencyLimits returns, sorted by kind, the concurrency limits of
// each kind whose worker declares one (Worker.MaxConcurrency,
// Worker.ClusterMaxConcurrency or
// WorkerWithPartitionLimit.PartitionMaxConcurrency), with their use: how
// many of its jobs run now in every process sharing the store, how many
// in this process (0 when the client is not started or has no worker of
// the kind), and, for a kind with a per-key limit, how many partition
// keys have a running job and the ConcurrencyBusiestKeys busiest.
// Concurrency limits are set in code: a kind's limits are those of this
// client's worker, and for the kinds it has no worker for, those that the
// live processes running them published in the server registry
// (ServerRow.Limits; see KindLimits), so that a process that runs no
// workers, such as a web process serving the dashboard, shows them too.
// The running counts are read from the store in one statement
// (store.JobStore.JobRunningCount: as many index entries as jobs run),
// after the server registry; nil when no kind has a limit. An error is
// the store's, wrapped.
func (c *Client) ConcurrencyLimits(ctx context.Context) ([]*ConcurrencyLimitState, error) {
	known, err := c.knownLimits(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: list concurrency limits: %w", err)
	}
	var (
		out         []*ConcurrencyLimitState
		kinds, keys []string
	)
	for _, k := range slices.Sorted(maps.Keys(known)) {
		l := known[k]
		if l.MaxConcurrency == 0 && l.ClusterMaxConcurrency == 0 && l.PartitionMaxConcurrency == 0 {
			continue
		}
		out = append(out, &ConcurrencyLimitState{Kind: k, MaxConcurrency: l.MaxConcurrency,
			ClusterMaxConcurrency: l.ClusterMaxConcurrency, PartitionMaxConcurrency: l.PartitionMaxConcurrency})
		kinds = append(kinds, k)
		if l.PartitionMaxConcurrency > 0 {
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
