// Package store defines the interface that every Kiln storage backend
// implements: the engine, the client, the dashboard and the CLI reach the
// database only through it. Method names start with the entity they act on
// (JobClaim, LeaderAttemptElect) and take one params struct, as River's
// driver interface does; no backend type appears in it.
//
// Backends live in sub-packages (store/sqlite, store/postgres) and must
// pass the contract suite in store/storetest unchanged.
//
// Times in params are passed in by the caller (the engine reads them from its
// injectable clock) and are stored in UTC with microsecond precision; a store
// never reads the wall clock of its host, so tests can control time fully.
//
// # Lease and leadership times
//
// Leases (JobClaim, JobLeaseRenew, JobRescueExpired) and leader terms
// (LeaderAttemptElect, which hosted services' singleton leases use too)
// decide which process may run a job or lead: if two processes compared
// them on clocks that disagree by more than a lease's renewal margin, both
// could run one job, or both lead. A store that several hosts share may
// therefore take these times from its database's clock rather than from
// the params: the PostgreSQL store does by default (see its
// Options.CallerClock). It then uses the params' times only for their
// differences, which are the same on every clock: the lease's length is
// LeaseExpiresAt - Now, and a term's is TTL; lease ends and terms are
// compared with the database's now. Which clock a store uses, the
// documentation of each method's times below names as "now": the params'
// Now, or the database's clock for such a store. Every other time (due
// times, finalization, attempts, retention cut-offs) is the params'.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/kilntype"
)

// Store is a storage backend. Implementations must be safe for concurrent use
// by many goroutines and, where the backend allows it, by several processes
// sharing one database. Errors are wrapped with what was being attempted;
// kilntype.ErrNotFound, ErrJobRunning, ErrJobState and ErrSchemaMissing are
// returned (wrapped) where the method says so.
//
// Store is made of named parts (JobStore, LeaderStore, RecurringStore, ...),
// each one concept's methods; every backend implements all of them, and the
// contract suite (store/storetest) checks each in the group of its name.
// Where backends differ, a capability method says how (SingleWriter,
// Notifier.NotificationsAvailable); the engine asks it rather than testing
// the store's type. The only optional interfaces are TxStore and
// TxJobLister, whose transaction type is the backend's.
type Store interface {
	// Migrate brings the schema up to the newest version known to this build,
	// applying each missing migration in its own transaction (or, for a
	// change that cannot run in one, such as building an index without
	// blocking writes, statement by statement, each idempotent, so that an
	// interrupted run is completed by the next). It is safe to call on an
	// up-to-date schema and from several processes at once.
	Migrate(ctx context.Context) error
	//
	// A contract migration, which removes what processes of older builds
	// still need, is applied only when none of them is registered
	// (ServerStore); otherwise Migrate applies the other migrations and
	// returns nil, and a later Migrate applies it (see MigrationsHeld).
	// SchemaCheck returns a wrapped kilntype.ErrSchemaMissing when the schema
	// is absent or older than this build expects, nil when it is current
	// (with or without the contract migrations that Migrate holds back).
	// It fails too when a newer build applied a contract migration that
	// this build predates. It reads what a migration under way leaves
	// (PostgreSQL: it waits for it): a client registers (ServerUpsert),
	// then checks, so that a contract migration is either held by its row
	// or refused by its check.
	SchemaCheck(ctx context.Context) error
	// MigrationsHeld returns the contract migrations of this build that
	// the database lacks, in order, with what holds each back, nil when
	// there are none. It changes nothing. It is meant for a migrated
	// database (SchemaCheck passes).
	MigrationsHeld(ctx context.Context) ([]HeldMigration, error)
	// Close releases the store's connections. The store is unusable after.
	Close() error
	// SingleWriter reports whether all of the store's writes queue on one
	// connection, one transaction at a time (SQLite). The engine then
	// writes outcomes with one writer, in larger batches: a second
	// transaction beside the first would only wait for it, and each
	// transaction has a fixed cost (its commit writes every page it
	// touched to the write-ahead log).
	SingleWriter() bool

	JobStore
	JobArgsStore
	LeaderStore
	RecurringStore
	RetentionStore
	AuditStore
	DependencyStore
	PruneStore
	QueueStore
	JobProgressStore
	JobOutputStore
	StatsStore
	ServerStore
	ServiceStore
	BulkStore
	RateLimitStore
	Notifier
}

