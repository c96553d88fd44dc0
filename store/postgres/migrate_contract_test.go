package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/internal/migrate"
	"github.com/kilnjobs/kiln/store/storetest"
)

// contractFixture returns, on a schema of the test's own, a Store whose
// migrations are the embedded ones then storetest.ContractTestMigrations,
// and a Store of the same schema with the embedded ones alone (a process
// of the build before), as a storetest.ContractFixture.
func contractFixture(t *testing.T) storetest.ContractFixture {
	t.Helper()
	last, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	schema := SchemaForTest(t)
	s := OpenForTest(t, &Options{Schema: schema, MaxConns: 4, CallerClock: true})
	s.migrations = migrate.NewFilesWith(migrationFiles, "migrations", storetest.ContractTestMigrations(last, "{s}."))
	older := OpenForTest(t, &Options{Schema: schema, MaxConns: 2, CallerClock: true})
	query := func(sql string) []string {
		rows, err := s.pool.Query(t.Context(), sql, s.schema)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	return storetest.ContractFixture{New: s, Older: older, Last: last,
		MigrateTo: func(upTo int) error { return s.migrateTo(t.Context(), upTo) },
		Tables: func() []string {
			return query(`SELECT tablename::text FROM pg_catalog.pg_tables WHERE schemaname = $1 AND tablename LIKE 'contract\_test\_%'`)
		},
		Versions: func() []int {
			rows, err := s.pool.Query(t.Context(), s.expand(`SELECT version FROM {s}.kiln_migration`))
			if err != nil {
				t.Fatal(err)
			}
			out, err := pgx.CollectRows(rows, pgx.RowTo[int])
			if err != nil {
				t.Fatal(err)
			}
			return out
		},
		TakeOver: func(id string, pid int, at time.Time) {
			// The upsert of a build before 029 (its ON CONFLICT sets the
			// other columns, not schema_version).
			_, err := s.pool.Exec(t.Context(), s.expand(`INSERT INTO {s}.kiln_server (id, host, pid, queues, kinds, started_at, heartbeat_at, limits)
VALUES ($1, 'old', $2, '[]', '{}', $3, $3, '[]')
ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, queues = excluded.queues,
	kinds = excluded.kinds, started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at,
	limits = excluded.limits`), id, pid, at)
			if err != nil {
				t.Fatal(err)
			}
		}}
}

// TestContractMigration runs the contract check of both stores
// (storetest.CheckContractMigration): the contract migration, which runs
// in a transaction on this small table, is held while a process of the
// older build is registered, and the later migration is applied past it.
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

// TestContractMigrationHeldBetweenStatements runs the contract migration
// outside a transaction (ConcurrentIndexMinRows 0), statement by statement,
// and registers a process of the older build while its first statement
// runs: the gate, asked again before the second, stops it there,
// unrecorded, and Migrate applies the later migration and returns nil;
// once the process is gone, the next Migrate runs the migration again from
// its first statement (idempotent) and records it. It is not parallel: it
// sets ConcurrentIndexMinRows.
func TestContractMigrationHeldBetweenStatements(t *testing.T) {
	f := contractFixture(t)
	ctx := t.Context()
	s := f.New.(*Store)
	if err := f.MigrateTo(f.Last + 1); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { ConcurrentIndexMinRows = n }(ConcurrentIndexMinRows)
	ConcurrentIndexMinRows = 0
	var (
		stmts []string
		late  bool
	)
	s.migrateHook = func(stmt string) {
		stmts = append(stmts, stmt)
		if strings.Contains(stmt, "contract_test_one") && !late {
			late = true
			row := &kilntype.ServerRow{ID: "late", Host: "h", PID: 8, StartedAt: storetest.UpgradeBase, RefreshedAt: storetest.UpgradeBase}
			if err := f.Older.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
				t.Error(err)
			}
		}
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(f.Tables(), " "); strings.Contains(got, "contract_test_two") ||
		!strings.Contains(got, "contract_test_one") || !strings.Contains(got, "contract_test_later") {
		t.Errorf("tables %q: want contract_test_one (the first statement), not _two, and the later migration's", got)
	}
	versions := f.Versions()
	if !slices.Contains(versions, f.Last+3) || slices.Contains(versions, f.Last+2) {
		t.Errorf("versions %v: want %d, not %d", versions, f.Last+3, f.Last+2)
	}
	held, err := s.MigrationsHeld(ctx)
	if err != nil || len(held) != 1 || len(held[0].Older) != 1 || !strings.HasPrefix(held[0].Older[0], "server late ") {
		t.Errorf("MigrationsHeld: %q, %v; want the contract migration, held by server late", held, err)
	}

	if err := f.Older.ServerDelete(ctx, &store.ServerDeleteParams{ID: "late"}); err != nil {
		t.Fatal(err)
	}
	stmts = nil
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stmts = slices.DeleteFunc(stmts, func(stmt string) bool { return strings.HasPrefix(stmt, "CREATE SCHEMA IF NOT EXISTS") })
	if len(stmts) != 2 || !strings.Contains(stmts[0], "contract_test_one") || !strings.Contains(stmts[1], "contract_test_two") {
		t.Errorf("statements of Migrate once the process is gone: %q, want both of the contract migration", stmts)
	}
	if !slices.Contains(f.Versions(), f.Last+2) {
		t.Errorf("versions %v: want %d", f.Versions(), f.Last+2)
	}
	if err := s.SchemaCheck(ctx); err != nil {
		t.Error(err)
	}
}

// TestSchemaCheckWaitsForContractMigration registers a process of the
// older build (ServerUpsert) while the contract migration runs, after its
// gate read the registry (at its last statement), then checks the schema
// for it, as a client starts: the check waits for the migration to end
// (the migration lock, taken shared) and refuses the contracted schema.
// Without the wait the check read kiln_migration before the migration
// committed and passed, and the process ran beside the applied contract
// migration. Both ways a migration runs: in a transaction, and statement
// by statement under the session lock (ConcurrentIndexMinRows 0). It is
// not parallel: it sets ConcurrentIndexMinRows.
func TestSchemaCheckWaitsForContractMigration(t *testing.T) {
	for _, outside := range []bool{false, true} {
		t.Run(map[bool]string{false: "in a transaction", true: "statement by statement"}[outside], func(t *testing.T) {
			f := contractFixture(t)
			ctx := t.Context()
			s := f.New.(*Store)
			if err := f.MigrateTo(f.Last + 1); err != nil {
				t.Fatal(err)
			}
			if outside {
				defer func(n int) { ConcurrentIndexMinRows = n }(ConcurrentIndexMinRows)
				ConcurrentIndexMinRows = 0
			}
			checked := make(chan error, 1)
			var retried atomic.Bool
			f.Older.(*Store).lockRetryHook = func() { retried.Store(true) }
			s.migrateHook = func(stmt string) {
				if !strings.Contains(stmt, "contract_test_two") {
					return
				}
				row := &kilntype.ServerRow{ID: "starting", Host: "h", PID: 9, StartedAt: storetest.UpgradeBase, RefreshedAt: storetest.UpgradeBase}
				if err := f.Older.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
					t.Error(err)
				}
				go func() { checked <- f.Older.SchemaCheck(ctx) }()
				// Go on once the check returned, or found the lock held.
				testutil.Eventually(t, "the check to return or wait", func() bool {
					return len(checked) > 0 || retried.Load()
				})
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			s.migrateHook = nil
			applied := slices.Contains(f.Versions(), f.Last+2)
			err := <-checked
			if applied && err == nil {
				t.Fatal("the older process's schema check passed, and the contract migration was applied: it runs beside it")
			}
			if want := "contract migration applied"; !applied || err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("applied %v, check %v: want the migration applied and the check refusing it (%q)", applied, err, want)
			}
		})
	}
}

