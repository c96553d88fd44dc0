package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
	"github.com/kilnjobs/kiln/store/storetest"
)

// TestMigrationStatements checks which migrations are marked
// migrate.NoTransactionMark (run statement by statement, outside a
// transaction on a large kiln_job): a new one must be added here.
func TestMigrationStatements(t *testing.T) {
	t.Parallel()
	ms, err := migrations.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.NoTx != (m.Version == 10 || m.Version == 11 || m.Version == 15 || m.Version == 20 || m.Version == 24 || m.Version == 25 ||
			m.Version == 26 || m.Version == 27 || m.Version == 28 || m.Version == 32 || m.Version == 33) {
			t.Errorf("migration %s: runs outside a transaction: %v", m.Name, m.NoTx)
		}
	}
}

// sqlOldJobs writes, with the columns of migration 009, one job in each
// state (see storetest.CheckUpgradedJobs), $1 being the check's base
// time, and makes the pending job a child of the completed one.
const sqlOldJobs = `WITH jobs AS (
	INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt, max_attempts, created_at,
		scheduled_at, attempted_at, finalized_at, leased_by, lease_expires_at)
	SELECT $2, $3, '{}', v.state, 1, v.attempt, 3, $1::timestamptz - interval '2 hours', $1::timestamptz - interval '1 hour',
		CASE WHEN v.attempt > 0 THEN $1::timestamptz - interval '1 hour' END,
		CASE WHEN v.state IN ('completed', 'cancelled', 'discarded') THEN $1::timestamptz - interval '1 hour' END,
		CASE WHEN v.state = 'running' THEN 'gone' END,
		CASE WHEN v.state = 'running' THEN $1::timestamptz - interval '1 hour' END
	FROM (VALUES ('pending', 0), ('scheduled', 0), ('available', 0), ('running', 1), ('retryable', 1),
		('completed', 1), ('cancelled', 0), ('discarded', 3)) AS v(state, attempt)
	RETURNING id, state
),
parent AS (
	INSERT INTO {s}.kiln_job_parent (child_id, parent_id, on_failure)
	SELECT c.id, p.id, 'run' FROM jobs AS c, jobs AS p WHERE c.state = 'pending' AND p.state = 'completed'
)
SELECT id, state FROM jobs`

// storeAtVersion opens a Store on a schema of its own migrated to version
// v, as an older release left it, for the upgrade tests.
func storeAtVersion(t *testing.T, v int) *Store {
	t.Helper()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 4, CallerClock: true})
	if err := s.migrateTo(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	return s
}

// writeOldJobs runs sqlOldJobs on s and returns the jobs' IDs by state.
func writeOldJobs(t *testing.T, s *Store) map[kilntype.JobState]int64 {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), s.expand(sqlOldJobs), storetest.UpgradeBase,
		storetest.UpgradeKind, storetest.UpgradeQueue)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	return storetest.UpgradedJobIDs(t, rows)
}

// jobIndexes returns the indexes of kiln_job, sorted, with whether each is
// valid, and the table's storage options.
func jobIndexes(t *testing.T, s *Store) (indexes []string, valid map[string]bool, options []string) {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), `SELECT c.relname, i.indisvalid FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
WHERE i.indrelid = ($1 || '.kiln_job')::regclass ORDER BY c.relname`, s.quoted)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	valid = map[string]bool{}
	for rows.Next() {
		var (
			name string
			ok   bool
		)
		if err := rows.Scan(&name, &ok); err != nil {
			t.Fatal(err)
		}
		indexes = append(indexes, name)
		valid[name] = ok
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.pool.QueryRow(t.Context(), `SELECT coalesce(reloptions, '{}') FROM pg_catalog.pg_class
WHERE oid = ($1 || '.kiln_job')::regclass`, s.quoted).Scan(&options); err != nil {
		t.Fatal(err)
	}
	return indexes, valid, options
}

