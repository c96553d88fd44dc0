package postgres

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// windowJob is an available job with a key as a window of each key's jobs
// would keep it: its queue, kind, key and place in claim order.
type windowJob struct {
	queue, kind, key string
	priority         int
	scheduledAt      time.Time
	version          string // the row version's xmin: an UPDATE changes it
}

// sqlKeyWindowRead reads every available job with a key, and the
// statement's snapshot as sqlKeyLogRead gives it, in one statement: what a
// process that read every key's window at once would know, and where its
// reads of the log would start.
const sqlKeyWindowRead = `WITH snap AS MATERIALIZED (
	SELECT txid_snapshot_xmax(c) AS xmax, ARRAY(SELECT txid_snapshot_xip(c)) AS xip FROM txid_current_snapshot() AS c
)
SELECT s.xmax, s.xip, j.id, j.queue, j.kind, j.partition_key, j.priority, j.scheduled_at, j.xmin::text
FROM snap AS s LEFT JOIN {s}.kiln_job AS j ON j.state = 'available' AND j.partition_key <> ''`

// readKeyWindow returns every available job with a key by ID, and the
// position in kiln_job_key_log of that read.
func readKeyWindow(t *testing.T, s *Store) (map[int64]windowJob, keyLogPos) {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), s.sql(sqlKeyWindowRead))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	window := map[int64]windowJob{}
	var pos keyLogPos
	for rows.Next() {
		var (
			id, priority     *int64
			queue, kind, key *string
			at               *time.Time
			version          *string
		)
		if err := rows.Scan(&pos.xmax, &pos.xip, &id, &queue, &kind, &key, &priority, &at, &version); err != nil {
			t.Fatal(err)
		}
		if id != nil {
			window[*id] = windowJob{queue: *queue, kind: *kind, key: *key, priority: int(*priority), scheduledAt: at.UTC(),
				version: *version}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return window, pos
}

// TestKeyLogNamesEveryAvailableKeyedJob runs a random workload of every
// path that changes jobs (inserts, unique replaces, continuations,
// recurring occurrences, claims plain and by key, finishes to every state,
// retries, cancels, deletes, rescues, the promoter, bulk retries and
// moves) after a read of every available job with a key (a window), and
// checks, every few steps and at the end, that every available job with a
// key is either in that window as it was read, the same row version (no
// statement changed it since), or named by kiln_job_key_log past the window's read
// with its queue, kind, key and place in claim order as they are now
// (the log's latest row naming it): a process that keeps such a window
// and reads the log knows of every job it may take, in claim order.
func TestKeyLogNamesEveryAvailableKeyedJob(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	var (
		kinds  = []string{"a", "b"}
		queues = []string{"q1", "q2"}
		keys   = []string{"", "k1", "k2", "k3", "k4"}
		tags   = []string{"t0", "t1", "t2", "t3"}
		ran    = map[string]int{} // operations run, by name
		all    []int64            // every job inserted
		byTag  = map[string][]int64{}
		// running are the jobs claimed and not finished since (some may
		// have been rescued, cancelled or deleted meanwhile).
		running []*kilntype.JobRow
	)
	pick := func(v []string) string { return v[rng.IntN(len(v))] }
	param := func() *store.JobInsertParams {
		p := &store.JobInsertParams{
			Kind: pick(kinds), Queue: pick(queues), Args: json.RawMessage(`{}`), Priority: 1 + rng.IntN(4),
			MaxAttempts: 3, State: kilntype.JobStateAvailable, ScheduledAt: now.Add(-time.Duration(rng.IntN(60)) * time.Second),
			CreatedAt: now, Partition: pick(keys),
		}
		p.Tags = []string{pick(tags)}
		if rng.IntN(4) == 0 {
			p.State, p.ScheduledAt = kilntype.JobStateScheduled, now.Add(time.Duration(1+rng.IntN(30))*time.Second)
		}
		return p
	}
	insert := func(params []*store.JobInsertParams) []store.JobInsertResult {
		t.Helper()
		res, err := s.JobInsertMany(ctx, params)
		if err != nil {
			t.Fatalf("JobInsertMany: %v", err)
		}
		for i, r := range res {
			if r.UniqueSkipped {
				continue
			}
			all = append(all, r.Job.ID)
			byTag[params[i].Tags[0]] = append(byTag[params[i].Tags[0]], r.Job.ID)
		}
		return res
	}
	anyJob := func() int64 { return all[rng.IntN(len(all))] }

	entry := &kilntype.RecurringRow{ID: "every", Schedule: "* * * * *", Kind: "a", Args: json.RawMessage(`{}`),
		Queue: "q1", Priority: 2, MaxAttempts: 3, Tags: []string{"t0"}, Metadata: json.RawMessage(`{}`),
		Partition: "k1", Overlap: kilntype.OverlapAllow, Misfire: kilntype.MisfireRunOnce, MisfireMax: 100,
		NextRunAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
	if _, _, err := s.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: entry, Now: now}); err != nil {
		t.Fatal(err)
	}

	for range 30 {
		insert([]*store.JobInsertParams{param()})
	}
	window, pos := readKeyWindow(t, s)
	if len(window) == 0 {
		t.Fatal("no available job with a key to start from")
	}

	check := func(step int) {
		t.Helper()
		entries, _, err := s.readKeyLog(ctx, s.pool, pos)
		if err != nil {
			t.Fatal(err)
		}
		latest := map[int64]keyLogEntry{}
		for i, e := range entries {
			if i > 0 && e.seq < entries[i-1].seq {
				t.Fatalf("step %d: log read out of order: seq %d after %d", step, e.seq, entries[i-1].seq)
			}
			latest[e.id] = e
		}
		now, _ := readKeyWindow(t, s)
		for id, j := range now {
			if w, ok := window[id]; ok && w == j {
				continue // the same row version
			}
			e, ok := latest[id]
			if !ok {
				t.Errorf("step %d: job %d (%+v) is available with a key, neither in the window as read nor in the log", step, id, j)
				continue
			}
			got := windowJob{queue: e.queue, kind: e.kind, key: e.key, priority: e.priority, scheduledAt: e.scheduledAt,
				version: j.version}
			if got != j {
				t.Errorf("step %d: job %d is %+v, its latest log entry says %+v", step, id, j, got)
			}
		}
	}

	for step := range 400 {
		now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
		switch op := rng.IntN(12); op {
		case 0, 1: // insert
			ran["insert"]++
			params := make([]*store.JobInsertParams, 1+rng.IntN(4))
			for i := range params {
				params[i] = param()
			}
			insert(params)
		case 2: // a unique insert, replacing a waiting holder's schedule
			ran["unique"]++
			p := param()
			p.UniqueKey, p.UniqueReplace = fmt.Sprintf("u%d", rng.IntN(4)), store.UniqueReplace{Schedule: true}
			insert([]*store.JobInsertParams{p})
		case 3: // a continuation of a stored job, and the resolver
			ran["continuation"]++
			p := param()
			p.State, p.ParentIDs, p.ParentFailure = kilntype.JobStatePending, []int64{anyJob()}, kilntype.ParentFailureRun
			if _, err := s.JobInsertMany(ctx, []*store.JobInsertParams{p}); err != nil && !isNotFound(err) {
				t.Fatalf("JobInsertMany (continuation): %v", err)
			}
			if _, err := s.JobResolvePending(ctx, &store.JobResolvePendingParams{Now: now, Max: 10}); err != nil {
				t.Fatalf("JobResolvePending: %v", err)
			}
		case 4, 5: // claims, plain or by key under a limit
			ran["claim"]++
			p := &store.JobClaimParams{Queue: pick(queues), Max: 1 + rng.IntN(3), Kinds: kinds, LeasedBy: "p",
				LeaseExpiresAt: now.Add(time.Minute), Now: now}
			if rng.IntN(2) == 0 {
				p.Partitioned = map[string]store.PartitionClaim{"a": {MaxRunning: 1}}
			}
			jobs, err := s.JobClaim(ctx, p)
			if err != nil {
				t.Fatalf("JobClaim: %v", err)
			}
			running = append(running, jobs...)
		case 6, 7: // finish a claimed job to any state
			if len(running) == 0 {
				continue
			}
			ran["finish"]++
			i := rng.IntN(len(running))
			j := running[i]
			running = slices.Delete(running, i, i+1)
			state := []kilntype.JobState{kilntype.JobStateCompleted, kilntype.JobStateRetryable, kilntype.JobStateScheduled,
				kilntype.JobStateAvailable, kilntype.JobStateDiscarded, kilntype.JobStateCancelled}[rng.IntN(6)]
			outcome := map[kilntype.JobState]kilntype.AttemptOutcome{
				kilntype.JobStateCompleted: kilntype.AttemptSucceeded, kilntype.JobStateRetryable: kilntype.AttemptFailed,
				kilntype.JobStateDiscarded: kilntype.AttemptFailed, kilntype.JobStateCancelled: kilntype.AttemptCancelled,
				kilntype.JobStateScheduled: kilntype.AttemptSnoozed, kilntype.JobStateAvailable: kilntype.AttemptInterrupted,
			}[state]
			at := now.Add(time.Duration(rng.IntN(10)) * time.Second)
			if state == kilntype.JobStateAvailable {
				at = now.Add(-time.Duration(rng.IntN(10)) * time.Second)
			}
			fp := &store.JobFinishParams{ID: j.ID, LeasedBy: "p", State: state, ScheduledAt: at, Now: now,
				UndoAttempt: state == kilntype.JobStateAvailable || state == kilntype.JobStateScheduled,
				Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: *j.AttemptedAt, FinishedAt: &now,
					Server: "p", Outcome: outcome}}
			if _, err := s.JobFinishMany(ctx, []*store.JobFinishParams{fp}); err != nil {
				t.Fatalf("JobFinishMany: %v", err)
			}
		case 8: // retry, cancel or delete one job
			id := anyJob()
			var err error
			switch rng.IntN(3) {
			case 0:
				ran["retry"]++
				_, err = s.JobRetry(ctx, &store.JobRetryParams{ID: id, Now: now})
			case 1:
				ran["cancel"]++
				_, err = s.JobCancel(ctx, &store.JobCancelParams{ID: id, Now: now})
			default:
				ran["delete"]++
				_, err = s.JobDelete(ctx, &store.JobDeleteParams{ID: id})
			}
			if err != nil && !isNotFound(err) && !isConflict(err) {
				t.Fatalf("retry, cancel or delete job %d: %v", id, err)
			}
		case 9: // the promoter and the rescue
			ran["promote"]++
			if _, err := s.JobScheduleDue(ctx, &store.JobScheduleDueParams{Now: now, Max: 100}); err != nil {
				t.Fatalf("JobScheduleDue: %v", err)
			}
			if rng.IntN(3) == 0 {
				ran["rescue"]++
				if _, err := s.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now.Add(2 * time.Minute), Max: 10}); err != nil {
					t.Fatalf("JobRescueExpired: %v", err)
				}
			}
		case 10: // a bulk retry or move of the jobs of a tag
			tag := pick(tags)
			action, target := kilntype.BulkRetry, ""
			if rng.IntN(2) == 0 {
				action, target = kilntype.BulkMove, pick(queues)
			}
			ran["bulk "+string(action)]++
			op, err := s.BulkCreate(ctx, &store.BulkCreateParams{Action: action, Filter: kilntype.JobFilter{Tag: tag},
				TargetQueue: target, Owner: "p", Now: now})
			if err != nil {
				t.Fatalf("BulkCreate: %v", err)
			}
			for op.State == kilntype.BulkRunning {
				res, err := s.BulkRunBatch(ctx, &store.BulkRunBatchParams{ID: op.ID, Owner: "p", Now: now, Limit: 7, Window: 50})
				if err != nil {
					t.Fatalf("BulkRunBatch: %v", err)
				}
				op = res.Op
			}
		case 11: // a recurring entry's occurrence
			ran["recurring"]++
			p := param()
			p.Kind, p.Queue, p.Priority, p.State, p.ScheduledAt, p.Partition = "a", "q1", 2, kilntype.JobStateAvailable, now, pick(keys)
			res, err := s.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{ID: entry.ID, Overlap: kilntype.OverlapAllow,
				Occurrences: []store.RecurringOccurrenceInsert{{At: now, Job: p}}, NextRunAt: now.Add(time.Hour), Now: now})
			if err != nil {
				t.Fatalf("RecurringEnqueue: %v", err)
			}
			for _, r := range res {
				if r.Job != nil {
					all = append(all, r.Job.ID)
					byTag[p.Tags[0]] = append(byTag[p.Tags[0]], r.Job.ID)
				}
			}
		}
		if step%50 == 49 {
			check(step)
		}
	}
	check(400)
	t.Logf("operations: %v", ran)
	for _, op := range []string{"insert", "unique", "continuation", "claim", "finish", "retry", "cancel", "delete",
		"promote", "rescue", "bulk retry", "bulk move", "recurring"} {
		if ran[op] == 0 {
			t.Errorf("the workload ran no %s", op)
		}
	}
}