// heldArgs is the job of TestStartWarnsHeldMigrations's client.
type heldArgs struct{}

func (heldArgs) Kind() string { return "held" }

// TestStartWarnsHeldMigrations starts a client on a schema whose contract
// migration is held back by a process of the older build: Start logs, at
// WARN and once, the migration and the process that holds it (server ID,
// host, pid, last migration, refresh time), which Migrate (Open with
// Migrate: true) held without a word.
func TestStartWarnsHeldMigrations(t *testing.T) {
	t.Parallel()
	f := contractFixture(t)
	ctx := t.Context()
	if err := f.MigrateTo(f.Last); err != nil {
		t.Fatal(err)
	}
	row := &kilntype.ServerRow{ID: "older-build", Host: "h", PID: 7, StartedAt: storetest.UpgradeBase, RefreshedAt: storetest.UpgradeBase}
	if err := f.Older.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
		t.Fatal(err)
	}
	if err := f.New.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logger, log := enginetest.NewLogger()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[heldArgs]) error { return nil }))
	c, err := kiln.NewClient(&kiln.Config{Store: f.New, Workers: workers, Logger: logger, DisableMaintenance: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	recs := log.Records("contract migration not applied")
	name := fmt.Sprintf("%03d_contract_test_contract", f.Last+2)
	if len(recs) != 1 || recs[0].Level != slog.LevelWarn || recs[0].Attrs["migration"] != name {
		t.Fatalf("records %+v: want one warning naming %s", recs, name)
	}
	held, _ := recs[0].Attrs["held_by"].([]string)
	if want := fmt.Sprintf("server older-build (host h, pid 7, last migration %d, refreshed at ", f.Last); len(held) != 1 || !strings.HasPrefix(held[0], want) {
		t.Errorf("held_by %q: want %q...", held, want)
	}
}

// TestLockWaitersDuringConcurrentIndexBuild runs a migration that builds
// an index CONCURRENTLY (ConcurrentIndexMinRows 0: outside a transaction,
// under the session lock), then a contract migration, and, as the build
// begins, starts a schema check and a listing of the held migrations on
// other Stores of the schema, as a client starting during a deploy does.
// Both wait for the migration (trying the lock again after pauses) and
// then succeed, and so does the build. Waiting inside a statement for
// the advisory lock, they held a snapshot that the concurrent build waits
// for: PostgreSQL's deadlock detector aborted one of them ("deadlock
// detected"). It is not parallel: it sets ConcurrentIndexMinRows.
func TestLockWaitersDuringConcurrentIndexBuild(t *testing.T) {
	ctx := t.Context()
	last, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	extra := map[string]string{
		fmt.Sprintf("%03d_cic_test.sql", last+1): "-- kiln:no-transaction\n" +
			"CREATE INDEX CONCURRENTLY IF NOT EXISTS kiln_test_cic ON {s}.kiln_job (queue, id);\n",
		fmt.Sprintf("%03d_cic_test_contract.sql", last+2): fmt.Sprintf("-- kiln:contract %d\n"+
			"CREATE TABLE {s}.contract_test_cic (a integer);\n", last+1),
	}
	schema := SchemaForTest(t)
	open := func() *Store {
		s := OpenForTest(t, &Options{Schema: schema, MaxConns: 4})
		s.migrations = migrate.NewFilesWith(migrationFiles, "migrations", extra)
		return s
	}
	s, checker, lister := open(), open(), open()
	if err := s.migrateTo(ctx, last); err != nil {
		t.Fatal(err)
	}
	defer func(n int) { ConcurrentIndexMinRows = n }(ConcurrentIndexMinRows)
	ConcurrentIndexMinRows = 0
	var (
		checked = make(chan error, 1)
		listed  = make(chan error, 1)
		waiting = make(chan struct{}, 2)
	)
	for _, w := range []*Store{checker, lister} {
		var once sync.Once
		w.lockRetryHook = func() { once.Do(func() { waiting <- struct{}{} }) }
	}
	s.migrateHook = func(stmt string) {
		if !strings.Contains(stmt, "kiln_test_cic") {
			return
		}
		go func() { checked <- checker.SchemaCheck(ctx) }()
		go func() {
			_, err := lister.MigrationsHeld(ctx)
			listed <- err
		}()
		// Build once both wait: tried the lock and found it held, or wait
		// for it inside a statement.
		testutil.EventuallyNil(t, "the check and the listing to wait for the lock", func() error {
			var n int
			err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_catalog.pg_locks WHERE locktype = 'advisory'
AND NOT granted AND classid::bigint = $1 AND objid::bigint = $2`,
				int64(uint64(s.migrateLockKey())>>32), int64(uint32(s.migrateLockKey()))).Scan(&n)
			if err != nil {
				return err
			}
			if n+len(waiting) < 2 {
				return fmt.Errorf("%d waiting in a statement, %d tried", n, len(waiting))
			}
			return nil
		})
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	s.migrateHook = nil
	if err := <-checked; err != nil {
		t.Errorf("SchemaCheck during the concurrent build: %v", err)
	}
	if err := <-listed; err != nil {
		t.Errorf("MigrationsHeld during the concurrent build: %v", err)
	}
	var valid bool
	if err := s.pool.QueryRow(ctx, `SELECT indisvalid FROM pg_catalog.pg_index WHERE indexrelid = to_regclass($1)`,
		s.quoted+".kiln_test_cic").Scan(&valid); err != nil || !valid {
		t.Errorf("kiln_test_cic valid %v, %v: want a valid index", valid, err)
	}
}
