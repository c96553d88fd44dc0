package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Contract migrations (package store/internal/migrate): the migrations
// that ContractTestMigrations adds after a store's own, and the check that
// both stores pass with them (CheckContractMigration).

// ContractTestMigrations returns three migrations to follow a store's
// last one, last, by file name: last+1, ordinary, creates the table
// contract_test_expand; last+2, a contract migration of the builds from
// last+1 on ("-- kiln:contract last+1"), marked "-- kiln:no-transaction",
// creates contract_test_one, then contract_test_two, each statement
// idempotent; last+3, ordinary, creates contract_test_later. prefix comes
// before each table's name ("{s}." on PostgreSQL, "" on SQLite).
func ContractTestMigrations(last int, prefix string) map[string]string {
	return map[string]string{
		fmt.Sprintf("%03d_contract_test_expand.sql", last+1): "-- expand\nCREATE TABLE " + prefix + "contract_test_expand (a INTEGER);\n",
		fmt.Sprintf("%03d_contract_test_contract.sql", last+2): fmt.Sprintf("-- kiln:no-transaction\n-- contract\n"+
			"-- kiln:contract %d\nCREATE TABLE IF NOT EXISTS %scontract_test_one (a INTEGER);\n"+
			"CREATE TABLE IF NOT EXISTS %scontract_test_two (a INTEGER);\n", last+1, prefix, prefix),
		fmt.Sprintf("%03d_contract_test_later.sql", last+3): "-- later\nCREATE TABLE " + prefix + "contract_test_later (a INTEGER);\n",
	}
}

// ContractFixture is what CheckContractMigration runs on: two stores on
// one database, and what it reads of the database.
type ContractFixture struct {
	// New is a store whose migrations are the store's own, whose last is
	// Last, then ContractTestMigrations(Last, ...); Older a store of the
	// same database with the store's own migrations only: a process of
	// the build before.
	New, Older store.Store
	Last       int
	// MigrateTo applies New's migrations up to version upTo.
	MigrateTo func(upTo int) error
	// Tables returns the names of the database's tables named
	// contract_test_*, in any order; Versions the versions that its
	// versions table records.
	Tables   func() []string
	Versions func() []int
	// TakeOver writes server id's row as a process of a build before
	// schema_version (PostgreSQL 029, SQLite 032) does, whose upsert sets
	// every other column: host "old", pid, started_at and the refresh
	// time startedAt, and leaves schema_version as it is.
	TakeOver func(id string, pid int, startedAt time.Time)
}