// wantJobIndexes fails the test unless kiln_job has the indexes and
// options of migrations 010 and 011 (kiln_job_finalized replaced by
// kiln_job_finalized_kind), without kiln_job_finalized_kind (026), with
// kiln_job_finished (027) as defined, all valid, kiln_job_claim_kind as defined,
// kiln_job_cancel_requested with its predicate's conditions in migration
// 025's order (the one that almost every job fails first), keyed by id
// (028), kiln_job_running, kiln_job_partition_available and
// kiln_job_state_waiting (032) as defined, without kiln_job_partition and
// kiln_job_state_inflight (the contract migration 033); and the CHECK
// constraints of migration 028 (wantJobChecks).
func wantJobIndexes(t *testing.T, s *Store) {
	t.Helper()
	indexes, valid, options := jobIndexes(t, s)
	want := []string{"kiln_job_cancel_requested", "kiln_job_claim_kind", "kiln_job_claim_waiting", "kiln_job_due",
		"kiln_job_finished", "kiln_job_partition_available", "kiln_job_pending", "kiln_job_pkey", "kiln_job_running",
		"kiln_job_state_waiting", "kiln_job_unique_key"}
	if !slices.Equal(indexes, want) {
		t.Errorf("indexes of kiln_job: %v, want %v", indexes, want)
	}
	for name, ok := range valid {
		if !ok {
			t.Errorf("index %s is INVALID", name)
		}
	}
	if !slices.Contains(options, "fillfactor=90") {
		t.Errorf("kiln_job options %v, want fillfactor=90", options)
	}
	for _, want := range []struct{ index, def string }{
		{"kiln_job_claim_kind", "(queue, kind, priority, scheduled_at, id) WHERE (state = 'available'::text)"},
		{"kiln_job_partition_available", "(kind, partition_key, queue, priority, scheduled_at, id) " +
			"WHERE ((partition_key <> ''::text) AND (state = 'available'::text))"},
		{"kiln_job_running", `(kind COLLATE "C", partition_key, id, state) WITH (deduplicate_items=off) WHERE (state = 'running'::text)`},
		{"kiln_job_state_waiting", "(state, id) " +
			"WHERE (state = ANY (ARRAY['scheduled'::text, 'retryable'::text, 'pending'::text]))"},
		{"kiln_job_cancel_requested", "(id) WHERE ((cancel_requested_at IS NOT NULL) AND (state = 'running'::text))"},
		{"kiln_job_finished", "(state, id, kind, queue) " +
			"WHERE (state = ANY (ARRAY['completed'::text, 'cancelled'::text, 'discarded'::text]))"},
	} {
		var def string
		if err := s.pool.QueryRow(t.Context(), `SELECT pg_get_indexdef(($1 || '.' || $2)::regclass)`,
			s.quoted, want.index).Scan(&def); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(def, want.def) {
			t.Errorf("%s: %s, want ... %s", want.index, def, want.def)
		}
	}
	wantJobChecks(t, s)
}

// sqlJobChecks lists the CHECK constraints of kiln_job: name, whether
// validated, definition.
const sqlJobChecks = `SELECT conname, convalidated, pg_get_constraintdef(oid) FROM pg_catalog.pg_constraint
WHERE conrelid = ($1 || '.kiln_job')::regclass AND contype = 'c' ORDER BY conname`

