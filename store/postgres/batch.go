package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// batchSender is what batchQuery sends its batch on: the Store's pool, a
// connection, or a transaction.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// batchStatement is a statement that batchQuery sends before or after its
// query: its text and arguments, the label its error is wrapped in ("":
// returned as is), row, if not nil, the targets its one row is scanned
// into (nil: its rows are not read), and done, if not nil, called once it
// has run.
type batchStatement struct {
	sql   string
	args  []any
	label string
	row   []any
	done  func()
}

// batchQuery sends the statements of before, sql with args, and the
// statements of after in one batch on q: one round trip and, on the pool,
// one transaction (the implicit one PostgreSQL runs a batch in, up to the
// Sync that pgx sends at its end), so that what before sets for its
// transaction only (set_config's is_local) holds for sql and ends with
// the batch. It calls each for every row of sql, runs after once they are
// read, and returns once the batch is read to its end (Close): on the
// pool, once the outcome of its transaction's commit is known. It returns
// the first error of any of them; a statement's error is wrapped in its
// label, and an error of sql or each is returned as is.
//
// The claim (claim.query), the rounds of a claim by key
// (partitionRounds.Round), the statements of a claim by key that read
// kiln_job_partition_available (partitionSource.sortsDisabled), the rescue
// of expired leases (JobRescueExpired) and a batch of completions
// (completeJobs) each send their settings with their statement this way.
func batchQuery(ctx context.Context, q batchSender, before []batchStatement, sql string, args []any,
	each func(pgx.Rows) error, after ...batchStatement) error {
	var b pgx.Batch
	for _, st := range before {
		b.Queue(st.sql, st.args...)
	}
	b.Queue(sql, args...)
	for _, st := range after {
		b.Queue(st.sql, st.args...)
	}
	br := q.SendBatch(ctx, &b)
	exec := func(st batchStatement) error {
		var err error
		if st.row != nil {
			err = br.QueryRow().Scan(st.row...)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			if st.label != "" {
				return fmt.Errorf("%s: %w", st.label, err)
			}
			return err
		}
		if st.done != nil {
			st.done()
		}
		return nil
	}
	err := func() error {
		for _, st := range before {
			if err := exec(st); err != nil {
				return err
			}
		}
		rows, err := br.Query()
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := each(rows); err != nil {
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, st := range after {
			if err := exec(st); err != nil {
				return err
			}
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}
