package kiln

import "github.com/kilnjobs/kiln/store"

// UniqueReplace says what a unique enqueue (UniqueOpts.Replace) changes on
// the matching job when that job is still waiting: available, scheduled or
// retryable. A pending job (a continuation) or a running one is never
// changed; the enqueue then returns it with UniqueSkipped alone, as
// without Replace. The change is made in the enqueue's transaction, with
// the job locked: a claim cannot take the job halfway through, and of
// concurrent enqueues that replace the same job, the last to commit wins
// (as Hatchet's cancel-queued-except-newest keeps the newest). The zero
// value changes nothing.
//
// Debounce: with Schedule and RunIn, every enqueue pushes the waiting job
// to RunIn after the latest enqueue, so it runs once, RunIn after a burst
// of enqueues ends (Oban's replace: [:scheduled_at]):
//
//	opts := &kiln.EnqueueOpts{RunIn: 5 * time.Second, Unique: &kiln.UniqueOpts{
//		Key: "reindex:" + userID, Replace: kiln.UniqueReplace{Args: true, Schedule: true}}}
type UniqueReplace struct {
	// Args replaces the job's args with this enqueue's, and its partition
	// key with this enqueue's (EnqueueOpts.Partition or the args'
	// Partitioner; none if neither gives one), so that the job's per-key
	// limits and fair share are its new args' key. Jobs match by their
	// args unless UniqueOpts.Key is set, so Args changes something only
	// with a Key.
	Args bool
	// Schedule replaces the job's ScheduledAt with this enqueue's (RunAt,
	// RunIn, or now), and makes it scheduled (a time ahead) or available
	// (now or past); a retryable job stays retryable, due at the new time.
	Schedule bool
}

// maxUniqueKeyBytes bounds UniqueOpts.Key.
const maxUniqueKeyBytes = 255

// check validates u: its Key's text and length, and no Replace on a
// continuation (which waits pending, and is never replaced).
func (u *UniqueOpts) check(continuation bool) error {
	if len(u.Key) > maxUniqueKeyBytes {
		return invalid("unique.key", "%d bytes; at most %d", len(u.Key), maxUniqueKeyBytes)
	}
	if err := store.CheckText("unique.key", u.Key); err != nil {
		return err
	}
	if continuation && (u.Replace.Args || u.Replace.Schedule) {
		return invalid("unique.replace", "a continuation waits pending and is never replaced; Replace is not allowed with Parents")
	}
	return nil
}
