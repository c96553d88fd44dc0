package postgres

import (
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnjobs/kiln/kilntype"
)

// TestFailSaysMigrateOnlyForKilnTables checks that fail wraps
// kilntype.ErrSchemaMissing (whose message says to run `kiln migrate`) for
// a missing schema or Kiln table, and not for PostgreSQL's other
// undefined_table errors, which a migration would not cure (this session's
// review: a JobList statement that named an alias out of its scope told the
// dashboard's user to run `kiln migrate`).
func TestFailSaysMigrateOnlyForKilnTables(t *testing.T) {
	for _, c := range []struct {
		err     *pgconn.PgError
		missing bool
	}{
		{&pgconn.PgError{Code: codeUndefinedTable, Message: `relation "kiln_test.kiln_job" does not exist`}, true},
		{&pgconn.PgError{Code: codeUndefinedTable, Message: `la relation « kiln_job » n'existe pas`}, true},
		{&pgconn.PgError{Code: codeInvalidSchemaName, Message: `schema "kiln_test" does not exist`}, true},
		{&pgconn.PgError{Code: codeUndefinedTable, Message: `missing FROM-clause entry for table "t"`}, false},
		{&pgconn.PgError{Code: codeUndefinedTable, Message: `relation "orders" does not exist`}, false},
		{&pgconn.PgError{Code: codeUniqueViolation, Message: `duplicate key value violates unique constraint "kiln_job_pkey"`}, false},
	} {
		err := fail("list jobs", c.err)
		if got := errors.Is(err, kilntype.ErrSchemaMissing); got != c.missing {
			t.Errorf("fail(%q): wraps ErrSchemaMissing %v, want %v (%v)", c.err.Message, got, c.missing, err)
		}
		if !errors.Is(err, c.err) {
			t.Errorf("fail(%q) = %v: does not wrap the PostgreSQL error", c.err.Message, err)
		}
	}
}