// JobStore is the part of Store that inserts, reads, claims, finishes and
// administers jobs, and runs the maintenance of their states (due jobs,
// expired leases, retention).
type JobStore interface {
	// JobInsertMany inserts jobs in one transaction and returns one result
	// per param, in order. A param with a UniqueKey that matches a job in a
	// non-final state is not inserted: its result holds the existing job and
	// UniqueSkipped is true.
	JobInsertMany(ctx context.Context, params []*JobInsertParams) ([]JobInsertResult, error)
	// JobGet returns the job with the given ID or a wrapped ErrNotFound.
	JobGet(ctx context.Context, params *JobGetParams) (*kilntype.JobRow, error)
	// JobList returns jobs matching the filters, ordered by ID (newest first
	// unless OrderAsc), at most Limit of them, after the keyset Cursor.
	JobList(ctx context.Context, params *JobListParams) ([]*kilntype.JobRow, error)
	// JobCountByState returns the number of jobs in each state; states with
	// no jobs may be absent.
	JobCountByState(ctx context.Context) (map[kilntype.JobState]int, error)
	// JobRunningCount returns how many jobs run now in every process: of
	// each kind of params.Kinds, and of each kind of params.PartitionKinds
	// per partition key (jobs without a key not counted), with its
	// params.MaxKeys busiest keys and how many keys have a running job. It
	// is one statement that reads as many index entries as jobs of the
	// kinds run (on PostgreSQL, the kinds' entries of kiln_job_running; on
	// SQLite, the running entries of kiln_job_state_inflight and of
	// kiln_job_running_partition for the partition kinds), whatever the
	// number of other jobs. Params that JobRunningCountParams.Validate
	// refuses are an error, and nothing is read.
	JobRunningCount(ctx context.Context, params *JobRunningCountParams) (*JobRunningCounts, error)
	// JobClaim atomically moves up to Max due jobs of one queue to running,
	// leased by params.LeasedBy, and returns them (attempt already counted).
	// A job is due when it is available, scheduled or retryable, and its
	// ScheduledAt <= Now (so a claim made with a stale Now cannot take a job
	// that became available after it). Jobs are taken by priority, then ScheduledAt, then
	// ID, but for jobs with a partition key on SQLite, which a claim takes
	// in their fair order (docs/flow-control.md, "Fair order on SQLite"),
	// merged with the others by priority, ScheduledAt and ID. Two
	// concurrent claims never return the same job. Each lease ends
	// LeaseExpiresAt - Now after now (see Lease and leadership times).
	// The claim order is bounded, not strict, across claims: a job that
	// becomes due before, in claim order, the jobs a Store's earlier claim
	// of the same queue and kinds took may wait for that Store's next claim
	// from the front (see ClaimFrontEvery), as the PostgreSQL store allows.
	JobClaim(ctx context.Context, params *JobClaimParams) ([]*kilntype.JobRow, error)
	// JobLeaseRenew extends the lease of the given running jobs that are still
	// leased by params.LeasedBy, to LeaseExpiresAt - Now after now, and
	// returns the IDs it renewed: a missing ID was taken back (rescued,
	// deleted) and its result will be ignored.
	JobLeaseRenew(ctx context.Context, params *JobLeaseRenewParams) ([]int64, error)
	// JobListCancelRequested returns the IDs of running jobs leased by
	// params.LeasedBy for which a cancel has been requested.
	JobListCancelRequested(ctx context.Context, params *JobListCancelRequestedParams) ([]int64, error)
	// JobFinishMany records the outcome of attempts in one transaction: each
	// job moves to its new state only if it is still running and leased by
	// LeasedBy under the claim of AttemptedAt (otherwise it was rescued and
	// the update is skipped), and each attempt is appended to the job's
	// history unless the job was deleted. A job whose cancel was requested
	// and that would become retryable, scheduled or available becomes
	// cancelled instead (FinalizedAt Now). The attempt's Error and Trace
	// (and so LastError) are stored through CleanText: a worker's error
	// text is recorded even with NUL or bytes that are not UTF-8. It
	// returns the IDs of the jobs it moved.
	//
	// A successful attempt that completes its job may be kept on the job's
	// row rather than as a separate record (the common outcome then costs
	// one row write): JobAttemptList still lists it, last, with StartedAt
	// the job's AttemptedAt (the engine starts an attempt at its claim's
	// time), FinishedAt its FinalizedAt, and no Error or Trace. JobRetry of
	// such a job keeps the attempt in its list.
	JobFinishMany(ctx context.Context, params []*JobFinishParams) ([]int64, error)
	// JobCancel cancels a job. A pending, scheduled, available or retryable
	// job is cancelled at once. A running job keeps running but gets
	// CancelRequestedAt set, for its process to cancel its context. A job
	// already cancelled is returned as is. A completed or discarded job gives
	// a wrapped ErrJobState; an unknown ID, ErrNotFound.
	JobCancel(ctx context.Context, params *JobCancelParams) (*kilntype.JobRow, error)
	// JobRetry makes a scheduled, retryable, cancelled, discarded or
	// completed job available now; MaxAttempts is raised to Attempt+1 when
	// the job has used all its attempts. An available job is returned as is;
	// a running job gives a wrapped ErrJobRunning; an unknown ID, ErrNotFound.
	JobRetry(ctx context.Context, params *JobRetryParams) (*kilntype.JobRow, error)
	// JobDelete deletes a job and its attempts and returns it as it was. A
	// running job gives a wrapped ErrJobRunning; an unknown ID, ErrNotFound.
	JobDelete(ctx context.Context, params *JobDeleteParams) (*kilntype.JobRow, error)
	// JobAttemptList returns the job's attempts, oldest first. An unknown
	// job ID gives an empty list.
	JobAttemptList(ctx context.Context, params *JobAttemptListParams) ([]*kilntype.JobAttempt, error)

	// JobScheduleDue moves up to Max scheduled or retryable jobs whose
	// ScheduledAt <= Now to available, and returns how many it moved.
	JobScheduleDue(ctx context.Context, params *JobScheduleDueParams) (int, error)
	// JobRescueExpired takes back up to Max running jobs whose lease expired
	// before now (see Lease and leadership times): a job with a cancel
	// request becomes cancelled, a job that
	// used all its attempts becomes discarded, any other becomes retryable
	// at Now. Each gets an interrupted attempt in its history. It returns the
	// rescued jobs as they are after the move.
	JobRescueExpired(ctx context.Context, params *JobRescueExpiredParams) ([]*kilntype.JobRow, error)
	// JobDeleteFinished deletes up to Max finalized jobs (and their attempts)
	// finalized before the cut-off of their state, or of the most specific
	// of params.Rules that matches them, and returns how many. It lists
	// the kinds present among the finalized jobs of each state it can
	// delete from (JobDeleteFinishedParams.CleanedStates), with one seek
	// per kind, and deletes from each kind's RetentionGroups: each of its
	// statements reads a range of an index on (state, kind, finalized_at),
	// not the whole table.
	JobDeleteFinished(ctx context.Context, params *JobDeleteFinishedParams) (int, error)
}

