package kiln

import "github.com/kilnjobs/kiln/kilntype"

// MaxPartitionKeyBytes is the longest partition key (EnqueueOpts.Partition,
// Partitioner), in bytes of UTF-8: 255; re-exported from kilntype.
const MaxPartitionKeyBytes = kilntype.MaxPartitionKeyBytes

// Partitioner is implemented by args types whose jobs carry a partition
// key computed from their args: the tenant, customer or resource that
// per-key flow control groups them by (per-key concurrency limits, fair
// claims between keys, per-key rate limits; see docs/flow-control.md). It
// plays the part of River Pro's partitioned concurrency "ByArgs" and of
// Temporal's fairness keys.
//
// Every enqueue of such args (Client.Enqueue, EnqueueMany, EnqueueTx,
// batches and continuations) stores Partition's result as the job's
// JobRow.Partition, unless EnqueueOpts.Partition (or the args'
// JobArgsWithEnqueueOpts) sets one. Because the key is computed from the
// args by a method of their type, every process that enqueues them
// computes the same key, including a process that has no worker
// registered for the kind.
//
// Partition must return at most MaxPartitionKeyBytes bytes of UTF-8
// without NUL, or the enqueue fails with a *ValidationError for the field
// "partition"; "" means no key. It must be a pure function of the args.
type Partitioner interface {
	JobArgs
	Partition() string
}
