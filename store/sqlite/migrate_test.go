package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
	"github.com/kilnjobs/kiln/store/storetest"
)

// migrateTo is Migrate, stopping after migration version upTo (0: the
// last one): upgrade tests build a database of an earlier version with it.
func (s *Store) migrateTo(ctx context.Context, upTo int) error {
	return s.migrate(ctx, upTo)
}

// sqlOldJobs writes, with the columns of migration 009, one job in each
// state (see storetest.CheckUpgradedJobs): ?1 is the check's base time
// less an hour, ?2 less two hours, in Unix microseconds, ?3 and ?4 the
// kind and queue.
const sqlOldJobs = `INSERT INTO kiln_job (kind, queue, args, state, priority, attempt, max_attempts, created_at,
	scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at)
SELECT ?3, ?4, '{}', v.column1, 1, v.column2, 3, ?2, ?1,
	CASE WHEN v.column2 > 0 THEN ?1 END,
	CASE WHEN v.column1 IN ('completed', 'cancelled', 'discarded') THEN ?1 END,
	CASE WHEN v.column1 = 'running' THEN 'gone' END,
	CASE WHEN v.column1 = 'running' THEN ?1 END
FROM (VALUES ('pending', 0), ('scheduled', 0), ('available', 0), ('running', 1), ('retryable', 1),
	('completed', 1), ('cancelled', 0), ('discarded', 3)) AS v
RETURNING id, state`

// oldJobs returns a store migrated to version (0: the last), holding
// sqlOldJobs' job in each state, the pending one a continuation of the
// completed one, and their IDs by state: the database an upgrade test
// migrates on.
func oldJobs(t *testing.T, version int) (*Store, map[kilntype.JobState]int64) {
	t.Helper()
	ctx := t.Context()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "kiln.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.migrateTo(ctx, version); err != nil {
		t.Fatal(err)
	}
	base := storetest.UpgradeBase
	rows, err := s.w.QueryContext(ctx, sqlOldJobs, micros(base.Add(-time.Hour)), micros(base.Add(-2*time.Hour)),
		storetest.UpgradeKind, storetest.UpgradeQueue)
	if err != nil {
		t.Fatal(err)
	}
	ids := storetest.UpgradedJobIDs(t, rows)
	rows.Close()
	if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_job_parent (child_id, parent_id, on_failure)
VALUES (?, ?, 'run')`, ids[kilntype.JobStatePending], ids[kilntype.JobStateCompleted]); err != nil {
		t.Fatal(err)
	}
	return s, ids
}

// TestUpgradeFrom009 migrates a database of version 9 holding a job in
// each state and a recurring entry to the current version, and runs the
// jobs through the store (the contract check storetest.CheckUpgradedJobs);
// the entry reads back whole, without a partition key (migration 022), and
// the CHECK on state is migration 024's (checkStateConstraint).
func TestUpgradeFrom009(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ids := oldJobs(t, 9)
	base := storetest.UpgradeBase
	if got := jobIndexes(t, s); !slices.Contains(got, "kiln_job_claim_available") {
		t.Fatalf("indexes of kiln_job at version 9: %v", got)
	}
	if _, err := s.w.ExecContext(ctx, `INSERT INTO kiln_recurring (id, schedule, time_zone, kind, args, queue, priority,
	max_attempts, overlap, misfire, misfire_max, next_run_at, created_at, updated_at)
VALUES ('old', '@hourly', '', 'k', '{}', 'q', 1, 3, 'skip', 'run_once', 100, ?1, ?1, ?1)`, micros(base)); err != nil {
		t.Fatal(err)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"kiln_job_cancel_requested", "kiln_job_claim_fair", "kiln_job_claim_untagged",
		"kiln_job_claim_waiting", "kiln_job_due", "kiln_job_fair_parked", "kiln_job_finalized_kind", "kiln_job_finished",
		"kiln_job_running_partition", "kiln_job_state_inflight", "kiln_job_unique_key"}
	if got := jobIndexes(t, s); !slices.Equal(got, want) {
		t.Errorf("indexes of kiln_job: %v, want %v", got, want)
	}
	storetest.CheckUpgradedJobs(t, s, ids)
	checkStateConstraint(t, s.w)
	r, err := s.RecurringGet(ctx, &store.RecurringGetParams{ID: "old"})
	if err != nil || r.Schedule != "@hourly" || r.Kind != "k" || r.Partition != "" || !r.NextRunAt.Equal(base) {
		t.Errorf("recurring entry of version 9 after the upgrade: %+v, %v", r, err)
	}
}

// jobIndexes returns the names of kiln_job's indexes, sorted.
func jobIndexes(t *testing.T, s *Store) []string {
	t.Helper()
	return queryTexts(t, s.r, `SELECT name FROM sqlite_schema
