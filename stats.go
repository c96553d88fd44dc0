package kiln

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Stats is how many jobs the store holds in each state, overall and per
// queue, and how many attempts ended in each, as the statistics of
// Hangfire's dashboard. It is read in one snapshot from counters that the
// database keeps in the transaction of every change to a job, so the counts are exact and cost the same with a
// thousand jobs or a million: cheap enough to poll every second.
type Stats struct {
	// Total is the number of jobs in the store, in any state.
	Total int `json:"total"`
	// States counts the jobs of every queue by state. Every state (the
	// JobState constants) is present, with 0 when no job is in it.
	States map[JobState]int `json:"states"`
	// Finished counts the attempts that ended since the store's counters
	// began (its schema migration 007), by the state they moved their job
	// to: completed; retryable or discarded (the attempt failed);
	// cancelled; scheduled (snoozed); available (given back at shutdown).
	// The counts never decrease, whatever happens to the jobs after, so
	// the difference between two reads is the throughput between them (a
	// live graph, or a Prometheus counter). Those six states are always
	// present.
	Finished map[JobState]int `json:"finished"`
	// Queues holds the counts of each queue that has a job or a finished
	// attempt, ordered by name (bytewise).
	Queues []QueueStats `json:"queues"`
}

// QueueStats is the counts of one queue: its jobs by state and its
// finished attempts, as in Stats.
type QueueStats struct {
	Name  string `json:"name"`  // the queue's name
	Total int    `json:"total"` // the queue's jobs, in every state
	// States counts the queue's jobs by state; every state (the JobState
	// constants) is present, with 0 when no job is in it.
	States map[JobState]int `json:"states"`
	// Finished counts the queue's attempts by the state they ended in, as
	// Stats.Finished does.
	Finished map[JobState]int `json:"finished"`
}

// HistoryPoint is the throughput of one time bucket: the attempts that
// completed their job, and those that failed it (it became retryable or
// discarded), with the bucket's start in UTC. An attempt counts in the
// minute the maintenance leader recorded it, within seconds of its end.
type HistoryPoint struct {
	// At is the bucket's start, in UTC.
	At        time.Time `json:"at"`
	Completed int       `json:"completed"` // attempts that completed their job
	Failed    int       `json:"failed"`    // attempts after which the job became retryable or discarded
}

// Stats returns how many jobs the store holds in each state, in total and
// per queue, counting the jobs of every process sharing the store. Its
// cost grows with the number of queues, not with the jobs kept.
func (c *Client) Stats(ctx context.Context) (*Stats, error) {
	counts, err := c.cfg.Store.JobCountByQueueState(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: read stats: %w", err)
	}
	st := &Stats{States: zeroStates(kilntype.JobStates()), Finished: zeroStates(finishedStates),
		Queues: []QueueStats{}}
	for _, n := range counts {
		if len(st.Queues) == 0 || st.Queues[len(st.Queues)-1].Name != n.Queue {
			st.Queues = append(st.Queues, QueueStats{Name: n.Queue,
				States: zeroStates(kilntype.JobStates()), Finished: zeroStates(finishedStates)})
		}
		q := &st.Queues[len(st.Queues)-1]
		q.States[n.State] += n.Count
		q.Total += n.Count
		st.States[n.State] += n.Count
		st.Total += n.Count
		if n.Finished != 0 {
			q.Finished[n.State] += n.Finished
			st.Finished[n.State] += n.Finished
		}
	}
	return st, nil
}

// StatsCorrection is one correction that Client.StatsRebuild made to the
// job counters: Jobs (negative or positive) was added to the count of
// Queue's jobs in State.
type StatsCorrection struct {
	Queue string   `json:"queue"`
	State JobState `json:"state"`
	Jobs  int      `json:"jobs"`
}

// StatsRebuild recounts the jobs by queue and state and corrects the job
// counters that Stats reads to match, and returns the corrections it made,
// by queue then state (none when the counters were right). The counters
// need it only when they missed changes: on PostgreSQL, after processes of
// a Kiln version before schema migration 021 kept running after it (see
// docs/upgrading.md), or after an UPDATE of the jobs table by hand. The
// Finished counts are left as they are. It reads every job once (a scan of
// the jobs table) and is safe while jobs run: on PostgreSQL it locks no
// job, and changes made meanwhile are counted as usual; on SQLite other
// writers wait for the scan. Calls at once are applied one after the
// other.
func (c *Client) StatsRebuild(ctx context.Context) ([]StatsCorrection, error) {
	fixed, err := c.cfg.Store.JobCountRebuild(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: rebuild stats: %w", err)
	}
	out := make([]StatsCorrection, len(fixed))
	for i, f := range fixed {
		out[i] = StatsCorrection{Queue: f.Queue, State: f.State, Jobs: f.Count}
	}
	return out, nil
}

