package sqlite

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
)

// TestStateCheck checks kiln_job's CHECK on state on a new database: every
// state is accepted, another value is refused by an insert and by an
// update, and the constraint compares the state with each state in turn
// instead of using an IN list, which SQLite runs by building a b-tree of
// the values for every row written (migration 024).
func TestStateCheck(t *testing.T) {
	t.Parallel()
	checkStateConstraint(t, openMigrated(t).w)
}

// checkStateConstraint runs TestStateCheck's checks on db, a migrated
// database's writer.
func checkStateConstraint(t *testing.T, db *sql.DB) {
	t.Helper()
	ctx := t.Context()
	insert := `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at)
VALUES ('check', 'check', '{}', ?, 1, 1, 1, 1) RETURNING id`
	var id int64
	for _, state := range kilntype.JobStates() {
		if err := db.QueryRowContext(ctx, insert, string(state)).Scan(&id); err != nil {
			t.Errorf("insert of a job in state %s: %v", state, err)
		}
	}
	if err := db.QueryRowContext(ctx, insert, "paused").Scan(&id); err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
		t.Errorf("insert of a job in state paused: %v, want a failed CHECK constraint", err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE kiln_job SET state = 'paused' WHERE id = ?`, id); err == nil || !strings.Contains(err.Error(), "CHECK constraint failed") {
		t.Errorf("update of a job to state paused: %v, want a failed CHECK constraint", err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM kiln_job WHERE kind = 'check'`); err != nil {
		t.Fatal(err)
	}

	// The CHECK's text is in the message of the Halt that fails it.
	rows, err := db.QueryContext(ctx, `EXPLAIN UPDATE kiln_job SET state = ?1 WHERE id = ?2`, "running", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var check string
	for rows.Next() {
		var (
			addr, p1, p2, p3, p5 int
			op                   string
			p4, comment          sql.NullString
		)
		if err := rows.Scan(&addr, &op, &p1, &p2, &p3, &p4, &p5, &comment); err != nil {
			t.Fatal(err)
		}
		if op == "Halt" && strings.Contains(p4.String, "'discarded'") {
			check = p4.String
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if check == "" || strings.Contains(check, " IN ") {
		t.Errorf("the CHECK on state: %q, want comparisons without an IN list", check)
	}
}