WHERE type = 'index' AND tbl_name = 'kiln_job' AND sql IS NOT NULL ORDER BY name`)
}

// queryTexts returns the one text column of query's rows, in order.
func queryTexts(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var texts []string
	for rows.Next() {
		var text string
		if err := rows.Scan(&text); err != nil {
			t.Fatal(err)
		}
		texts = append(texts, text)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return texts
}

// TestUpgradeFrom028 migrates a database of version 28 holding a job in
// each state to the current version, whose migration 029 merged the two
// AFTER UPDATE triggers of kiln_job (the counters' and the table of keys')
// into one, which 035 extended with the fair order's tagging and the
// contract migration 037 recreated without the table of keys (dropped
// with kiln_job_claim_partition): the triggers are those wanted, an UPDATE
// by hand of a job with a key to available (which the store's statements
// do not count, nor tag) moves its counters and tags the job, and the jobs
// run through the store (storetest.CheckUpgradedJobs, whose last check
// reads the counters). It fails without 037's kiln_job_update (the list of
// triggers, and the tag: checked), and without migration 029. Until 037 it
// checked that the UPDATE added the job's key to kiln_job_partition_key,
// which no longer exists; TestFairOrderCoversAvailableJobs checks the tags
// of every move.
func TestUpgradeFrom028(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s, ids := oldJobs(t, 28)
	var keyed int64
	if err := s.w.QueryRowContext(ctx, `INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts,
	created_at, scheduled_at, partition_key)
VALUES ('other', 'other', '{}', 'scheduled', 1, 3, 0, 0, 'tenant') RETURNING id`).Scan(&keyed); err != nil {
		t.Fatal(err)
	}

	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"kiln_job_count_delete", "kiln_job_count_insert", "kiln_job_fair_insert", "kiln_job_parent_cleanup",
		"kiln_job_tag_delete", "kiln_job_tag_insert", "kiln_job_untag", "kiln_job_update"}
	if got := queryTexts(t, s.r, `SELECT name FROM sqlite_schema
WHERE type = 'trigger' AND tbl_name = 'kiln_job' ORDER BY name`); !slices.Equal(got, want) {
		t.Errorf("triggers of kiln_job: %v, want %v", got, want)
	}
	if got := queryTexts(t, s.r, `SELECT name FROM sqlite_schema WHERE name IN ('kiln_job_partition_key', 'kiln_job_claim_partition')`); len(got) != 0 {
		t.Errorf("after the contract migration 037: %v still in the schema", got)
	}
	tag := func() string {
		t.Helper()
		return fmt.Sprint(queryTexts(t, s.r, fmt.Sprintf(`SELECT coalesce(fair_seq, 'none') FROM kiln_job WHERE id = %d`, keyed)))
	}
	if got := tag(); got != "[none]" {
		t.Errorf("tag of the job with a key before it is available: %s", got)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE kiln_job SET state = 'available' WHERE id = ?`, keyed); err != nil {
		t.Fatal(err)
	}
	if got := tag(); got != "[1]" {
		t.Errorf("tag after an UPDATE by hand made the job with a key available: %s, want [1]", got)
	}
	if got := queryTexts(t, s.r, `SELECT queue || '/' || state || ' ' || jobs FROM kiln_job_count
WHERE queue = 'other' AND jobs <> 0 ORDER BY state`); !slices.Equal(got, []string{"other/available 1"}) {
		t.Errorf("counters of queue other after the UPDATE by hand: %v, want other/available 1", got)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM kiln_job WHERE id = ?`, keyed); err != nil {
		t.Fatal(err)
	}
	storetest.CheckUpgradedJobs(t, s, ids)
}

// contractFixture returns, on a file of the test's own, a Store whose
// migrations are the embedded ones then storetest.ContractTestMigrations,
// and a Store of the same file with the embedded ones alone (a process of
// the build before), as a storetest.ContractFixture.
func contractFixture(t *testing.T) storetest.ContractFixture {
	t.Helper()
	ctx := t.Context()
	last, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kiln.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.migrations = migrate.NewFilesWith(migrationFiles, "migrations", storetest.ContractTestMigrations(last, ""))
	older, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { older.Close() })
	return storetest.ContractFixture{New: s, Older: older, Last: last,
		MigrateTo: func(upTo int) error { return s.migrateTo(ctx, upTo) },
		Tables: func() []string {
			return queryTexts(t, s.r, `SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE 'contract\_test\_%' ESCAPE '\'`)
		},
		Versions: func() []int {
			var out []int
			for _, v := range queryTexts(t, s.r, `SELECT version FROM kiln_migration`) {
				n, err := strconv.Atoi(v)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, n)
			}
			return out
		},
		TakeOver: func(id string, pid int, at time.Time) {
			// The upsert of a build before 032 (its ON CONFLICT sets the
			// other columns, not schema_version).
			_, err := s.w.ExecContext(ctx, `INSERT INTO kiln_server (id, host, pid, queues, kinds, started_at, heartbeat_at, limits)
VALUES (?1, 'old', ?2, '[]', '[]', ?3, ?3, '[]')
ON CONFLICT (id) DO UPDATE SET host = 'old', pid = ?2, queues = '[]', kinds = '[]', started_at = ?3, heartbeat_at = ?3,
	limits = '[]'`, id, pid, micros(at))
			if err != nil {
				t.Fatal(err)
			}
		}}
}

// TestContractMigration runs the contract check of both stores
// (storetest.CheckContractMigration) on two Stores of one file: the
// contract migration is held while a process of the older build is
// registered, and the later migration is applied past it.
func TestContractMigration(t *testing.T) {
	t.Parallel()
	storetest.CheckContractMigration(t, contractFixture(t))
}

// TestContractMigrationReusedID runs storetest.CheckContractReusedID: a
// server ID taken over by a build that writes no schema_version, or an
// older one, reads as that build's.
func TestContractMigrationReusedID(t *testing.T) {
	t.Parallel()
	storetest.CheckContractReusedID(t, contractFixture(t))
}
