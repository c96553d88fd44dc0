package sqlite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSQLiteCostStatements checks that the statements bench/sqlitecost's
// C harness runs (copies, since C cannot import them) are the store's:
// the harness's counts are only worth what its copies are.
func TestSQLiteCostStatements(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "bench", "sqlitecost", "sql")
	for _, c := range []struct{ file, want string }{
		{"cand128.sql", sqlClaimCandidates(128, 1)},
		{"claimupd.sql", sqlClaimUpdateAvailable},
		// fin.sql holds /*ROWS*/ where the harness writes each batch's rows.
		{"fin.sql", strings.Replace(sqlFinishJobs(1), valuesRows(1, 10), "/*ROWS*/", 1)},
		{"fin_completed.sql", strings.Replace(sqlCompleteJobs(1), valuesRows(1, 3), "/*ROWS*/", 1)},
		{"count.sql", sqlCountMoves},
		// The per-key burn-down's (KEYS=1000) took jobs by ID after a
		// listing of keys (keyslisted.sql, the rotation's, which this
		// store no longer runs: its claims by key walk the fair order).
		{"takeids.sql", sqlPartitionTakeIDs},
		{"claimupd_trigger.sql", sqlClaimUpdate},
	} {
		got, err := os.ReadFile(filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(string(got)) != strings.TrimSpace(c.want) {
			t.Errorf("bench/sqlitecost/sql/%s is not the store's statement:\n%s\nwant:\n%s", c.file, got, c.want)
		}
	}
}
