package store

import (
	"context"
	"time"
)

// PruneStore deletes the bookkeeping rows that outlive their jobs: the
// occurrences of recurring entries (one row per run) and batches. The
// leader's cleaner calls it with the longest job retention as the cut-off,
// so that an entry firing every second does not keep a row per run
// forever.
type PruneStore interface {
	// RecurringOccurrenceDeleteOld deletes up to params.Max occurrence rows
	// whose time is before params.Before and whose job no longer exists,
	// keeping each entry's newest occurrence (its last run), and returns
	// how many it deleted.
	RecurringOccurrenceDeleteOld(ctx context.Context, params *RecurringOccurrenceDeleteOldParams) (int, error)
	// BatchDeleteOld deletes up to params.Max batches created before
	// params.Before none of whose jobs (members and callback) exists any
	// more, with their member rows, and returns how many it deleted.
	BatchDeleteOld(ctx context.Context, params *BatchDeleteOldParams) (int, error)
}

// RecurringOccurrenceDeleteOldParams selects old occurrence rows to delete.
type RecurringOccurrenceDeleteOldParams struct {
	Before time.Time // occurrences before it
	Max    int       // how many rows at most
}

// BatchDeleteOldParams selects old batches to delete.
type BatchDeleteOldParams struct {
	Before time.Time // batches created before it
	Max    int       // how many batches at most
}
