package postgres

import (
	"strings"
	"testing"
)

// TestScanDestFitsColumns: jobScanner.dest holds one argument per column
// of jobColumns and the extra one, so that scan reads exactly jobColumns
// (pgx refuses a row whose column count differs from Scan's arguments).
func TestScanDestFitsColumns(t *testing.T) {
	var sc jobScanner
	if got, want := len(sc.dest), len(strings.Split(jobColumns, ","))+1; got != want {
		t.Fatalf("jobScanner.dest holds %d arguments, jobColumns and the extra one are %d", got, want)
	}
}
