package postgres

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

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