// wantJobChecks fails the test unless kiln_job's one CHECK constraint is
// migration 028's kiln_job_state_check, validated (no progress check), and
// it refuses a state outside the eight, on an insert and on an update,
// with the constraint's name in the error.
func wantJobChecks(t *testing.T, s *Store) {
	t.Helper()
	rows, err := s.pool.Query(t.Context(), sqlJobChecks, s.quoted)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var (
			name, def string
			valid     bool
		)
		if err := rows.Scan(&name, &valid, &def); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s %v %s", name, valid, def))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := []string{"kiln_job_state_check true CHECK (((state COLLATE \"C\") = ANY " +
		"('{available,running,completed,scheduled,retryable,pending,cancelled,discarded}'::text[])))"}
	if !slices.Equal(got, want) {
		t.Errorf("CHECK constraints of kiln_job:\n%q\nwant\n%q", got, want)
	}
	for _, bad := range []string{
		`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at)
VALUES ('k', 'q', '{}', 'compelted', 1, 1, now(), now())`,
		`UPDATE {s}.kiln_job SET state = 'Running' WHERE kind = 'kiln-check-028'`,
	} {
		// In a transaction rolled back, after the insert of the job that
		// the update changes: nothing stays, whatever the check does.
		tx, err := s.pool.Begin(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(t.Context(), s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at) VALUES ('kiln-check-028', 'q', '{}', 'available', 1, 1, now(), now())`)); err != nil {
			_ = tx.Rollback(t.Context())
			t.Fatal(err)
		}
		_, err = tx.Exec(t.Context(), s.expand(bad))
		_ = tx.Rollback(t.Context())
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "23514" || pgErr.ConstraintName != "kiln_job_state_check" {
			t.Errorf("%s: %v, want a violation of kiln_job_state_check", bad, err)
		}
	}
}

// statementLog records the statements a migration outside a transaction
// sends, for Store.migrateHook.
type statementLog struct {
	mu    sync.Mutex
	stmts []string
}

func (l *statementLog) add(stmt string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stmts = append(l.stmts, stmt)
}

// has reports whether a statement sent starts with prefix.
func (l *statementLog) has(prefix string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.stmts, func(s string) bool { return strings.HasPrefix(s, prefix) })
}

// TestUpgradeFrom009 migrates a schema of version 9 holding a job in each
// state and a recurring entry to the current version, and runs the jobs
// through the store (the contract check storetest.CheckUpgradedJobs); the
// entry reads back whole, without a partition key (migration 022). kiln_job is small, so
// migration 010 runs in one transaction, without CONCURRENTLY.
func TestUpgradeFrom009(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storeAtVersion(t, 9)
	ids := writeOldJobs(t, s)
	indexes, _, _ := jobIndexes(t, s)
	if !slices.Contains(indexes, "kiln_job_claim_available") || slices.Contains(indexes, "kiln_job_claim_kind") {
		t.Fatalf("indexes of kiln_job at version 9: %v", indexes)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_recurring (id, schedule, time_zone, kind, args, queue,
	priority, max_attempts, overlap, misfire, misfire_max, next_run_at, created_at, updated_at)
VALUES ('old', '@hourly', '', 'k', '{}', 'q', 1, 3, 'skip', 'run_once', 100, $1, $1, $1)`), storetest.UpgradeBase); err != nil {
		t.Fatal(err)
	}
	log := &statementLog{}
	s.migrateHook = log.add
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CREATE INDEX IF NOT EXISTS kiln_job_claim_kind",
		"DROP INDEX IF EXISTS " + s.quoted + ".kiln_job_claim_available",
		"DROP INDEX IF EXISTS " + s.quoted + ".kiln_job_finalized;",
		"DROP INDEX IF EXISTS " + s.quoted + ".kiln_job_finalized_kind;"} {
		if !log.has(want) {
			t.Errorf("a table of %d jobs is migrated other than without CONCURRENTLY: no %q among %q", len(ids), want, log.stmts)
		}
	}
	wantJobIndexes(t, s)
	storetest.CheckUpgradedJobs(t, s, ids)
	r, err := s.RecurringGet(ctx, &store.RecurringGetParams{ID: "old"})
	if err != nil || r.Schedule != "@hourly" || r.Kind != "k" || r.Partition != "" || !r.NextRunAt.Equal(storetest.UpgradeBase) {
		t.Errorf("recurring entry of version 9 after the upgrade: %+v, %v", r, err)
	}
}

// sqlFinalizedKindRebuild is the statement that docs/upgrading.md
// ("Migration 026") gives to build kiln_job_finalized_kind back before an
// older version runs again, on the schema {s}.
const sqlFinalizedKindRebuild = `CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_finalized_kind
    ON {s}.kiln_job (state, kind, finalized_at) WHERE finalized_at IS NOT NULL`

// TestUpgradeFrom025 migrates a schema of version 25, the last with
// kiln_job_finalized_kind, holding a job in each state, to the current
// version: migration 026 drops the index (in one transaction on this small
// table), and the jobs run through the store as before
// (storetest.CheckUpgradedJobs); the finalized ones are then deleted by
// the cleaner. The statement docs/upgrading.md gives for a rollback builds
// the index back as migration 011 defined it.
func TestUpgradeFrom025(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storeAtVersion(t, 25)
	ids := writeOldJobs(t, s)
	indexDef := func() string {
		t.Helper()
		var def string
		if err := s.pool.QueryRow(ctx, `SELECT coalesce(pg_get_indexdef(to_regclass($1 || '.kiln_job_finalized_kind')), '')`,
			s.quoted).Scan(&def); err != nil {
			t.Fatal(err)
		}
		return def
	}
	def025 := indexDef()
	if def025 == "" {
		t.Fatal("no kiln_job_finalized_kind at version 25")
	}
	log := &statementLog{}
	s.migrateHook = log.add
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	if want := "DROP INDEX IF EXISTS " + s.quoted + ".kiln_job_finalized_kind;"; !log.has(want) {
		t.Errorf("no %q among %q", want, log.stmts)
	}
	wantJobIndexes(t, s)
	storetest.CheckUpgradedJobs(t, s, ids)
	far := storetest.UpgradeBase.AddDate(100, 0, 0)
	n, err := s.JobDeleteFinished(ctx, &store.JobDeleteFinishedParams{Max: 100,
		CompletedBefore: far, CancelledBefore: far, DiscardedBefore: far})
	if err != nil || n != len(ids) {
		t.Errorf("JobDeleteFinished after 026: %d jobs, %v; want the %d jobs, all finished, deleted", n, err, len(ids))
	}

	// Built without CONCURRENTLY (as Migrate does on a small table): the
	// same index, without waiting for the other tests' transactions.
	if _, err := s.pool.Exec(ctx, s.expand(concurrently.ReplaceAllString(sqlFinalizedKindRebuild, "$1"))); err != nil {
		t.Fatal(err)
	}
	if def := indexDef(); def != def025 {
		t.Errorf("kiln_job_finalized_kind built back: %s, want %s (migration 011's)", def, def025)
	}
}

// TestUpgradeFrom027 migrates a schema of version 27 holding a job in
// each state, one of them running with a cancel request and a progress, to
// the current version: migration 028 (in one transaction on this small
// table) replaces the two CHECK constraints by kiln_job_state_check in its
// cheaper form, validated, and keys kiln_job_cancel_requested by id
// (wantJobIndexes); the running job's cancel request is still found by its
// process, and not by another; the jobs run through the store as before
// (storetest.CheckUpgradedJobs).
func TestUpgradeFrom027(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storeAtVersion(t, 27)
	ids := writeOldJobs(t, s)
	if _, err := s.pool.Exec(ctx, s.expand(`UPDATE {s}.kiln_job SET cancel_requested_at = $2, progress = 40,
	progress_attempt = attempt WHERE id = $1`), ids[kilntype.JobStateRunning], storetest.UpgradeBase); err != nil {
		t.Fatal(err)
	}
	var checks int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_constraint
WHERE conrelid = ($1 || '.kiln_job')::regclass AND contype = 'c'`, s.quoted).Scan(&checks); err != nil || checks != 2 {
		t.Fatalf("CHECK constraints of kiln_job at version 27: %d, %v; want 2", checks, err)
	}
	log := &statementLog{}
	s.migrateHook = log.add
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	// Without CONCURRENTLY: the statement as sent in one transaction.
	for _, want := range []string{"CREATE INDEX IF NOT EXISTS kiln_job_cancel_requested_028"} {
		if !log.has(want) {
			t.Errorf("a table of %d jobs is migrated other than in one transaction: no %q among %q", len(ids), want, log.stmts)
		}
	}
	wantJobIndexes(t, s)
	for _, c := range []struct {
		leasedBy string
		want     []int64
	}{{"gone", []int64{ids[kilntype.JobStateRunning]}}, {"other", nil}} {
		got, err := s.JobListCancelRequested(ctx, &store.JobListCancelRequestedParams{LeasedBy: c.leasedBy})
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("JobListCancelRequested(%q) after 028: %v, %v; want %v", c.leasedBy, got, err, c.want)
		}
	}
	if _, err := s.pool.Exec(ctx, s.expand(`UPDATE {s}.kiln_job SET cancel_requested_at = NULL WHERE id = $1`),
		ids[kilntype.JobStateRunning]); err != nil {
		t.Fatal(err)
	}
	storetest.CheckUpgradedJobs(t, s, ids)
}

// TestMigrate028Resumes runs migration 028 on a schema where a first run
// stopped after validating kiln_job_state_check_028 (at the drop of the
// old constraint, say, whose lock_timeout ran out): the next run keeps the
// validated constraint, without adding it again (a second scan of the
// table on a large one), and renames it.
func TestMigrate028Resumes(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := storeAtVersion(t, 27)
	ms, err := migrations.Load()
	if err != nil {
		t.Fatal(err)
	}
	stmts := migrate.Statements(ms[27].SQL)
	if ms[27].Version != 28 || len(stmts) < 2 {
		t.Fatalf("migration %s: %d statements", ms[27].Name, len(stmts))
	}
	for _, stmt := range stmts[:2] {
		if _, err := s.pool.Exec(ctx, s.expand(stmt)); err != nil {
			t.Fatal(err)
		}
	}
	oid := func(name string) (oid uint32, valid bool) {
		t.Helper()
		if err := s.pool.QueryRow(ctx, `SELECT oid, convalidated FROM pg_catalog.pg_constraint
WHERE conrelid = ($1 || '.kiln_job')::regclass AND conname = $2`, s.quoted, name).Scan(&oid, &valid); err != nil {
			t.Fatalf("constraint %s: %v", name, err)
		}
		return oid, valid
	}
	first, valid := oid("kiln_job_state_check_028")
	if !valid {
		t.Fatal("kiln_job_state_check_028 not validated by the first two statements")
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if after, _ := oid("kiln_job_state_check"); after != first {
		t.Errorf("kiln_job_state_check is constraint %d, want %d: the validated constraint was added again", after, first)
	}
	wantJobIndexes(t, s)
}

// TestMigrateLockTimeout runs migration 028 while another transaction
// holds a lock on kiln_job that its ALTER TABLE waits for: the statement
// gives up after its lock_timeout, without keeping the table's other users
// waiting behind it longer, and Migrate runs the migration again, which
// succeeds once the lock is gone. It is not parallel: it waits for 2 s
// lock timeouts.
func TestMigrateLockTimeout(t *testing.T) {
	ctx := t.Context()
	s := storeAtVersion(t, 27)
	// A transaction that reads kiln_job holds ACCESS SHARE, which ALTER
	// TABLE's ACCESS EXCLUSIVE waits for.
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	if _, err := tx.Exec(ctx, s.expand(`SELECT count(*) FROM {s}.kiln_job`)); err != nil {
		t.Fatal(err)
	}
	var retries []error
	s.migrateRetryHook = func(err error) {
		retries = append(retries, err)
		if len(retries) == 1 {
			// Migrate calls the hook before its pause: the lock is gone
			// when it runs the migration again.
			if err := tx.Rollback(ctx); err != nil {
				t.Error(err)
			}
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if len(retries) != 1 || !isLockTimeout(retries[0]) || !strings.Contains(retries[0].Error(), "028_row_checks") {
		t.Errorf("retries: %v, want one, of 028 after a lock timeout", retries)
	}
	wantJobIndexes(t, s)
}

// TestMigrateConcurrentIndexes runs migration 010 as on a large table
// (ConcurrentIndexMinRows 0): CREATE INDEX CONCURRENTLY, after dropping the
// INVALID index that an interrupted concurrent build of the same name left
// (CREATE INDEX CONCURRENTLY IF NOT EXISTS would keep it), then again from
// the start, as after an interruption between its statements; then 025
// again, after its renames, with an INVALID successor index left. It is not
// parallel: a concurrent build waits for every transaction in the
// database that holds an older snapshot, which the other tests of the
// package, each building its schema, would keep starting.
func TestMigrateConcurrentIndexes(t *testing.T) {
	ctx := t.Context()
	defer func(n int) { ConcurrentIndexMinRows = n }(ConcurrentIndexMinRows)
	ConcurrentIndexMinRows = 0

	s := storeAtVersion(t, 9)
	ids := writeOldJobs(t, s)
	if _, err := s.pool.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority,
	max_attempts, created_at, scheduled_at) SELECT 'other', 'other', '{}', 'available', 1, 1, $1, $1
	FROM generate_series(1, 2000)`), storetest.UpgradeBase); err != nil {
		t.Fatal(err)
	}
	// An interrupted build: a unique index that the data violates fails,
	// and stays, INVALID, under the name of the index to build.
	if _, err := s.pool.Exec(ctx, s.expand(`CREATE UNIQUE INDEX CONCURRENTLY kiln_job_claim_kind
	ON {s}.kiln_job (queue)`)); err == nil {
		t.Fatal("a unique index on kiln_job.queue was built")
	}
	if _, valid, _ := jobIndexes(t, s); valid["kiln_job_claim_kind"] {
		t.Fatalf("kiln_job_claim_kind is valid before the migration: %v", valid)
	}

	log := &statementLog{}
	s.migrateHook = log.add
	start := time.Now()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("migration 010 took %v", time.Since(start))
	for _, want := range []string{
		`DROP INDEX CONCURRENTLY IF EXISTS ` + s.quoted + `."kiln_job_claim_kind"`,
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_claim_kind",
		"DROP INDEX CONCURRENTLY IF EXISTS " + s.quoted + ".kiln_job_claim_available",
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_finalized_kind",
		"DROP INDEX CONCURRENTLY IF EXISTS " + s.quoted + ".kiln_job_finalized;",
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_partition_025",
		"DROP INDEX CONCURRENTLY IF EXISTS " + s.quoted + ".kiln_job_partition;",
		"ALTER INDEX IF EXISTS " + s.quoted + ".kiln_job_partition_025 RENAME TO kiln_job_partition",
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_cancel_requested_025",
		"DROP INDEX CONCURRENTLY IF EXISTS " + s.quoted + ".kiln_job_cancel_requested;",
		"ALTER INDEX IF EXISTS " + s.quoted + ".kiln_job_cancel_requested_025 RENAME TO kiln_job_cancel_requested",
		"DROP INDEX CONCURRENTLY IF EXISTS " + s.quoted + ".kiln_job_finalized_kind;",
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_finished",
		"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint WHERE conrelid = '" + s.quoted + ".kiln_job'::regclass",
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_cancel_requested_028",
		"ALTER INDEX IF EXISTS " + s.quoted + ".kiln_job_cancel_requested_028 RENAME TO kiln_job_cancel_requested",
	} {
		if !log.has(want) {
			t.Errorf("no statement %q among %q", want, log.stmts)
		}
	}
	wantJobIndexes(t, s)

	// Interrupted after its last statement, before its row: run again.
	if _, err := s.pool.Exec(ctx, s.expand(`DELETE FROM {s}.kiln_migration WHERE version = 10`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	wantJobIndexes(t, s)

	// 025 interrupted after its renames, before its row, with an INVALID
	// kiln_job_partition_025 that an interrupted build of its successor
	// left: the next run drops it, builds both indexes once more and
	// renames them again. 028 is run again after it (as if it had been
	// interrupted after its last statement too): it replaces the
	// kiln_job_cancel_requested that 025 built again, and its constraint
	// statements find their work done; and 033 (as if interrupted too)
	// drops the kiln_job_partition that 025 built again.
	if _, err := s.pool.Exec(ctx, s.expand(`DELETE FROM {s}.kiln_migration WHERE version IN (25, 28, 33)`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, s.expand(`CREATE UNIQUE INDEX CONCURRENTLY kiln_job_partition_025
	ON {s}.kiln_job (queue)`)); err == nil {
		t.Fatal("a unique index on kiln_job.queue was built")
	}
	log = &statementLog{}
	s.migrateHook = log.add
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate after 025 was interrupted: %v", err)
	}
	for _, want := range []string{
		`DROP INDEX CONCURRENTLY IF EXISTS ` + s.quoted + `."kiln_job_partition_025"`,
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_job_partition_025",
		"ALTER INDEX IF EXISTS " + s.quoted + ".kiln_job_partition_025 RENAME TO kiln_job_partition",
		"ALTER INDEX IF EXISTS " + s.quoted + ".kiln_job_cancel_requested_025 RENAME TO kiln_job_cancel_requested",
		"ALTER INDEX IF EXISTS " + s.quoted + ".kiln_job_cancel_requested_028 RENAME TO kiln_job_cancel_requested",
	} {
		if !log.has(want) {
			t.Errorf("rerun of 025 and 028: no statement %q among %q", want, log.stmts)
		}
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Fatal(err)
	}
	wantJobIndexes(t, s)
	if _, err := s.pool.Exec(ctx, s.expand(`DELETE FROM {s}.kiln_job WHERE kind = 'other'`)); err != nil {
		t.Fatal(err)
	}
	storetest.CheckUpgradedJobs(t, s, ids)
}