// LeaderStore is the part of Store that elects a leader among the processes
// sharing the store (the maintenance leader; hosted services' singleton
// leases use it too).
type LeaderStore interface {
	// LeaderAttemptElect makes LeaderID the leader of Name until now+TTL if
	// there is no leader, the leader's term expired (its end is at or
	// before now), or LeaderID already is the leader (then the term is
	// extended); now is Now or the database's clock (see Lease and
	// leadership times). It reports whether LeaderID is the leader after
	// the call.
	LeaderAttemptElect(ctx context.Context, params *LeaderElectParams) (bool, error)
	// LeaderResign ends LeaderID's term on Name if it is the leader, so that
	// another process can be elected at once.
	LeaderResign(ctx context.Context, params *LeaderResignParams) error
}

// DependencyStore is the part of Store that runs continuations and batches.
type DependencyStore interface {
	// JobResolvePending moves up to Max pending jobs whose parents have all
	// ended (finalized, or deleted) out of pending: to available at Now when
	// every parent completed or their ParentFailure is run; to cancelled
	// (FinalizedAt Now, LastError naming the first parent that did not
	// complete and its state) otherwise. A batch callback released this way
	// gets the batch's counts in its metadata: kiln.batch_id,
	// kiln.batch_total, kiln.batch_completed and kiln.batch_failed (cancelled
	// or discarded). With Parents, only the children of those jobs are
	// considered. It returns the jobs it moved, as they are after.
	JobResolvePending(ctx context.Context, params *JobResolvePendingParams) ([]*kilntype.JobRow, error)
	// BatchGet returns the batch and its progress, or a wrapped ErrNotFound.
	BatchGet(ctx context.Context, params *BatchGetParams) (*kilntype.BatchRow, error)
	// JobRelativeList returns one set of a job's relatives, each with its
	// kind and state, ordered by ID, at most params.Limit after
	// params.AfterID: the parents of job params.ParentsOf (from the
	// primary key of the parent rows; a deleted parent is listed with an
	// empty kind and state), the children of job params.ChildrenOf (from
	// the index of parent rows by parent: a read and, on PostgreSQL, a sort
	// of that job's children), or the members of batch params.Batch (from
	// its primary key; deleted members listed as deleted parents are).
	// Exactly one of the three must be set. An unknown job or batch gives an
	// empty list.
	JobRelativeList(ctx context.Context, params *JobRelativeListParams) ([]*JobNode, error)
}

