package enginetest

import (
	"context"
	"fmt"
	"slices"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobCountMatching counts the due jobs of AddJobs whose state, kind and
// queue params.Filter matches (its other filters are ignored), in its ID
// range, up to params.Limit.
func (s *Store) JobCountMatching(ctx context.Context, params *store.JobCountMatchingParams) (int, error) {
	if err := s.enter(ctx, JobCountMatching, params); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	f, n := &params.Filter, 0
	for _, j := range s.jobs {
		if j.ID > params.After && (params.UpTo == 0 || j.ID <= params.UpTo) &&
			(len(f.States) == 0 || slices.Contains(f.States, j.State)) &&
			(len(f.Kinds) == 0 || slices.Contains(f.Kinds, j.Kind)) &&
			(len(f.Queues) == 0 || slices.Contains(f.Queues, j.Queue)) {
			n++
		}
	}
	if params.Limit > 0 {
		n = min(n, params.Limit)
	}
	return n, nil
}

// BulkCreate stores a running operation over the IDs of the jobs of
// AddJobs (completed at once without jobs).
func (s *Store) BulkCreate(ctx context.Context, params *store.BulkCreateParams) (*kilntype.BulkOperation, error) {
	if err := s.enter(ctx, BulkCreate, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	if err := store.ValidateBulkCreate(params); err != nil {
		return nil, err
	}
	op := &kilntype.BulkOperation{ID: int64(len(s.bulks)) + 1, Action: params.Action, Filter: params.Filter,
		TargetQueue: params.TargetQueue, State: kilntype.BulkRunning, Owner: params.Owner,
		CreatedAt: params.Now, UpdatedAt: params.Now}
	for _, j := range s.jobs {
		if op.FirstID == 0 || j.ID < op.FirstID {
			op.FirstID = j.ID
		}
		op.LastID = max(op.LastID, j.ID)
	}
	op.Cursor = op.FirstID - 1
	if op.LastID == 0 {
		op.State, op.FinishedAt = kilntype.BulkCompleted, &params.Now
	}
	s.bulks = append(s.bulks, op)
	c := *op
	return &c, nil
}

// bulk returns operation id; s.mu is held.
func (s *Store) bulk(id int64) (*kilntype.BulkOperation, error) {
	if id < 1 || id > int64(len(s.bulks)) || s.bulks[id-1] == nil {
		return nil, fmt.Errorf("bulk operation %d: %w", id, kilntype.ErrNotFound)
	}
	return s.bulks[id-1], nil
}

// BulkGet returns a copy of the operation.
func (s *Store) BulkGet(ctx context.Context, params *store.BulkGetParams) (*kilntype.BulkOperation, error) {
	if err := s.enter(ctx, BulkGet, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	op, err := s.bulk(params.ID)
	if err != nil {
		return nil, err
	}
	c := *op
	return &c, nil
}

// BulkList returns copies of the operations, newest first.
func (s *Store) BulkList(ctx context.Context, params *store.BulkListParams) ([]*kilntype.BulkOperation, error) {
	if err := s.enter(ctx, BulkList, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []*kilntype.BulkOperation{}
	for _, op := range slices.Backward(s.bulks) {
		if op != nil && len(out) < store.BulkListLimit(params.Limit) && (params.Cursor <= 0 || op.ID < params.Cursor) {
			c := *op
			out = append(out, &c)
		}
	}
	return out, nil
}

// BulkRunBatch ends a running operation of params.Owner in one batch that
// changes no job: cancelled when a cancel was requested, else completed
// (its cursor at LastID).
func (s *Store) BulkRunBatch(ctx context.Context, params *store.BulkRunBatchParams) (*store.BulkBatchResult, error) {
	if err := s.enter(ctx, BulkRunBatch, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	op, err := s.bulk(params.ID)
	if err != nil {
		return nil, err
	}
	if op.State == kilntype.BulkRunning && op.Owner == params.Owner {
		op.State, op.UpdatedAt, op.FinishedAt = kilntype.BulkCompleted, params.Now, &params.Now
		if op.CancelRequestedAt != nil {
			op.State = kilntype.BulkCancelled
		} else {
			op.Cursor, op.Batches = op.LastID, op.Batches+1
		}
	}
	c := *op
	return &store.BulkBatchResult{Op: &c}, nil
}

// BulkCancel requests the cancel, at once for an interrupted or stale
// operation.
func (s *Store) BulkCancel(ctx context.Context, params *store.BulkCancelParams) (*kilntype.BulkOperation, error) {
	if err := s.enter(ctx, BulkCancel, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	op, err := s.bulk(params.ID)
	if err != nil {
		return nil, err
	}
	if op.State == kilntype.BulkRunning || op.State == kilntype.BulkInterrupted {
		if op.CancelRequestedAt == nil {
			op.CancelRequestedAt = &params.Now
		}
		if op.State == kilntype.BulkInterrupted || op.UpdatedAt.Before(params.StaleBefore) {
			op.State, op.UpdatedAt, op.FinishedAt = kilntype.BulkCancelled, params.Now, &params.Now
		}
	}
	c := *op
	return &c, nil
}

// BulkResume takes over an interrupted or stale operation.
func (s *Store) BulkResume(ctx context.Context, params *store.BulkResumeParams) (*kilntype.BulkOperation, error) {
	if err := s.enter(ctx, BulkResume, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	op, err := s.bulk(params.ID)
	if err != nil {
		return nil, err
	}
	if op.State != kilntype.BulkInterrupted && (op.State != kilntype.BulkRunning || !op.UpdatedAt.Before(params.StaleBefore)) {
		return nil, fmt.Errorf("operation is %s: %w", op.State, kilntype.ErrJobState)
	}
	op.Owner, op.State, op.UpdatedAt = params.Owner, kilntype.BulkRunning, params.Now
	c := *op
	return &c, nil
}

// BulkRelease ends the owner's running operation as params.State.
func (s *Store) BulkRelease(ctx context.Context, params *store.BulkReleaseParams) (*kilntype.BulkOperation, error) {
	if err := s.enter(ctx, BulkRelease, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	op, err := s.bulk(params.ID)
	if err != nil {
		return nil, err
	}
	if op.State == kilntype.BulkRunning && op.Owner == params.Owner {
		op.State, op.Error, op.UpdatedAt = params.State, store.CleanText(params.Error), params.Now
		if params.State == kilntype.BulkFailed {
			op.FinishedAt = &params.Now
		}
	}
	c := *op
	return &c, nil
}

// BulkDeleteOld deletes up to params.Max operations that ended before
// params.Before, oldest first (their IDs are not reused).
func (s *Store) BulkDeleteOld(ctx context.Context, params *store.BulkDeleteOldParams) (int, error) {
	if err := s.enter(ctx, BulkDeleteOld, params); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	var old []*kilntype.BulkOperation
	for _, op := range s.bulks {
		if op != nil && op.FinishedAt != nil && op.FinishedAt.Before(params.Before) {
			old = append(old, op)
		}
	}
	slices.SortStableFunc(old, func(a, b *kilntype.BulkOperation) int { return a.FinishedAt.Compare(*b.FinishedAt) })
	old = old[:min(len(old), max(params.Max, 1))]
	for _, op := range old {
		s.bulks[op.ID-1] = nil
	}
	return len(old), nil
}
