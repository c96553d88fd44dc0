package postgres

import (
	"strings"
	"testing"
)

// TestScanDestFitsColumns: jobScanner.dest holds one argument per column
// of jobColumns (jobColumnsScanned) and up to maxScanExtra more, so that
// scan reads exactly jobColumns and the extra columns it is given (pgx
// refuses a row whose column count differs from Scan's arguments).
func TestScanDestFitsColumns(t *testing.T) {
	var sc jobScanner
	if got, want := jobColumnsScanned, len(strings.Split(jobColumns, ",")); got != want {
		t.Fatalf("jobColumnsScanned is %d, jobColumns has %d columns", got, want)
	}
	if got, want := len(sc.dest), jobColumnsScanned+maxScanExtra; got != want {
		t.Fatalf("jobScanner.dest holds %d arguments, want %d", got, want)
	}
	// A round of a claim by partition key reads its outcome (three
	// columns) and deepColumns after each job.
	if n := 3 + len(strings.Split(deepColumns, ",")); n > maxScanExtra {
		t.Fatalf("a round's rows have %d columns after the job's, more than maxScanExtra (%d)", n, maxScanExtra)
	}
}