// JobRelativeListParams selects the relatives JobRelativeList returns:
// exactly one of ParentsOf, ChildrenOf and Batch is set.
type JobRelativeListParams struct {
	ParentsOf  int64
	ChildrenOf int64
	Batch      string
	AfterID    int64 // keyset: only IDs above it
	Limit      int   // 0 or less: DefaultListLimit; more than MaxListLimit is cut to it
}

// JobRelation is which relatives a JobRelativeListParams selects.
type JobRelation int

// The relations of JobRelativeListParams.
const (
	RelationParents  JobRelation = iota + 1 // the parents of ParentsOf
	RelationChildren                        // the children of ChildrenOf
	RelationBatch                           // the members of Batch
)

// Relation returns which relatives p selects, the key of that set (the
// job's ID, or the batch's ID) and a description of it for errors; it
// returns an error unless exactly one of ParentsOf, ChildrenOf and Batch
// is set. Both stores check params with it.
func (p *JobRelativeListParams) Relation() (rel JobRelation, key any, what string, err error) {
	n := 0
	if p.ParentsOf != 0 {
		n++
		rel, key, what = RelationParents, p.ParentsOf, fmt.Sprintf("list parents of job %d", p.ParentsOf)
	}
	if p.ChildrenOf != 0 {
		n++
		rel, key, what = RelationChildren, p.ChildrenOf, fmt.Sprintf("list children of job %d", p.ChildrenOf)
	}
	if p.Batch != "" {
		n++
		rel, key, what = RelationBatch, p.Batch, fmt.Sprintf("list jobs of batch %q", p.Batch)
	}
	if n != 1 {
		return 0, nil, "", errors.New("set exactly one of ParentsOf, ChildrenOf and Batch")
	}
	return rel, key, what, nil
}

// JobNode is a job in a workflow graph: its ID, kind and state ("" for
// both when the job was deleted).
type JobNode struct {
	ID    int64
	Kind  string
	State kilntype.JobState
}

// ServiceStore is the part of Store that keeps the reported states of
// hosted services, so that any process (the CLI, the dashboard) can list
// them.
type ServiceStore interface {
	// ServiceReport records row as the state of service row.Name in
	// process row.ProcessID, replacing that pair's previous report; its
	// LastError goes through CleanText.
	ServiceReport(ctx context.Context, params *ServiceReportParams) error
	// ServiceList returns every report, ordered by name then process ID.
	ServiceList(ctx context.Context) ([]*kilntype.ServiceRow, error)
	// ServiceDeleteStale deletes reports not updated since params.Before,
	// and returns how many.
	ServiceDeleteStale(ctx context.Context, params *ServiceDeleteStaleParams) (int, error)
}

// ServiceReportParams is the report ServiceReport records.
type ServiceReportParams struct {
	Row *kilntype.ServiceRow
}

// ServiceDeleteStaleParams selects the reports ServiceDeleteStale deletes.
type ServiceDeleteStaleParams struct {
	Before time.Time // reports not updated since it
}

// BatchGetParams names the batch BatchGet returns.
type BatchGetParams struct {
	ID string
}

// JobResolvePendingParams releases pending jobs whose parents ended.
type JobResolvePendingParams struct {
	Now time.Time
	Max int
	// Parents, if not empty, restricts the call to the pending children of
	// these jobs (those whose parents have all ended), so that a process
	// that has just finished them can release their continuations at once
	// without reading every pending job.
	Parents []int64
}

