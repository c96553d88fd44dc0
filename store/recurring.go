package store

import (
	"context"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// RecurringStore is the part of Store that keeps recurring entries and
// enqueues their occurrences. Exactly one job per occurrence is enforced by
// the database: a table keyed by (entry ID, occurrence time) gets a row in
// the same transaction as the job, so two schedulers racing on the same
// occurrence enqueue one job between them.
type RecurringStore interface {
	// RecurringUpsert creates the entry, or updates the one with the same
	// ID (add-or-update, as Hangfire's AddOrUpdate). An update keeps Paused,
	// LastRunAt, LastJobID and CreatedAt; it keeps NextRunAt too unless
	// params.ResetNextRun is set (the schedule or time zone changed). It
	// reports whether the entry was created.
	RecurringUpsert(ctx context.Context, params *RecurringUpsertParams) (row *kilntype.RecurringRow, created bool, err error)
	// RecurringGet returns the entry or a wrapped kilntype.ErrNotFound.
	RecurringGet(ctx context.Context, params *RecurringGetParams) (*kilntype.RecurringRow, error)
	// RecurringList returns entries ordered by ID, at most Limit after the
	// keyset Cursor (an ID; "" starts at the first).
	RecurringList(ctx context.Context, params *RecurringListParams) ([]*kilntype.RecurringRow, error)
	// RecurringDelete deletes the entry (its jobs stay) and returns it as it
	// was, or a wrapped kilntype.ErrNotFound.
	RecurringDelete(ctx context.Context, params *RecurringDeleteParams) (*kilntype.RecurringRow, error)
	// RecurringDeleteExcept deletes every entry whose ID is not in
	// params.Keep and returns the IDs it deleted (pruning entries no longer
	// defined in code).
	RecurringDeleteExcept(ctx context.Context, params *RecurringDeleteExceptParams) ([]string, error)
	// RecurringSetPaused pauses or resumes the entry. Resuming sets
	// NextRunAt to params.NextRunAt (the next occurrence after now, so that
	// a paused span is not caught up). Returns the entry after the change,
	// or a wrapped kilntype.ErrNotFound.
	RecurringSetPaused(ctx context.Context, params *RecurringSetPausedParams) (*kilntype.RecurringRow, error)
	// RecurringSetError records why the entry's latest occurrence enqueued
	// nothing (params.Message; "" clears it).
	RecurringSetError(ctx context.Context, params *RecurringSetErrorParams) error
	// RecurringNextDue returns the earliest NextRunAt among entries that are
	// not paused, and false when there is none.
	RecurringNextDue(ctx context.Context) (time.Time, bool, error)
	// RecurringListDue returns up to Max entries, not paused, whose
	// NextRunAt <= Now, earliest first.
	RecurringListDue(ctx context.Context, params *RecurringListDueParams) ([]*kilntype.RecurringRow, error)
	// RecurringEnqueue enqueues an entry's occurrences in one transaction,
	// and moves the entry's NextRunAt to params.NextRunAt if it still is
	// params.PrevNextRunAt (so a stale scheduler cannot move it back; a zero
	// NextRunAt leaves it alone). params.Overlap is judged once, against
	// the jobs the entry enqueued before the call: those of its 8 newest
	// occurrences that are not finalized (pending, scheduled, available,
	// running or retryable; a deleted job counts as finished). OverlapAllow
	// ignores them; OverlapSkip blocks the call's occurrences when there is
	// any; OverlapQueueOne blocks them when there are two or more, or one
	// that is not running, and makes them wait for the one that is running.
	// Then, for each occurrence, in order: if the entry already has an
	// occurrence row at that time, it is skipped as a "duplicate";
	// otherwise, if blocked, it is skipped as an "overlap"; otherwise its
	// job is inserted, an occurrence row (entry ID, time, job ID) is
	// written, and the entry's LastRunAt and LastJobID become this
	// occurrence's. Under OverlapSkip and OverlapQueueOne the jobs of one
	// call run one at a time: each inserted job waits for the one inserted
	// before it in the call (the first one, under OverlapQueueOne, for the
	// running job, if any). A job that waits is inserted pending, a
	// continuation (ParentFailure run, see DependencyStore) of that job,
	// with MetadataParentIDs in its metadata. params.LastError, if not
	// nil, becomes the entry's LastError in the same transaction. Each
	// occurrence skipped as an "overlap" and each of params.Skips is
	// recorded (RecurringSkipList; a record at a time the entry already has
	// one is left as it is), and the entry's records beyond the newest
	// MaxRecurringSkips deleted, in the same transaction. It returns what
	// happened to each occurrence, in order. An unknown entry gives a
	// wrapped ErrNotFound.
	RecurringEnqueue(ctx context.Context, params *RecurringEnqueueParams) ([]RecurringOccurrenceResult, error)
	// RecurringEnqueueMany does what RecurringEnqueue does for several
	// entries in one transaction (the scheduler's batch of due entries), and
	// returns each entry's results, in order. An entry that no longer exists
	// gets nil results instead of failing the call.
	RecurringEnqueueMany(ctx context.Context, params []*RecurringEnqueueParams) ([][]RecurringOccurrenceResult, error)
	// RecurringOccurrenceList returns the entry's latest occurrences, newest
	// first, at most params.Limit, with the state and times of each one's
	// job. It reads the occurrence rows' primary key from its newest end and
	// each job by ID: its cost grows with Limit, not with the jobs.
	RecurringOccurrenceList(ctx context.Context, params *RecurringOccurrenceListParams) ([]*RecurringOccurrence, error)
	// RecurringSkipList returns the entry's latest recorded skips (see
	// RecurringEnqueue), newest first by occurrence time, at most
	// params.Limit (0 or less: DefaultListLimit; at most MaxRecurringSkips
	// are kept). An unknown entry gives an empty list.
	RecurringSkipList(ctx context.Context, params *RecurringSkipListParams) ([]*RecurringSkip, error)
}

// MaxRecurringSkips is how many skip records RecurringEnqueue keeps per
// entry: writing one deletes the entry's older ones beyond this number, in
// the same transaction.
const MaxRecurringSkips = 100

// Reasons for a skipped occurrence (RecurringOccurrenceResult.Skipped:
// SkipDuplicate, SkipOverlap) and for a recorded skip (RecurringSkip.Reason:
// SkipOverlap, SkipMisfire).
const (
	// SkipDuplicate: another scheduler enqueued the occurrence already
	// (it is never recorded as a skip).
	SkipDuplicate = "duplicate"
	// SkipOverlap: an earlier run of the entry was unfinished
	// (RecurringEnqueueParams.Overlap skip or queue_one).
	SkipOverlap = "overlap"
	// SkipMisfire: the occurrence was missed and its misfire policy gave
	// it no job.
	SkipMisfire = "misfire"
)

// RecurringSkip records occurrences of an entry that got no job: one
// occurrence skipped for overlap, or a run of missed occurrences (from At
// through Through, Count of them) that the misfire policy dropped.
type RecurringSkip struct {
	RecurringID string
	At          time.Time // the (first) occurrence skipped
	Through     time.Time // the last occurrence of the run; At for one
	// Count is how many occurrences the record stands for (1 for an
	// overlap). When the scheduler was more occurrences behind than it
	// walks (internal/recurring's maxCatchUp), it counts those walked: a
	// lower bound.
	Count  int
	Reason string // SkipOverlap or SkipMisfire
	// Policy is the policy that decided: the entry's overlap policy for
	// SkipOverlap, its misfire policy for SkipMisfire.
	Policy     string
	RecordedAt time.Time // when the skip was written
}

// RecurringSkipListParams selects an entry's latest skips.
type RecurringSkipListParams struct {
	ID    string
	Limit int // how many at most; 0 or less: DefaultListLimit
}

// RecurringUpsertParams describes an entry to create or update. The client
// fills every field and validates it; the store applies no defaults.
type RecurringUpsertParams struct {
	Row *kilntype.RecurringRow // Paused, LastRunAt, LastJobID, LastError ignored on update
	// ResetNextRun replaces NextRunAt on update (the schedule changed).
	ResetNextRun bool
	Now          time.Time
}

// RecurringGetParams names the entry RecurringGet returns.
type RecurringGetParams struct {
	ID string
}

// RecurringDeleteParams names the entry RecurringDelete deletes.
type RecurringDeleteParams struct {
	ID string
}

// RecurringDeleteExceptParams names the entries RecurringDeleteExcept keeps.
type RecurringDeleteExceptParams struct {
	Keep []string // entry IDs; every other entry is deleted
}

// RecurringSetErrorParams records an entry's latest error.
type RecurringSetErrorParams struct {
	ID      string
	Message string // "" clears the error
	Now     time.Time
}

// RecurringOccurrenceListParams selects an entry's latest occurrences.
type RecurringOccurrenceListParams struct {
	ID    string
	Limit int // how many at most
}

// RecurringListParams pages RecurringList.
type RecurringListParams struct {
	Cursor string // the last ID of the previous page; "" for the first
	Limit  int    // 1 to MaxListLimit; 0 means DefaultListLimit
}

// RecurringSetPausedParams pauses or resumes an entry.
type RecurringSetPausedParams struct {
	ID        string
	Paused    bool
	NextRunAt time.Time // used when resuming
	Now       time.Time
}

// RecurringListDueParams selects due entries.
type RecurringListDueParams struct {
	Now time.Time
	Max int
}

// RecurringEnqueueParams enqueues occurrences of one entry.
type RecurringEnqueueParams struct {
	ID          string
	Occurrences []RecurringOccurrenceInsert
	// Overlap decides whether an occurrence may be enqueued while earlier
	// jobs of the entry are unfinished.
	Overlap kilntype.OverlapPolicy
	// PrevNextRunAt and NextRunAt move the entry's schedule forward; a zero
	// NextRunAt leaves it alone (a manual trigger).
	PrevNextRunAt time.Time
	NextRunAt     time.Time
	// LastError, if not nil, becomes the entry's LastError ("" clears
	// it), in the enqueue's transaction: the scheduler's verdict on the
	// entry cannot be lost between the enqueue and a later write.
	LastError *string
	// Skips are occurrences the caller decided to skip (the scheduler's
	// missed occurrences dropped by the misfire policy), recorded with
	// the call. RecurringID and RecordedAt are set by the store.
	Skips []RecurringSkip
	Now   time.Time
}

// RecurringOccurrenceInsert is one occurrence and the job to insert for it.
type RecurringOccurrenceInsert struct {
	At  time.Time
	Job *JobInsertParams
}

// RecurringOccurrenceResult says what happened to one occurrence.
type RecurringOccurrenceResult struct {
	At  time.Time
	Job *kilntype.JobRow // the inserted job; nil when skipped
	// Skipped is "" when the job was inserted, else SkipDuplicate
	// (another scheduler enqueued it) or SkipOverlap (an earlier run is
	// unfinished).
	Skipped string
}

// RecurringOccurrence is one enqueued occurrence of an entry.
type RecurringOccurrence struct {
	RecurringID string
	At          time.Time
	JobID       int64
	// JobState is the state of the job, or "" if the job was deleted.
	JobState kilntype.JobState
	// StartedAt is when the job's first attempt started (nil before it,
	// or when the job was deleted); AttemptedAt when its latest attempt
	// started, FinalizedAt when it reached a final state (nil before).
	StartedAt, AttemptedAt, FinalizedAt *time.Time
	// Attempt is the number of attempts the job has started.
	Attempt int
}
