package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnjobs/kiln/kilntype"
)

// fail wraps err with what was attempted and the package prefix. An error
// that says a Kiln table or the schema is missing also wraps
// kilntype.ErrSchemaMissing.
func fail(what string, err error) error {
	if isMissingSchema(err) && !errors.Is(err, kilntype.ErrSchemaMissing) {
		return fmt.Errorf("postgres: %s: %w: %w", what, kilntype.ErrSchemaMissing, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// isMissingSchema reports whether err is PostgreSQL's error for a statement
// that names a schema, or a Kiln table (kiln_...), that does not exist.
// PostgreSQL gives undefined_table (42P01) also for a query that names a
// table alias out of its scope ("missing FROM-clause entry for table"):
// a defect of the statement, which `kiln migrate` would not cure, so the
// table must be one of Kiln's, by the name that every message of the
// code quotes whatever the server's language.
func isMissingSchema(err error) bool {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return false
	}
	return e.Code == codeInvalidSchemaName ||
		e.Code == codeUndefinedTable && strings.Contains(e.Message, "kiln_")
}

// isUniqueViolation reports whether err is PostgreSQL's unique violation.
func isUniqueViolation(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == codeUniqueViolation
}

// isLockTimeout reports whether err is PostgreSQL's error for a statement
// that gave up waiting for a lock (lock_timeout).
func isLockTimeout(err error) bool {
	var e *pgconn.PgError
	return errors.As(err, &e) && e.Code == codeLockNotAvailable
}

// PostgreSQL error codes (SQLSTATE) this package tells apart.
const (
	codeUndefinedTable    = "42P01"
	codeInvalidSchemaName = "3F000"
	codeUniqueViolation   = "23505"
	codeLockNotAvailable  = "55P03"
)

// isNoRows reports whether err says that a QueryRow found nothing.
func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