// JobInsertParams describes one job to insert. The client fills every field;
// the store applies no defaults.
type JobInsertParams struct {
	Kind        string
	Queue       string
	Args        json.RawMessage // valid JSON
	Priority    int             // 1 (first) to 4 (last)
	MaxAttempts int             // >= 1
	// State is JobStateAvailable, JobStateScheduled or JobStatePending.
	State       kilntype.JobState
	ScheduledAt time.Time // when the job is due (the enqueue time if now)
	CreatedAt   time.Time
	Tags        []string        // may be nil
	Metadata    json.RawMessage // a JSON object; nil means {}
	UniqueKey   string          // empty means not unique
	// Partition is the job's partition key (kilntype.JobRow.Partition);
	// "" means none. At most kilntype.MaxPartitionKeyBytes bytes of UTF-8
	// without NUL (ValidateJobInsert).
	Partition string
	// UniqueReplace, with a UniqueKey, makes a conflicting insert change
	// the job that holds the key, if that job is still waiting (available,
	// scheduled or retryable; not pending or running), instead of leaving
	// it as it is: see UniqueReplace. The zero value changes nothing.
	UniqueReplace UniqueReplace

	// ParentIDs and ParentRefs make the job a continuation: it waits, in
	// the pending state, until these jobs have ended (see JobResolvePending).
	// ParentIDs name stored jobs (an unknown ID fails the call with
	// kilntype.ErrNotFound); ParentRefs name earlier params of the same
	// JobInsertMany call by index. A job with parents must be inserted
	// pending.
	ParentIDs  []int64
	ParentRefs []int
	// ParentFailure is what the job does when a parent does not complete;
	// required with parents.
	ParentFailure kilntype.ParentFailurePolicy
	// BatchID, if set, makes the job a member of that batch (created with
	// its first job); BatchCallback makes it the batch's callback instead.
	// The params of one call that name a batch make it together: a BatchID
	// stored before the call fails the call, in its transaction, with
	// BatchExistsError (two concurrent calls with one new ID: one fails).
	BatchID       string
	BatchCallback bool
}

// JobInsertResult is the outcome of inserting one job.
type JobInsertResult struct {
	// Job is the inserted job, or the existing one when UniqueSkipped.
	Job *kilntype.JobRow
	// UniqueSkipped is true when a job with the same unique key already
	// existed in a non-final state and nothing was inserted.
	UniqueSkipped bool
	// UniqueReplaced is true (with UniqueSkipped) when that job was
	// waiting and the param's UniqueReplace changed it; Job is the job as
	// it is after the change.
	UniqueReplaced bool
}

// InflightStates reports whether every state of states is one a job is in
// between available and finalized (running, scheduled, retryable,
// pending): those that both stores index apart from the available and
// finished jobs (SQLite: by state and ID, migration 015's
// kiln_job_state_inflight; PostgreSQL: by state and ID but for running
// jobs, which kiln_job_running holds by kind, key and ID, migration 032),
// so that a list of them reads only its own jobs. It is false for an
// empty list.
func InflightStates(states []kilntype.JobState) bool {
	for _, st := range states {
		switch st {
		case kilntype.JobStateRunning, kilntype.JobStateScheduled, kilntype.JobStateRetryable, kilntype.JobStatePending:
		default:
			return false
		}
	}
	return len(states) > 0
}

// FinalStates reports whether every state of states is a final one
// (completed, cancelled, discarded): those that both stores index by state
// and ID among finished jobs (kiln_job_finished), so that a list of one of
// them reads only its own jobs. It is false for an empty list.
func FinalStates(states []kilntype.JobState) bool {
	for _, st := range states {
		if !st.Finalized() {
			return false
		}
	}
	return len(states) > 0
}