// isNotFound reports whether err says the job is gone (the workload
// deletes jobs it may later name).
func isNotFound(err error) bool { return errors.Is(err, kilntype.ErrNotFound) }

// isConflict reports whether err says the job's state does not allow the
// operation (a retry of a waiting job, a delete of a running one).
func isConflict(err error) bool {
	return errors.Is(err, kilntype.ErrJobState) || errors.Is(err, kilntype.ErrJobRunning)
}

// keyedJob is an available job of kind a in queue q with key k, due at at.
func keyedJob(k string, at time.Time) *store.JobInsertParams {
	return &store.JobInsertParams{Kind: "a", Queue: "q", Args: json.RawMessage(`{}`), Priority: 1, MaxAttempts: 1,
		State: kilntype.JobStateAvailable, ScheduledAt: at, CreatedAt: at, Partition: k}
}

// TestKeyLogReadSeesLateCommits checks that a read of kiln_job_key_log
// from the previous read's position returns the rows of a transaction
// that was in progress at that read and committed after it, although a
// transaction that began after it committed first (its rows have a higher
// txid, already read), and that no row is returned twice.
func TestKeyLogReadSeesLateCommits(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	early, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer early.Rollback(ctx)
	slow, err := s.JobInsertManyTx(ctx, early, []*store.JobInsertParams{keyedJob("slow", at)})
	if err != nil {
		t.Fatal(err)
	}
	fast, err := s.JobInsertMany(ctx, []*store.JobInsertParams{keyedJob("fast", at), keyedJob("", at)})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(entries []keyLogEntry) []int64 {
		var ids []int64
		for _, e := range entries {
			ids = append(ids, e.id)
		}
		return ids
	}
	first, pos, err := s.readKeyLog(ctx, s.pool, keyLogPos{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(first), []int64{fast[0].Job.ID}; !slices.Equal(got, want) {
		t.Fatalf("first read: jobs %v, want %v (the committed job with a key)", got, want)
	}
	if e := first[0]; e.queue != "q" || e.kind != "a" || e.key != "fast" || e.priority != 1 || !e.scheduledAt.Equal(at) {
		t.Errorf("first read: %+v", e)
	}
	if err := early.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	second, pos, err := s.readKeyLog(ctx, s.pool, pos)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(second), []int64{slow[0].Job.ID}; !slices.Equal(got, want) {
		t.Fatalf("second read: jobs %v, want %v (the job of the transaction in progress at the first read)", got, want)
	}
	third, _, err := s.readKeyLog(ctx, s.pool, pos)
	if err != nil {
		t.Fatal(err)
	}
	if len(third) != 0 {
		t.Errorf("third read: jobs %v, want none", ids(third))
	}
}

// TestKeyLogPrune checks that JobStatsFold deletes no row of
// kiln_job_key_log before KeyLogKeep has passed since the fold that
// recorded an xmin, then the rows of transactions below that xmin and no
// other, and, fold after fold, every row once their transactions have
// ended. (An xmin is the cluster's: another session's long transaction
// holds it back, so the test waits for it as the folds do.)
func TestKeyLogPrune(t *testing.T) {
	s := NewForTest(t)
	ctx := t.Context()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	txids := func() []int64 {
		t.Helper()
		rows, err := s.pool.Query(ctx, s.sql(`SELECT txid FROM {s}.kiln_job_key_log ORDER BY txid`))
		if err != nil {
			t.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	fold := func(now time.Time) {
		t.Helper()
		if _, err := s.JobStatsFold(ctx, &store.JobStatsFoldParams{Now: now}); err != nil {
			t.Fatal(err)
		}
	}
	insert := func() {
		t.Helper()
		if _, err := s.JobInsertMany(ctx, []*store.JobInsertParams{keyedJob("k", at)}); err != nil {
			t.Fatal(err)
		}
	}
	insert()
	fold(at) // records an xmin, deletes nothing
	x1 := s.keyLog.xmin
	insert() // began after that xmin's snapshot: its txid is above it
	both := txids()
	if len(both) != 2 {
		t.Fatalf("%d rows, want 2", len(both))
	}
	fold(at.Add(KeyLogKeep - time.Second))
	if got := txids(); !slices.Equal(got, both) {
		t.Fatalf("rows of txids %v before KeyLogKeep passed, want %v", got, both)
	}
	fold(at.Add(KeyLogKeep)) // deletes below x1
	want := slices.DeleteFunc(slices.Clone(both), func(txid int64) bool { return txid < x1 })
	if got := txids(); !slices.Equal(got, want) {
		t.Fatalf("rows of txids %v once KeyLogKeep passed (xmin %d), want %v", got, x1, want)
	}
	if !slices.Contains(want, both[1]) {
		t.Fatalf("the second insert's row (txid %d) was deleted by the xmin %d recorded before it", both[1], x1)
	}
	deadline := time.Now().Add(time.Minute)
	for k := 2; len(txids()) > 0; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("rows of txids %v left after %d folds KeyLogKeep apart", txids(), k)
		}
		fold(at.Add(time.Duration(k) * KeyLogKeep))
	}
}
