package store

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// StatsStore is the part of Store that keeps job counters and a throughput
// history, so that a dashboard reads them in time that does not grow with
// the jobs kept: no count over the jobs table, whatever its size.
//
// The counters change in the transaction of every change to a job, so
// they are exact, and consistent with the jobs in every snapshot. SQLite
// keeps them with triggers on the jobs table, whichever way a job changes
// (a Store method, another process, or an operator's SQL). PostgreSQL
// counts inserts and deletes with triggers, and each of its statements
// that moves jobs between queues or states writes its own counter deltas:
// an UPDATE by hand is not counted there (JobCountRebuild corrects the
// counters). A backend may keep
// part of them as deltas that JobStatsFold moves into totals (PostgreSQL
// does, so that concurrent transactions never update one counter row);
// reads add the deltas not folded yet, so folding changes no count.
//
// The history is written by JobStatsFold, which the maintenance leader
// calls every few seconds: the attempts that ended since the previous fold
// (what the Finished counters gained) are added to the minute of the
// fold's Now. An attempt thus counts in the minute it was recorded, a few
// seconds at most after it ended while a leader runs; attempts that end
// while no process runs maintenance count in the minute of the next fold.
type StatsStore interface {
	// JobCountByQueueState returns, for each queue and state that has jobs
	// or finished attempts, its JobCount, ordered by queue, then state
	// (both bytewise), read in one snapshot. Its cost grows with the pairs
	// (and, on PostgreSQL, with the deltas not folded yet), not with the
	// jobs.
	JobCountByQueueState(ctx context.Context) ([]JobCount, error)
	// JobHistory returns, for each bucket of params that had any, how many
	// attempts completed and how many failed their job (see HistoryPoint),
	// in time order; buckets with neither are absent. A params that
	// JobHistoryParams.Range refuses gives its error.
	JobHistory(ctx context.Context, params *JobHistoryParams) ([]HistoryPoint, error)
	// JobStatsFold moves the counters' deltas into their totals, adds the
	// attempts that completed or failed since the previous fold to the
	// history of params.Now's minute, deletes the counters of pairs left
	// without jobs or finished attempts, and deletes the history of minutes
	// before params.HistoryBefore (a zero time deletes none). It returns
	// how many rows it folded or deleted. Several processes may call it at
	// once: each attempt is recorded once.
	JobStatsFold(ctx context.Context, params *JobStatsFoldParams) (int, error)
	// JobCountRebuild recounts the jobs by queue and state and corrects
	// the counters (JobCount.Count) to match, for counters that missed
	// changes (PostgreSQL: the UPDATEs of processes of a version before
	// its migration 021 that ran after it, or an operator's UPDATE by
	// hand). It returns the corrections it made, ordered as
	// JobCountByQueueState: Count is what it added to the pair's count,
	// negative or positive; Finished is 0 (the Finished counters are left
	// as they are: what they missed cannot be recounted). Its cost is one
	// scan of the jobs. Changes made while it runs are counted as usual,
	// and calls at once are applied one after the other. On PostgreSQL it
	// locks neither jobs nor counters; on SQLite it holds the write lock
	// for the scan.
	JobCountRebuild(ctx context.Context) ([]JobCount, error)
}

// JobCount is the counters of one queue and state.
type JobCount struct {
	Queue string            `json:"queue"`
	State kilntype.JobState `json:"state"`
	// Count is the number of the queue's jobs in the state now.
	Count int `json:"count"`
	// Finished is the number of attempts that moved a job of the queue
	// from running to the state since the counters began (the store's
	// migration 007): completed; retryable or discarded (failed);
	// cancelled; scheduled (snoozed); available (given back at shutdown).
	// It never decreases, whatever happens to the jobs after, so a
	// monitoring system can take its rate; it is 0 for pending and
	// running.
	Finished int `json:"finished"`
}

// HistoryPoint is the throughput of one time bucket: how many attempts
// ended in it, by how they left their job: Completed, the job became
// completed; Failed, it became retryable (it will run again) or discarded
// (its last attempt failed, or its process died during its last attempt).
// Attempts that cancelled, snoozed or were given back are not counted. An
// attempt counts in the minute its end was recorded (see StatsStore), by
// the clock of the process that recorded it.
type HistoryPoint struct {
	// At is the bucket's start, in UTC.
	At        time.Time `json:"at"`
	Completed int       `json:"completed"`
	Failed    int       `json:"failed"`
}

// JobHistoryParams selects the buckets of JobHistory.
type JobHistoryParams struct {
	// From and To bound the history, From included, To excluded; Range
	// widens them to whole buckets. Any location; results are in UTC.
	From, To time.Time
	// Bucket is the length of one bucket: a whole number of minutes (the
	// history's resolution), e.g. time.Minute, time.Hour, 24*time.Hour.
	// Buckets start at whole multiples of Bucket since the Unix epoch, so
	// hours and days start on the hour and at midnight UTC.
	Bucket time.Duration
	// Queue restricts the history to one queue; "" means every queue.
	Queue string
}

// MaxHistoryPoints is the most buckets one JobHistory call may span: a
// week of minutes, as long as the maintenance leader keeps the per-minute
// history (see internal/maintenance).
const MaxHistoryPoints = 7 * 24 * 60

// Range checks p and returns the bounds of its buckets: From rounded down
// and To rounded up to bucket boundaries, in UTC. It returns an error
// naming the field when Bucket is not a positive whole number of minutes,
// when To is not after From, or when the range spans more than
// MaxHistoryPoints buckets.
func (p *JobHistoryParams) Range() (from, to time.Time, err error) {
	switch {
	case p.Bucket < time.Minute || p.Bucket%time.Minute != 0:
		return time.Time{}, time.Time{}, fmt.Errorf("history bucket %v: want a whole number of minutes, at least 1m", p.Bucket)
	case !p.To.After(p.From):
		return time.Time{}, time.Time{}, fmt.Errorf("history range %v to %v: To must be after From",
			p.From.UTC(), p.To.UTC())
	}
	b := p.Bucket.Microseconds()
	fromUS, toUS := floorDiv(p.From.UnixMicro(), b)*b, -floorDiv(-p.To.UnixMicro(), b)*b
	if n := (toUS - fromUS) / b; n > MaxHistoryPoints {
		return time.Time{}, time.Time{}, fmt.Errorf("history range %v to %v in buckets of %v: %d buckets, at most %d allowed",
			p.From.UTC(), p.To.UTC(), p.Bucket, n, MaxHistoryPoints)
	}
	return time.UnixMicro(fromUS).UTC(), time.UnixMicro(toUS).UTC(), nil
}

// floorDiv returns a/b rounded towards minus infinity (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// JobStatsFoldParams configures one JobStatsFold.
type JobStatsFoldParams struct {
	// Now is the fold's time: the attempts recorded by the fold count in
	// its minute (UTC).
	Now time.Time
	// HistoryBefore deletes the history of the minutes that start before
	// it; zero keeps all.
	HistoryBefore time.Time
}