// JobListParams filters and pages JobList. The zero value lists the newest
// jobs of any state, kind and queue, DefaultListLimit of them.
type JobListParams struct {
	States []kilntype.JobState // any of these; nil means all
	Kinds  []string            // any of these; nil means all
	Queues []string            // any of these; nil means all
	// Tag, if not empty, keeps only the jobs that have this tag (an exact,
	// case-sensitive match of one of their Tags). Stores index it.
	Tag string
	// ArgsContains, if not empty, keeps only the jobs whose args, as JSON
	// text, contain it: a case-sensitive substring match. No index serves
	// it, so every job of the listed range that passes the other filters is
	// read: bound the range with StopAt. The text is the store's: SQLite
	// keeps args as they were encoded at enqueue (encoding/json, compact),
	// PostgreSQL's jsonb prints them with a space after ':' and ',' and its
	// keys reordered, so search for values (an e-mail, an ID), not for JSON
	// punctuation.
	ArgsContains string
	// Cursor is the ID of the last job of the previous page; 0 starts at the
	// first page. Pages are ordered by ID, so they stay stable while jobs are
	// added (keyset pagination).
	Cursor int64
	// StopAt, if not 0, ends the listed range at this ID, included: newest
	// first pages hold only IDs >= StopAt, oldest first pages IDs <= StopAt.
	// With Cursor it bounds a page's work to a window of IDs.
	StopAt   int64
	OrderAsc bool // oldest first; default newest first
	Limit    int  // 1 to MaxListLimit; 0 means DefaultListLimit
	// ArgsPreview, if above 0, cuts long args: the store reads only the
	// first ArgsPreview characters of each job's args and their full
	// length, so that a page of jobs with megabytes of args costs what a
	// page of small jobs does. A job whose args' JSON text is longer than
	// ArgsPreview bytes comes with Args nil, ArgsTruncated set and
	// ArgsPreview holding its first ArgsPreview bytes or fewer (see
	// PreviewArgs); ArgsBytes is the full length either way. 0 returns
	// whole args.
	ArgsPreview int
	// CreatedFrom, if not zero, keeps the jobs created at or after it;
	// CreatedBefore, if not zero, those created before it. No index
	// serves them: they are checked on each job of the walk.
	CreatedFrom   time.Time
	CreatedBefore time.Time
}

// PreviewArgs applies JobListParams.ArgsPreview to j, a row read with the
// first preview characters of its args in j.Args and the full length of
// its args' JSON text in bytes: the row of a backend's JobList. Backends
// call it so that both cut alike.
func PreviewArgs(j *kilntype.JobRow, argsBytes int64, preview int) {
	j.ArgsBytes = int(argsBytes)
	if argsBytes <= int64(preview) {
		return // j.Args is whole
	}
	cut := j.Args[:min(len(j.Args), preview)]
	// Drop a character cut in the middle: up to 3 bytes of a sequence.
	for range utf8.UTFMax - 1 {
		if r, size := utf8.DecodeLastRune(cut); len(cut) == 0 || r != utf8.RuneError || size > 1 {
			break
		}
		cut = cut[:len(cut)-1]
	}
	j.Args, j.ArgsPreview, j.ArgsTruncated = nil, string(cut), true
}

// DefaultListLimit is the page size of JobList when Limit is 0, and
// MaxListLimit the largest allowed (larger values are cut to it).
const (
	DefaultListLimit = 100
	MaxListLimit     = 10_000
)

// JobGetParams names the job JobGet returns.
type JobGetParams struct {
	ID int64
}

// JobDeleteParams names the job JobDelete deletes.
type JobDeleteParams struct {
	ID int64
}

// JobAttemptListParams names the job whose attempts JobAttemptList returns.
type JobAttemptListParams struct {
	JobID int64
}

// JobListCancelRequestedParams names the process whose cancelled jobs
// JobListCancelRequested returns.
type JobListCancelRequestedParams struct {
	LeasedBy string
}

