package store

import (
	"context"
	"time"
)

// PruneStore deletes the bookkeeping rows that outlive their jobs: the
// occurrences of recurring entries (one row per run) and batches. The
// leader's cleaner calls it with the longest job retention as the cut-off,
// so that an entry firing every second does not keep a row per run
// forever. Both built-in stores implement it; the client uses it when the
// store has it, so a third-party store may leave it out.
type PruneStore interface {
	// RecurringOccurrenceDeleteOld deletes up to max occurrence rows whose
	// time is before before and whose job no longer exists, keeping each
	// entry's newest occurrence (its last run), and returns how many it
	// deleted.
	RecurringOccurrenceDeleteOld(ctx context.Context, before time.Time, max int) (int, error)
	// BatchDeleteOld deletes up to max batches created before before none
	// of whose jobs (members and callback) exists any more, with their
	// member rows, and returns how many it deleted.
	BatchDeleteOld(ctx context.Context, before time.Time, max int) (int, error)
}