// finishedStates are the states an attempt can move its job to.
var finishedStates = []JobState{JobStateCompleted, JobStateRetryable, JobStateDiscarded,
	JobStateCancelled, JobStateScheduled, JobStateAvailable}

// zeroStates returns a count of 0 for each of states.
func zeroStates(states []JobState) map[JobState]int {
	m := make(map[JobState]int, len(states))
	for _, s := range states {
		m[s] = 0
	}
	return m
}

// MaxHistoryPoints (10,080) is the most buckets one range of JobHistory or
// QueueHistory may span: a week of one-minute buckets.
const MaxHistoryPoints = store.MaxHistoryPoints

// HistoryRange checks a range of JobHistory or QueueHistory and returns
// the bounds of its buckets: from rounded down and to rounded up to
// bucket boundaries, in UTC. Its error, the one JobHistory would return,
// says what is wrong: bucket not a whole number of minutes (at least
// 1m), to not after from, or more than MaxHistoryPoints buckets.
func HistoryRange(from, to time.Time, bucket time.Duration) (start, end time.Time, err error) {
	return (&store.JobHistoryParams{From: from, To: to, Bucket: bucket}).Range()
}

// JobHistory returns the throughput of every queue from from to to, in
// buckets of bucket: one point per bucket, oldest first, buckets without
// attempts included (with zero counts), so that the points draw a graph
// as they are. bucket must be a whole number of minutes (the history's
// resolution); buckets start at whole multiples of it since the Unix
// epoch, so hour and day buckets start on the hour and at midnight UTC.
// from is rounded down and to up to bucket boundaries; from is included,
// to excluded. The range may span at most MaxHistoryPoints buckets
// (a week of minutes); the maintenance leader keeps the history for a
// week, so older buckets are empty. The leader records the attempts that
// ended every 2 s, so the current minute's bucket lags by that much; for a
// live rate, diff the Finished counters of Stats. A bad bucket or range
// gives an error saying what was wrong.
func (c *Client) JobHistory(ctx context.Context, from, to time.Time, bucket time.Duration) ([]HistoryPoint, error) {
	return c.history(ctx, "", from, to, bucket)
}

// QueueHistory is JobHistory for the jobs of one queue.
func (c *Client) QueueHistory(ctx context.Context, queue string, from, to time.Time, bucket time.Duration) ([]HistoryPoint, error) {
	if err := validateQueue("queue", queue); err != nil {
		return nil, fmt.Errorf("kiln: read history of queue: %w", err)
	}
	return c.history(ctx, queue, from, to, bucket)
}

// history reads the history of queue ("" for every queue) and fills in
// the empty buckets.
func (c *Client) history(ctx context.Context, queue string, from, to time.Time, bucket time.Duration) ([]HistoryPoint, error) {
	what := "read job history"
	if queue != "" {
		what = fmt.Sprintf("read history of queue %q", queue)
	}
	p := &store.JobHistoryParams{From: from, To: to, Bucket: bucket, Queue: queue}
	start, end, err := p.Range()
	if err != nil {
		return nil, fmt.Errorf("kiln: %s: %w", what, err)
	}
	stored, err := c.cfg.Store.JobHistory(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("kiln: %s: %w", what, err)
	}
	points := make([]HistoryPoint, 0, end.Sub(start)/bucket)
	for at := start; at.Before(end); at = at.Add(bucket) {
		point := HistoryPoint{At: at}
		if len(stored) > 0 && stored[0].At.Equal(at) {
			point.Completed, point.Failed = stored[0].Completed, stored[0].Failed
			stored = stored[1:]
		}
		points = append(points, point)
	}
	if len(stored) > 0 {
		return nil, fmt.Errorf("kiln: %s: the store returned a bucket at %v, not a bucket boundary of the range", what, stored[0].At)
	}
	return points, nil
}