// JobClaimParams describes a claim of due jobs from one queue.
type JobClaimParams struct {
	Queue string
	Max   int // how many jobs at most (the caller's free worker slots)
	// Kinds restricts the claim to jobs of these kinds (the kinds this
	// process has workers for). Without kinds (nil or empty) the claim
	// takes no job, unless AnyKind is set.
	Kinds []string
	// AnyKind makes the claim take jobs of every kind and ignore Kinds (a
	// process with Config.StrictKinds, which fails the jobs it has no
	// worker for).
	AnyKind bool
	// KindLimits caps how many jobs of a kind this claim may return (the
	// free slots of kinds with a concurrency limit); a kind absent from the
	// map is capped only by Max. A limit of 0 excludes the kind.
	KindLimits map[string]int
	// ClusterKindLimits caps how many jobs of a kind may run at once across
	// every process sharing the store (Worker.ClusterMaxConcurrency): the
	// claim takes at most the limit minus the kind's running jobs, counted
	// in the claim's own transaction, and claims of such kinds are
	// serialized so that two processes cannot both take the last slot. A
	// kind in both maps gets the lower of the two caps (see
	// MergeKindLimits).
	ClusterKindLimits map[string]int
	// RateLimits are the kinds whose claims keep a cluster-wide rate limit
	// (RateLimitStore), each with its worker's default in code: the limit
	// applies unless a run-time override (RateLimitSet) replaces it; a
	// zero default applies only an override. The claim takes at most the
	// kind's allowance (kilntype.RateLimit.Allowance) on the store's clock
	// for budgets, counts what it took in the budget in its transaction,
	// and claims of such kinds are serialized, as those of
	// ClusterKindLimits are. A kind absent from the map is never rate
	// limited by the claim, whatever the store holds for it, and costs
	// nothing more.
	RateLimits map[string]kilntype.RateLimit
	// RateWait is set by JobClaim when RateLimits or KeyRateLimits is: how
	// long from the claim until the first rate-limited kind (or key of a
	// kind of KeyRateLimits that the claim visited) whose allowance the
	// claim used up (or found empty) may start a job again; 0 when none
	// did. The
	// caller claims again then rather than at its next poll.
	RateWait time.Duration
	// Partitioned lists the kinds claimed by partition key
	// (kilntype.JobRow.Partition) rather than in claim order: the claim
	// visits the keys that have available jobs of the kind in rotation,
	// from where the store's previous claim of the queue and kind stopped,
	// taking a few jobs per key, and with a positive MaxRunning it takes
	// none of a key that has that many jobs of the kind running in any
	// process (see ClaimPartitioned). Their scheduled and retryable jobs
	// are left to the promoter. A kind absent from the map is claimed as
	// usual, at no extra cost.
	Partitioned map[string]PartitionClaim
	// KeyRateLimits are the kinds whose claims keep a cluster-wide rate
	// limit for each partition key (RateLimitStore, PerKey), each with its
	// worker's default in code, which a run-time override replaces (a
	// zero default applies only an override). Jobs without a key share
	// the budget of the key "". Such a kind is claimed by partition key,
	// as the kinds of Partitioned are (with Partitioned's MaxRunning when
	// it is there too): the claim takes at most each key's allowance on
	// the store's clock for budgets, passing over the keys whose budget is
	// spent (they keep their jobs available) to take other keys' jobs,
	// counts what it took in each key's budget in its transaction, and
	// claims of such kinds are serialized, as those of RateLimits are.
	// A kind may be in both RateLimits and KeyRateLimits: both budgets
	// hold. RateWait counts the keys whose budget held a job back. A kind
	// absent from the map is never limited per key by the claim.
	KeyRateLimits map[string]kilntype.RateLimit
	// FromFront makes the claim take jobs in strict claim order, reading
	// its ranges from their front even where the store would start past
	// the jobs its earlier claims took (the PostgreSQL store's marks, see
	// ClaimFrontEvery): for a caller that must see a job made due before
	// them at once, as a test's drain does. It costs a claim the read of
	// the index entries of every job claimed since the last VACUUM.
	FromFront bool
	LeasedBy  string // the claiming process's ID
	// LeaseExpiresAt is the lease's end unless renewed; LeaseExpiresAt -
	// Now is its length (see Lease and leadership times).
	LeaseExpiresAt time.Time
	Now            time.Time
}

// JobLeaseRenewParams renews the leases of a process's running jobs.
type JobLeaseRenewParams struct {
	LeasedBy string
	IDs      []int64
	// LeaseExpiresAt is the leases' new end; with Now, the caller's time of
	// the renewal, it gives their length, LeaseExpiresAt - Now, which a
	// store that reads its database's clock adds to that clock. Such a
	// store requires Now.
	LeaseExpiresAt time.Time
	Now            time.Time
}

// JobFinishParams records how one attempt of a running job ended.
type JobFinishParams struct {
	ID       int64
	LeasedBy string // the finish applies only while the job is leased by it
	// AttemptedAt identifies the claim the attempt ran under (the claimed
	// row's AttemptedAt): the finish applies only to that claim, so the
	// outcome of a stale copy of a job that was rescued and claimed again by
	// the same process is ignored. Zero skips the check.
	AttemptedAt time.Time
	// State is the job's new state: completed, retryable, discarded,
	// cancelled, scheduled (snoozed) or available (interrupted by shutdown).
	State kilntype.JobState
	// ScheduledAt is when a retryable, scheduled or available job is due;
	// ignored for final states.
	ScheduledAt time.Time
	// UndoAttempt gives the attempt back (Attempt-1): for snoozes and
	// shutdown interruptions, which do not count against MaxAttempts.
	UndoAttempt bool
	// Now is when the attempt ended; it becomes FinalizedAt of final states.
	Now time.Time
	// Attempt is the history entry to append; its JobID is ID.
	Attempt kilntype.JobAttempt
	// Output, if not nil, is the job's output (valid JSON): stored with the
	// job when State is completed and the job moves, by the same write
	// that completes it; ignored for other states. A completed job
	// without Output keeps none (JobRetry clears an earlier one).
	Output json.RawMessage
}

