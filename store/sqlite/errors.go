package sqlite

import (
	"errors"
	"fmt"
	"strings"

	driver "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/kilnjobs/kiln/kilntype"
)

// fail wraps err with what was attempted and the package prefix. An error
// that says a Kiln table is missing also wraps kilntype.ErrSchemaMissing.
func fail(what string, err error) error {
	if isMissingTable(err) && !errors.Is(err, kilntype.ErrSchemaMissing) {
		return fmt.Errorf("sqlite: %s: %w: %w", what, kilntype.ErrSchemaMissing, err)
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// isMissingTable reports whether err is SQLite's error for a statement that
// names a kiln_ table that does not exist.
func isMissingTable(err error) bool {
	var e *driver.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_ERROR &&
		strings.Contains(e.Error(), "no such table: kiln_")
}

// isUniqueViolation reports whether err is SQLite's UNIQUE constraint error.
func isUniqueViolation(err error) bool {
	var e *driver.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (any extended code):
// another connection held the lock for the whole busy timeout.
func isBusy(err error) bool {
	var e *driver.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}
