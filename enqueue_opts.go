package kiln

import (
	"encoding/hex"
	"hash"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// QueueDefault is the queue jobs go to unless their options name another.
const QueueDefault = "default"

// Priority bounds, re-exported from kilntype: 1 runs first, 4 last, as
// in River. PriorityDefault is 1.
const (
	PriorityHighest = kilntype.PriorityHighest
	PriorityLowest  = kilntype.PriorityLowest
	PriorityDefault = PriorityHighest
)

// EnqueueOpts are the options of one enqueue. Every field's zero value
// means "not set": the args' own EnqueueOpts (see JobArgsWithEnqueueOpts),
// then the worker's settings, then the client's defaults apply.
type EnqueueOpts struct {
	// Queue is the queue to run in; default QueueDefault. A queue name is
	// 1 to 128 bytes of UTF-8 text without spaces or control characters.
	Queue string
	// Priority is 1 (runs first) to 4 (runs last); default 1.
	Priority int
	// MaxAttempts is how many attempts before the job is discarded; default
	// the worker's MaxAttempts, else Config.MaxAttempts (25).
	MaxAttempts int
	// RunAt delays the job until this time (Hangfire's Schedule with a
	// DateTimeOffset). A time in the past runs at once.
	RunAt time.Time
	// RunIn delays the job by this duration from the enqueue (Hangfire's
	// Schedule with a TimeSpan). Ignored when RunAt is set.
	RunIn time.Duration
	// Tags label the job for filtering (at most 32, each 1-128 bytes).
	Tags []string
	// Metadata is stored with the job as a JSON object; read it back with
	// JobRow.MetadataValue or MetadataMap. Keys and values are UTF-8
	// without NUL; at most Config.MaxArgsBytes of JSON. The keys Kiln sets
	// itself are reserved and refused (a *ValidationError for the key):
	// MetadataParentIDs, MetadataBatchID, MetadataBatchTotal,
	// MetadataBatchCompleted, MetadataBatchFailed, MetadataRecurringID and
	// MetadataOccurrenceAt; MetadataTraceParent and MetadataTraceState may
	// be set (see Config.TracerProvider).
	Metadata map[string]string
	// Unique, if set, enqueues nothing when a matching job exists that is
	// not finished yet; the existing job is returned instead.
	Unique *UniqueOpts
	// Parents makes the job a continuation (Hangfire's ContinueJobWith):
	// it waits in the pending state until every parent job has ended, then
	// becomes available, or is cancelled if a parent did not complete and
	// ParentFailure is ParentFailureCancel. The worker finds the parents'
	// IDs with ParentIDs(job), and their outputs with Job.ParentOutputs.
	// A parent given more than once counts once (the first occurrence
	// keeps its place). Not allowed with RunAt or RunIn.
	Parents []int64
	// ParentFailure is what happens when a parent is cancelled, discarded
	// or deleted: default ParentFailureCancel.
	ParentFailure ParentFailurePolicy
	// Partition is the job's partition key: the tenant, customer or
	// resource that per-key flow control groups it by (see
	// docs/flow-control.md). Default: the args' Partition method when
	// they implement Partitioner, else none (""). At most
	// MaxPartitionKeyBytes bytes of UTF-8 without NUL; stored as
	// JobRow.Partition.
	Partition string
}

// UniqueOpts makes an enqueue unique. Two jobs match when they have the
// same kind and the same args (their JSON, byte for byte), and, as asked,
// the same queue and the same period. A match counts only while the first
// job is not completed, cancelled or discarded.
type UniqueOpts struct {
	// ByQueue also requires the same queue.
	ByQueue bool
	// ByPeriod, if positive, also requires the same period: time is cut
	// into periods of this length from the Unix epoch (UTC), and jobs
	// enqueued in different periods never match.
	ByPeriod time.Duration
	// Key, if not empty, is matched instead of the args: jobs of the same
	// kind with the same Key match whatever their args (Oban's unique
	// keys). At most 255 bytes of UTF-8 text. With Replace.Args, the
	// newest enqueue's args win.
	Key string
	// Replace, if set, makes an enqueue that matches a job still waiting
	// (available, scheduled or retryable) change that job rather than
	// leave it as it is; a pending or running job is left alone (see
	// UniqueReplace). EnqueueResult.UniqueReplaced reports it.
	Replace UniqueReplace
}

// JobArgsWithEnqueueOpts is implemented by args types that carry their own
// default enqueue options (River's InsertOpts): for example a kind that
// always goes to the "email" queue.
type JobArgsWithEnqueueOpts interface {
	JobArgs
	EnqueueOpts() EnqueueOpts
}

// EnqueueParams is one job of an EnqueueMany call.
type EnqueueParams struct {
	Args JobArgs      // the job's arguments; their Kind names the worker
	Opts *EnqueueOpts // nil: defaults
}

// EnqueueResult is the outcome of one enqueue.
type EnqueueResult struct {
	// Job is the enqueued job, or the existing job when UniqueSkipped.
	Job *JobRow
	// UniqueSkipped reports that a matching unique job already existed
	// (nothing was inserted).
	UniqueSkipped bool
	// UniqueReplaced reports, with UniqueSkipped, that the matching job
	// was waiting and UniqueOpts.Replace changed it: Job is the job as it
	// is after the change. UniqueSkipped without UniqueReplaced: the job
	// was left as it was (no Replace, or it was pending or running).
	UniqueReplaced bool
}

// merge fills o's unset fields from d.
func (o EnqueueOpts) merge(d EnqueueOpts) EnqueueOpts {
	if o.Queue == "" {
		o.Queue = d.Queue
	}
	if o.Priority == 0 {
		o.Priority = d.Priority
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if o.RunAt.IsZero() && o.RunIn == 0 {
		o.RunAt, o.RunIn = d.RunAt, d.RunIn
	}
	if o.Tags == nil {
		o.Tags = d.Tags
	}
	if o.Metadata == nil {
		o.Metadata = d.Metadata
	}
	if o.Unique == nil {
		o.Unique = d.Unique
	}
	if o.Partition == "" {
		o.Partition = d.Partition
	}
	return o
}

// uniqueKey returns the key that identifies matching unique jobs.
// h is the hash to use: sha256.New(), or the Encryptor's keyed HMAC when
// args are encrypted (a plain hash of args would let anyone who reads
// the database confirm a guess of them).
func (u *UniqueOpts) uniqueKey(h hash.Hash, kind string, args []byte, queue string, now time.Time) string {
	h.Write([]byte(kind))
	h.Write([]byte{0})
	if u.Key != "" {
		// \x01 starts no JSON text: a Key never hashes as some args do.
		h.Write([]byte{1})
		h.Write([]byte(u.Key))
	} else {
		h.Write(args)
	}
	if u.ByQueue {
		h.Write([]byte{0})
		h.Write([]byte(queue))
	}
	if u.ByPeriod > 0 {
		h.Write([]byte{0})
		h.Write([]byte(strconv.FormatInt(now.UnixNano()/int64(u.ByPeriod), 10)))
	}
	return hex.EncodeToString(h.Sum(nil))
}
