package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// stmts are the writer's prepared statements. Each is prepared once on the
// writer pool's only connection and bound to a transaction with
// [sql.Tx.StmtContext], which reuses that preparation.
type stmts struct {
	insertJobs     *batchStmt
	finishJobs     *batchStmt
	completeJobs   *batchStmt
	insertAttempts *batchStmt
	// claimCandidates is built per LIMIT (a power of two) and number of
	// kinds (see claimStmts).
	claimCandidates *claimStmts
	// partition are the statements of claims by partition key, prepared
	// when first needed (see partitionStmts).
	partition *partitionStmts
	// rate are the statements of rate-limited claims, prepared when first
	// needed (see rateStmts).
	rate *rateStmts

	getUnique   *sql.Stmt
	getJob      *sql.Stmt
	claimUpdate *sql.Stmt
	claimRows   *sql.Stmt // sqlClaimRows
	// claimUpdateAvailable and countMoves: see moves.
	claimUpdateAvailable *sql.Stmt
	countMoves           *sql.Stmt
	fairTag, fairTop     *sql.Stmt // sqlFairTag, sqlFairTop (fairSeqs)
	insertAttempt        *sql.Stmt
	setOutput            *sql.Stmt
	leaseRenew           *sql.Stmt
	cancelNow            *sql.Stmt
	cancelRequest        *sql.Stmt
	retry                *sql.Stmt
	deleteJob            *sql.Stmt
	scheduleDue          *sql.Stmt
	selectExpired        *sql.Stmt
	rescue               *sql.Stmt
	deleteGroup          *sql.Stmt
	leaderElect          *sql.Stmt
	leaderResign         *sql.Stmt

	recurringUpsert       *sql.Stmt
	recurringGet          *sql.Stmt
	recurringExists       *sql.Stmt
	recurringDelete       *sql.Stmt
	recurringDeleteExcept *sql.Stmt
	recurringSetPaused    *sql.Stmt
	recurringSetError     *sql.Stmt
	recurringEnqueued     *sql.Stmt
	occurrenceExists      *sql.Stmt
	occurrenceOverlap     *sql.Stmt
	occurrenceInsert      *sql.Stmt
	occurrenceWait        *sql.Stmt
}

// fields pairs each statement with its SQL.
func (st *stmts) fields() []struct {
	stmt  **sql.Stmt
	query string
} {
	return []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&st.getUnique, sqlGetUnique},
		{&st.getJob, sqlGetJob},
		{&st.claimUpdate, sqlClaimUpdate},
		{&st.claimRows, sqlClaimRows},
		{&st.claimUpdateAvailable, sqlClaimUpdateAvailable},
		{&st.countMoves, sqlCountMoves},
		{&st.fairTag, sqlFairTag},
		{&st.fairTop, sqlFairTop},
		{&st.insertAttempt, sqlInsertAttempt},
		{&st.setOutput, sqlSetOutput},
		{&st.leaseRenew, sqlLeaseRenew},
		{&st.cancelNow, sqlCancelNow},
		{&st.cancelRequest, sqlCancelRequest},
		{&st.retry, sqlRetry},
		{&st.deleteJob, sqlDeleteJob},
		{&st.scheduleDue, sqlScheduleDue},
		{&st.selectExpired, sqlSelectExpired},
		{&st.rescue, sqlRescue},
		{&st.deleteGroup, sqlDeleteGroup},
		{&st.leaderElect, sqlLeaderElect},
		{&st.leaderResign, sqlLeaderResign},
		{&st.recurringUpsert, sqlRecurringUpsert},
		{&st.recurringGet, sqlRecurringGet},
		{&st.recurringExists, sqlRecurringExists},
		{&st.recurringDelete, sqlRecurringDelete},
		{&st.recurringDeleteExcept, sqlRecurringDeleteExcept},
		{&st.recurringSetPaused, sqlRecurringSetPaused},
		{&st.recurringSetError, sqlRecurringSetError},
		{&st.recurringEnqueued, sqlRecurringEnqueued},
		{&st.occurrenceExists, sqlOccurrenceExists},
		{&st.occurrenceOverlap, sqlOccurrenceOverlap},
		{&st.occurrenceInsert, sqlOccurrenceInsert},
		{&st.occurrenceWait, sqlOccurrenceWait},
	}
}

// prepareStmts prepares every single-row writer statement on db (the
// multi-row ones are prepared by size when first needed). It fails (with
// kilntype.ErrSchemaMissing in the chain) before Migrate created the tables.
func prepareStmts(ctx context.Context, db *sql.DB) (*stmts, error) {
	st := &stmts{}
	for _, f := range st.fields() {
		s, err := db.PrepareContext(ctx, f.query)
		if err != nil {
			st.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*f.stmt = s
	}
	st.insertJobs = newBatchStmt(sqlInsertJobs)
	st.finishJobs = newBatchStmt(sqlFinishJobs)
	st.completeJobs = newBatchStmt(sqlCompleteJobs)
	st.insertAttempts = newBatchStmt(sqlInsertAttempts)
	st.claimCandidates = &claimStmts{}
	st.partition = &partitionStmts{}
	st.rate = &rateStmts{}
	return st, nil
}

// close closes the statements prepared so far.
func (st *stmts) close() error {
	var errs []error
	for _, f := range st.fields() {
		if *f.stmt != nil {
			errs = append(errs, (*f.stmt).Close())
		}
	}
	for _, b := range []*batchStmt{st.insertJobs, st.finishJobs, st.completeJobs, st.insertAttempts} {
		if b != nil {
			b.close()
		}
	}
	if st.claimCandidates != nil {
		st.claimCandidates.close()
	}
	if st.partition != nil {
		errs = append(errs, st.partition.close())
	}
	if st.rate != nil {
		errs = append(errs, st.rate.close())
	}
	return errors.Join(errs...)
}
