package store

import (
	"context"
	"time"
)

// PruneStore deletes the bookkeeping rows that outlive their jobs: the
// occurrences of recurring entries (one row per run) and batches. The
// leader's cleaner calls it with the longest job retention as the cut-off,
// so that an entry firing every second does not keep a row per run
// forever. Its JobVacuum removes the dead versions of job rows that a
// store keeps until a vacuum (PostgreSQL).
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
	// JobVacuum removes the dead row versions of the jobs table, and the
	// index entries that point at them, when the store keeps them until a
	// vacuum (PostgreSQL) and they have piled up after many jobs ran while
	// few wait (the store's documentation says when); it returns what it
	// found and whether it vacuumed. A store that keeps none (SQLite, whose
	// B-trees remove an entry with its row) returns a zero result. The
	// leader's vacuumer calls it every few seconds.
	JobVacuum(ctx context.Context, params *JobVacuumParams) (JobVacuumResult, error)
}

// JobVacuumParams says when JobVacuum vacuums.
type JobVacuumParams struct {
	// MinDead is the fewest dead row versions worth a vacuum.
	MinDead int64
}

// JobVacuumResult is what JobVacuum found, and whether it vacuumed.
type JobVacuumResult struct {
	Dead, Live int64 // the jobs table's dead and live row versions, as the database counts them
	Available  int64 // available jobs, from the counters (on PostgreSQL their folded totals)
	// Vacuumed is true when the jobs table was vacuumed (not when another
	// vacuum of it, running already, made this one skip it).
	Vacuumed bool
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