// JobCancelParams cancels one job.
type JobCancelParams struct {
	ID  int64
	Now time.Time
}

// JobRetryParams retries one job now.
type JobRetryParams struct {
	ID  int64
	Now time.Time
}

// JobScheduleDueParams promotes due scheduled and retryable jobs.
type JobScheduleDueParams struct {
	Now time.Time
	Max int
}

// JobRescueExpiredParams takes back running jobs whose lease expired.
type JobRescueExpiredParams struct {
	Now time.Time
	Max int
}

// JobDeleteFinishedParams deletes old finalized jobs. A zero cut-off time
// deletes no job of that state.
type JobDeleteFinishedParams struct {
	CompletedBefore time.Time
	CancelledBefore time.Time
	DiscardedBefore time.Time
	Max             int
	// Rules, if not empty, are cut-offs narrower than a state's, per kind,
	// queue or both: each job follows the most specific one that matches
	// it (see RetentionGroups), and a rule with empty Kind and Queue
	// replaces its state's field above. With or without rules, the store
	// reads the kinds present among the finalized jobs of each state it
	// can delete from (CleanedStates), and deletes from each group's range
	// in turn, up to Max jobs in all.
	Rules []RetentionCutoff
	// Now is the time of the call, which Progress's sweeps are timed by; a
	// zero Now means the wall clock.
	Now time.Time
	// Progress (optional) is the caller's place in the jobs table between
	// calls, for a store that reads the jobs by ID ranges rather than
	// through an index of finalized jobs (PostgreSQL): the store reads
	// from it, at most ReadMax jobs per call, and saves where it stopped
	// into it before it returns, on error too. Without Progress such a
	// store reads every job, from the first, until it deleted Max. A
	// store with an index of finalized jobs (SQLite) leaves it as it is.
	Progress *CleanProgress
	// ReadMax bounds the jobs a call with Progress reads; 0 means
	// DefaultCleanReadMax.
	ReadMax int
	// SweepEvery is how long a store with Progress waits, at least, from
	// the start of one sweep (see CleanProgress) to the next; 0 means
	// DefaultCleanSweepEvery.
	SweepEvery time.Duration
}

// LeaderElectParams asks to become, or stay, the leader of Name.
type LeaderElectParams struct {
	Name     string // what is led, e.g. "maintenance"
	LeaderID string // the candidate process's ID
	TTL      time.Duration
	Now      time.Time
}

// LeaderResignParams gives up the leadership of Name.
type LeaderResignParams struct {
	Name     string
	LeaderID string
}

// HeldMigration is a contract migration of this build that the database
// lacks (Store.MigrationsHeld): one that removes what processes of older
// builds still need, which Migrate applies only once none of them is
// registered.
type HeldMigration struct {
	// Name is the migration's file name without ".sql", e.g.
	// "030_partition_key_null".
	Name string
	// Contract is the version N of its "-- kiln:contract N" line: the
	// processes whose build's last migration is before N hold it back.
	Contract int
	// Older are those processes, one line each ("server ID (host H, pid
	// P, last migration L, refreshed at T)"); empty when nothing holds it
	// back: the next Migrate applies it.
	Older []string
	// Behind is the name of the earlier contract migration, held back,
	// that it waits for (they apply in version order), "" when none.
	Behind string
}

// String says what holds h back, in one line.
func (h HeldMigration) String() string {
	switch {
	case h.Behind != "":
		return fmt.Sprintf("%s waits for %s", h.Name, h.Behind)
	case len(h.Older) == 0:
		return fmt.Sprintf("%s is held by no process: the next migrate applies it", h.Name)
	}
	return fmt.Sprintf("%s waits until no process of a build before migration %d is registered: %s",
		h.Name, h.Contract, strings.Join(h.Older, "; "))
}