// CheckContractMigration checks the contract migrations of f's store
// during a rolling deploy: while a process of the older build is
// registered (Older's ServerUpsert), New's Migrate applies the ordinary
// migrations before and after the contract one (last+1, last+3), records
// nothing for it and returns nil, both builds pass SchemaCheck, and
// MigrationsHeld names the older process (its server ID and last
// migration); the process of New's build does not hold it back. Once the
// older process is gone, MigrationsHeld says the next Migrate applies it,
// and Migrate does; then the older build's SchemaCheck refuses the schema.
func CheckContractMigration(t *testing.T, f ContractFixture) {
	t.Helper()
	ctx := t.Context()
	if err := f.MigrateTo(f.Last); err != nil {
		t.Fatal(err)
	}
	at := base
	for _, reg := range []struct {
		s  store.Store
		id string
	}{{f.Older, "older-build"}, {f.New, "new-build"}} {
		row := &kilntype.ServerRow{ID: reg.id, Host: "h", PID: 7, StartedAt: at, RefreshedAt: at}
		if err := reg.s.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
			t.Fatal(err)
		}
	}
	contract := f.Last + 2
	if err := f.New.Migrate(ctx); err != nil {
		t.Fatalf("Migrate with a process of the older build registered: %v", err)
	}
	if got, want := f.Versions(), []int{f.Last + 1, f.Last + 3}; slices.Contains(got, contract) ||
		!slices.Contains(got, want[0]) || !slices.Contains(got, want[1]) {
		t.Errorf("versions recorded %v: want %v, not %d", got, want, contract)
	}
	if got := strings.Join(slices.Sorted(slices.Values(f.Tables())), " "); got != "contract_test_expand contract_test_later" {
		t.Errorf("tables %q, want those of the ordinary migrations alone", got)
	}
	for name, s := range map[string]store.Store{"new": f.New, "older": f.Older} {
		if err := s.SchemaCheck(ctx); err != nil {
			t.Errorf("SchemaCheck of the %s build with the contract migration held: %v", name, err)
		}
	}
	held, err := f.New.MigrationsHeld(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || held[0].Name != fmt.Sprintf("%03d_contract_test_contract", contract) ||
		held[0].Contract != f.Last+1 || held[0].Behind != "" || len(held[0].Older) != 1 ||
		!strings.HasPrefix(held[0].Older[0], fmt.Sprintf("server older-build (host h, pid 7, last migration %d, refreshed at ", f.Last)) {
		t.Errorf("MigrationsHeld: %q, want the contract migration held by server older-build alone", held)
	}
	// Migrate again changes nothing while the older process runs.
	if err := f.New.Migrate(ctx); err != nil || slices.Contains(f.Versions(), contract) {
		t.Errorf("Migrate again: %v, versions %v", err, f.Versions())
	}

	if err := f.Older.ServerDelete(ctx, &store.ServerDeleteParams{ID: "older-build"}); err != nil {
		t.Fatal(err)
	}
	held, err = f.New.MigrationsHeld(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 1 || len(held[0].Older) != 0 || !strings.Contains(held[0].String(), "the next migrate applies it") {
		t.Errorf("MigrationsHeld with no older process: %q, want the contract migration, held by none", held)
	}
	if err := f.New.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.Versions(), contract) {
		t.Errorf("versions %v after the older process stopped: want %d", f.Versions(), contract)
	}
	if got := strings.Join(slices.Sorted(slices.Values(f.Tables())), " "); got != "contract_test_expand contract_test_later contract_test_one contract_test_two" {
		t.Errorf("tables %q, want the contract migration's too", got)
	}
	if held, err := f.New.MigrationsHeld(ctx); err != nil || len(held) != 0 {
		t.Errorf("MigrationsHeld after: %q, %v; want none", held, err)
	}
	if err := f.New.SchemaCheck(ctx); err != nil {
		t.Error(err)
	}
	// A process of the older build that starts now would meet the
	// contracted schema: its SchemaCheck refuses it (kiln_migration
	// records the contract's N, above the older build's last migration).
	err = f.Older.SchemaCheck(ctx)
	if want := fmt.Sprintf("contract migration applied for builds from migration %d on", f.Last+1); err == nil ||
		errors.Is(err, kilntype.ErrSchemaMissing) || !strings.Contains(err.Error(), want) {
		t.Errorf("SchemaCheck of the older build after the contract migration: %v, want an error %q", err, want)
	}
}

// CheckContractReusedID checks the gate when processes of different builds
// take turns on one server ID (Config.ID), each taking over the row that
// the last one, crashed, left: a process of a build that writes no
// schema_version (TakeOver) taking over the row of New's build reads as
// of no version, older than any contract migration, not as New's; a
// process of the older build (Older's ServerUpsert) as its own, older,
// version: the version written with each row goes down as well as up.
// While either holds the row, Migrate holds the contract migration and
// MigrationsHeld names it; once New's build holds the row again, Migrate
// applies it.
func CheckContractReusedID(t *testing.T, f ContractFixture) {
	t.Helper()
	ctx := t.Context()
	if err := f.MigrateTo(f.Last); err != nil {
		t.Fatal(err)
	}
	upsert := func(s store.Store, pid int, at time.Time) {
		t.Helper()
		row := &kilntype.ServerRow{ID: "reused", Host: "h", PID: pid, StartedAt: at, RefreshedAt: at}
		if err := s.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
			t.Fatal(err)
		}
	}
	contract := f.Last + 2
	heldBy := func(what, want string) {
		t.Helper()
		if err := f.New.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		if slices.Contains(f.Versions(), contract) {
			t.Fatalf("%s: the contract migration was applied", what)
		}
		held, err := f.New.MigrationsHeld(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(held) != 1 || len(held[0].Older) != 1 || !strings.HasPrefix(held[0].Older[0], want) {
			t.Fatalf("%s: MigrationsHeld %q, want it held by %q...", what, held, want)
		}
	}
	upsert(f.New, 1, base)
	f.TakeOver("reused", 2, base.Add(time.Hour))
	heldBy("a build without schema_version took over the row of New's build",
		"server reused (host old, pid 2, last migration 0, ")
	upsert(f.New, 3, base.Add(2*time.Hour))
	upsert(f.Older, 4, base.Add(3*time.Hour))
	heldBy("the older build took over the row of New's build",
		fmt.Sprintf("server reused (host h, pid 4, last migration %d, ", f.Last))
	upsert(f.New, 5, base.Add(4*time.Hour))
	if err := f.New.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.Versions(), contract) {
		t.Errorf("versions %v with New's build on the row: want %d applied", f.Versions(), contract)
	}
}
