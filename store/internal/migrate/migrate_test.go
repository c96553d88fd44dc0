package migrate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/kilnjobs/kiln/kilntype"
)

// files returns a file system of migrations/<name> for each name, each
// holding "-- <name>\n".
func files(names ...string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for _, name := range names {
		fsys["migrations/"+name] = &fstest.MapFile{Data: []byte("-- " + name + "\n")}
	}
	return fsys
}

// TestLoad checks that Load returns the migrations in version order (by
// number, not by name), with their names, text and no-transaction mark,
// and reads only the .sql files of the folder.
func TestLoad(t *testing.T) {
	t.Parallel()
	fsys := files("10_ten.sql", "002_two.sql", "001_init.sql", "3_three.sql", "005_five.sql",
		"006_six.sql", "008_eight.sql", "009_nine.sql")
	fsys["migrations/README.md"] = &fstest.MapFile{Data: []byte("not a migration")}
	fsys["other/011_elsewhere.sql"] = &fstest.MapFile{Data: []byte("SELECT 1;")}
	fsys["migrations/004_four.sql"] = &fstest.MapFile{Data: []byte("  -- kiln:no-transaction  \nCREATE INDEX CONCURRENTLY i ON t (a);\n")}
	fsys["migrations/007_seven.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE t (a int);\n-- kiln:no-transaction\n")}
	ms, err := Load(fsys, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for i, m := range ms {
		names = append(names, m.Name)
		if m.Version != i+1 {
			t.Errorf("migration %d: version %d", i, m.Version)
		}
		if want := m.Version == 4; m.NoTx != want {
			t.Errorf("%s: NoTx %v, want %v (the mark counts on the first line only)", m.Name, m.NoTx, want)
		}
	}
	want := "001_init 002_two 3_three 004_four 005_five 006_six 007_seven 008_eight 009_nine 10_ten"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("Load: %s, want %s", got, want)
	}
	if got := ms[1].SQL; got != "-- 002_two.sql\n" {
		t.Errorf("SQL of 002_two: %q", got)
	}
	if got := Latest(ms); got != 10 {
		t.Errorf("Latest: %d, want 10", got)
	}
	if got := Latest(nil); got != 0 {
		t.Errorf("Latest(nil): %d, want 0", got)
	}
}

// TestLoadRefuses checks that Load fails, naming the file, when a name
// does not start with a number or the versions have a gap or a repeat.
func TestLoadRefuses(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"NoVersion", []string{"001_init.sql", "two.sql"}, "migration two.sql: name must start with its version"},
		{"WordVersion", []string{"001_init.sql", "two_x.sql"}, "migration two_x.sql: name must start with its version"},
		{"Gap", []string{"001_init.sql", "003_three.sql"}, "migration 003_three: want version 2"},
		{"NotFromOne", []string{"002_two.sql"}, "migration 002_two: want version 1"},
		{"Zero", []string{"000_zero.sql", "001_init.sql"}, "migration 000_zero: want version 1"},
		{"Repeat", []string{"001_init.sql", "002_a.sql", "002_b.sql"}, "migration 002_b: want version 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms, err := Load(files(tc.files...), "migrations")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%v): %v, %v; want an error %q", tc.files, ms, err, tc.want)
			}
		})
	}
	if ms, err := Load(files(), "migrations"); err != nil || len(ms) != 0 {
		t.Errorf("Load of no files: %v, %v; want none", ms, err)
	}
}

// fakeDialect is a Dialect that logs what Run asks of it, in order, and
// fails the call whose log line is failAt.
type fakeDialect struct {
	log     []string
	applied map[int]bool
	failAt  string
}

func (d *fakeDialect) do(line string) error {
	d.log = append(d.log, line)
	if line == d.failAt {
		return errBoom
	}
	return nil
}

func (d *fakeDialect) Init(context.Context) error { return d.do("init") }

func (d *fakeDialect) InTx(_ context.Context, fn func(Conn) error) error {
	if err := d.do("begin"); err != nil {
		return err
	}
	if err := fn(fakeConn{d}); err != nil {
		d.log = append(d.log, "rollback")
		return err
	}
	return d.do("commit")
}

// fakeConn is the Conn of a fakeDialect.
type fakeConn struct{ d *fakeDialect }

func (c fakeConn) Applied(_ context.Context, version int) (bool, error) {
	return c.d.applied[version], c.d.do(fmt.Sprint("applied? ", version))
}

func (c fakeConn) Exec(_ context.Context, sql string) error {
	return c.d.do("exec " + strings.TrimSpace(sql))
}

func (c fakeConn) Record(_ context.Context, m Migration) error {
	if err := c.d.do("record " + m.Name); err != nil {
		return err
	}
	c.d.applied[m.Version] = true
	return nil
}

// fakeNoTxDialect is a fakeDialect that runs migrations marked
// NoTransactionMark statement by statement, outside a transaction when
// outside is set; it runs "DROP leftover;" before their statements.
type fakeNoTxDialect struct {
	fakeDialect
	outside bool
}

func (d *fakeNoTxDialect) OutsideTx(_ context.Context, _ Conn, m Migration) (bool, error) {
	return d.outside, d.do("outside? " + m.Name)
}

func (d *fakeNoTxDialect) Statements(_ context.Context, _ Conn, m Migration, inTx bool) ([]string, error) {
	return append([]string{"DROP leftover;"}, Statements(m.SQL)...), d.do(fmt.Sprint("statements in tx ", inTx))
}

func (d *fakeNoTxDialect) InSession(_ context.Context, fn func(Conn) error) error {
	if err := d.do("session"); err != nil {
		return err
	}
	return fn(fakeConn{&d.fakeDialect})
}

// testMigrations returns three migrations, the second marked
// NoTransactionMark with two statements.
func testMigrations(t *testing.T) []Migration {
	t.Helper()
	fsys := files("001_init.sql", "003_three.sql")
	fsys["migrations/002_two.sql"] = &fstest.MapFile{Data: []byte(NoTransactionMark + "\nCREATE a\n  ON t;\n-- why\nDROP b;\n")}
	ms, err := Load(fsys, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// oneTx is what Run asks of a dialect for a pending migration run in one
// transaction.
func oneTx(version int, name string) string {
	return fmt.Sprintf("begin, applied? %d, exec -- %s.sql, record %s, commit", version, name, name)
}

// TestRun checks that Run creates the versions table, then applies each
// pending migration in order in a transaction of its own, recorded there,
// up to upTo (0: all), skipping those the versions table records, and
// stops at the first error, naming its migration.
func TestRun(t *testing.T) {
	t.Parallel()
	ms := testMigrations(t)
	// A dialect without NoTxDialect runs 002 as any other.
	two := "begin, applied? 2, exec " + strings.TrimSpace(ms[1].SQL) + ", record 002_two, commit"
	for _, tc := range []struct {
		name    string
		upTo    int
		applied map[int]bool
		failAt  string
		want    string
		wantErr string
	}{
		{name: "All", want: "init, " + oneTx(1, "001_init") + ", " + two + ", " + oneTx(3, "003_three")},
		{name: "Negative", upTo: -1, want: "init, " + oneTx(1, "001_init") + ", " + two + ", " + oneTx(3, "003_three")},
		{name: "UpTo", upTo: 1, want: "init, " + oneTx(1, "001_init")},
		{name: "UpToBeyond", upTo: 9, want: "init, " + oneTx(1, "001_init") + ", " + two + ", " + oneTx(3, "003_three")},
		{name: "Applied", applied: map[int]bool{1: true, 2: true},
			want: "init, begin, applied? 1, commit, begin, applied? 2, commit, " + oneTx(3, "003_three")},
		{name: "InitFails", failAt: "init", want: "init", wantErr: "boom"},
		{name: "ExecFails", failAt: "exec -- 003_three.sql",
			want:    "init, " + oneTx(1, "001_init") + ", " + two + ", begin, applied? 3, exec -- 003_three.sql, rollback",
			wantErr: "003_three: boom"},
		{name: "RecordFails", failAt: "record 001_init",
			want: "init, begin, applied? 1, exec -- 001_init.sql, record 001_init, rollback", wantErr: "001_init: boom"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDialect{applied: map[int]bool{}, failAt: tc.failAt}
			for v := range tc.applied {
				d.applied[v] = true
			}
			err := Run(t.Context(), d, ms, tc.upTo)
			if got := strings.Join(d.log, ", "); got != tc.want {
				t.Errorf("Run asked:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (!errors.Is(err, errBoom) || err.Error() != tc.wantErr) {
				t.Errorf("Run: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestRunNoTx checks how Run applies a migration marked NoTransactionMark
// with a NoTxDialect: statement by statement (the dialect's first) in its
// transaction, or, when the dialect says so in it, on a session after it,
// checking the versions table again there; a statement's error names the
// migration and the statement's first line.
func TestRunNoTx(t *testing.T) {
	t.Parallel()
	ms := testMigrations(t)[:2]
	const first = "init, " + "begin, applied? 1, exec -- 001_init.sql, record 001_init, commit, "
	for _, tc := range []struct {
		name    string
		outside bool
		applied bool // by another migrator, between the transaction and the session
		failAt  string
		want    string
		wantErr string
	}{
		{name: "InTx", want: first + "begin, applied? 2, outside? 002_two, statements in tx true, " +
			"exec DROP leftover;, exec CREATE a\n  ON t;, exec DROP b;, record 002_two, commit"},
		{name: "Outside", outside: true, want: first + "begin, applied? 2, outside? 002_two, commit, " +
			"session, applied? 2, statements in tx false, " +
			"exec DROP leftover;, exec CREATE a\n  ON t;, exec DROP b;, record 002_two"},
		{name: "OutsideAppliedMeanwhile", outside: true, applied: true,
			want: first + "begin, applied? 2, outside? 002_two, commit, session, applied? 2"},
		{name: "StatementFails", failAt: "exec CREATE a\n  ON t;", wantErr: "002_two: CREATE a: boom",
			want: first + "begin, applied? 2, outside? 002_two, statements in tx true, " +
				"exec DROP leftover;, exec CREATE a\n  ON t;, rollback"},
		{name: "StatementFailsOutside", outside: true, failAt: "exec DROP b;", wantErr: "002_two: DROP b;: boom",
			want: first + "begin, applied? 2, outside? 002_two, commit, session, applied? 2, statements in tx false, " +
				"exec DROP leftover;, exec CREATE a\n  ON t;, exec DROP b;"},
		{name: "SessionFails", outside: true, failAt: "session", wantErr: "002_two: boom",
			want: first + "begin, applied? 2, outside? 002_two, commit, session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeNoTxDialect{fakeDialect: fakeDialect{applied: map[int]bool{}, failAt: tc.failAt}, outside: tc.outside}
			err := Run(t.Context(), &appliedBeforeSession{d, tc.applied}, ms, 0)
			if got := strings.Join(d.log, ", "); got != tc.want {
				t.Errorf("Run asked:\n%s\nwant:\n%s", got, tc.want)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (!errors.Is(err, errBoom) || err.Error() != tc.wantErr) {
				t.Errorf("Run: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// appliedBeforeSession is a fakeNoTxDialect whose versions table records
// migration 2 when the session starts, if applied is set: as when another
// migrator applied it between the transaction and the session.
type appliedBeforeSession struct {
	*fakeNoTxDialect
	applied bool
}

func (d *appliedBeforeSession) InSession(ctx context.Context, fn func(Conn) error) error {
	if d.applied {
		d.fakeNoTxDialect.applied[2] = true
	}
	return d.fakeNoTxDialect.InSession(ctx, fn)
}

// TestStatements checks how a migration run statement by statement is
// split: one statement per ";" at the end of a line, with comment lines
// left out.
func TestStatements(t *testing.T) {
	t.Parallel()
	got := Statements("-- kiln:no-transaction\n-- about\n\nALTER TABLE t SET (x = 1);\n" +
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS i\n    -- why\n    ON t (a);\n-- done\nDROP INDEX x;\n")
	want := []string{"ALTER TABLE t SET (x = 1);", "CREATE INDEX CONCURRENTLY IF NOT EXISTS i\n    ON t (a);", "DROP INDEX x;"}
	if !slices.Equal(got, want) {
		t.Errorf("Statements: %q, want %q", got, want)
	}
	if got := Statements("CREATE a;\nDROP b"); !slices.Equal(got, []string{"CREATE a;", "DROP b"}) {
		t.Errorf("Statements without a last \";\": %q", got)
	}
}

// TestCheck checks that Check accepts a database with every table and
// every migration of this build (and newer ones), and otherwise says what
// is missing, wrapping kilntype.ErrSchemaMissing; it reads the versions
// only when every table is there.
func TestCheck(t *testing.T) {
	t.Parallel()
	ms := testMigrations(t)
	all := slices.Clone(Tables)
	for _, tc := range []struct {
		name     string
		tables   []string
		versions []int
		want     string
	}{
		{name: "Current", tables: append(slices.Clone(all), "kiln_other"), versions: []int{3, 1, 2}},
		{name: "Newer", tables: all, versions: []int{1, 2, 3, 4}},
		{name: "NoTables", want: `schema "s" has no Kiln tables`},
		{name: "TableMissing", tables: slices.DeleteFunc(slices.Clone(all), func(t string) bool { return t == "kiln_job" }),
			want: `table "s".kiln_job is missing`},
		{name: "Older", tables: all, versions: []int{1, 2}, want: `schema "s" lacks migration 003_three`},
		{name: "Gap", tables: all, versions: []int{1, 3, 4}, want: `schema "s" lacks migration 002_two`},
		{name: "TwoMissing", tables: all, versions: []int{1}, want: `schema "s" lacks migrations 002_two, 003_three`},
		{name: "None", tables: all, want: `schema "s" lacks migrations 001_init, 002_two, 003_three`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			read := false
			err := Check(Database{Name: `schema "s"`, TablePrefix: `"s".`, Tables: tc.tables,
				Versions: func() ([]int, error) { read = true; return tc.versions, nil }}, ms)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Check: %v", err)
				}
				return
			}
			if !errors.Is(err, kilntype.ErrSchemaMissing) || !strings.HasPrefix(err.Error(), tc.want+": ") {
				t.Errorf("Check: %v, want %q wrapping ErrSchemaMissing", err, tc.want)
			}
			if read != (len(tc.tables) == len(all)) {
				t.Errorf("Check read the versions: %v", read)
			}
		})
	}
	err := Check(Database{Name: "database", Tables: Tables, Versions: func() ([]int, error) { return nil, errBoom }}, ms)
	if !errors.Is(err, errBoom) {
		t.Errorf("Check with a failing Versions: %v", err)
	}
	many := files("001_a.sql", "002_b.sql", "003_c.sql", "004_d.sql", "005_e.sql")
	five, err := Load(many, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	err = Check(Database{Name: "database", Tables: Tables, Versions: func() ([]int, error) { return []int{2}, nil }}, five)
	if want := "database lacks 4 migrations (001_a, 003_c, ..., 005_e): "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Check lacking four: %v, want %q", err, want)
	}
}

var errBoom = errors.New("boom")

// contractMigrations returns five migrations: 001; 002, run statement by
// statement; 003, a contract migration of builds from 2 on, run statement
// by statement (two statements); 004, ordinary; 005, a contract migration
// of builds from 4 on, in one transaction.
func contractMigrations(t *testing.T) []Migration {
	t.Helper()
	fsys := files("001_init.sql", "004_four.sql")
	fsys["migrations/002_two.sql"] = &fstest.MapFile{Data: []byte(NoTransactionMark + "\nCREATE a;\n")}
	fsys["migrations/003_drop.sql"] = &fstest.MapFile{Data: []byte(NoTransactionMark + "\n-- 003_drop: why\n" +
		ContractMark + " 2\n\n-- more\nCREATE b;\nDROP a;\n")}
	fsys["migrations/005_more.sql"] = &fstest.MapFile{Data: []byte("-- 005_more\n" + ContractMark + "\t4\nDROP c;\n")}
	ms, err := Load(fsys, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestLoadContract checks that Load reads the contract mark among a
// migration's leading comment lines (not after them, and not a longer
// word), and refuses one without a positive version or not before the
// migration's own.
func TestLoadContract(t *testing.T) {
	t.Parallel()
	ms := contractMigrations(t)
	var got []int
	for _, m := range ms {
		got = append(got, m.Contract)
	}
	if want := []int{0, 0, 2, 0, 4}; !slices.Equal(got, want) {
		t.Errorf("Contract: %v, want %v", got, want)
	}
	fsys := files("001_init.sql")
	fsys["migrations/002_late.sql"] = &fstest.MapFile{Data: []byte("CREATE a;\n" + ContractMark + " 1\n")}
	fsys["migrations/003_word.sql"] = &fstest.MapFile{Data: []byte(ContractMark + "s 1\nCREATE a;\n")}
	if ms, err := Load(fsys, "migrations"); err != nil || ms[1].Contract != 0 || ms[2].Contract != 0 {
		t.Errorf("a mark after the statements, a longer word: %v, %v; want no contract", ms, err)
	}
	for name, text := range map[string]string{
		"NoVersion": ContractMark + " x\n",
		"Empty":     ContractMark + "\n",
		"Own":       ContractMark + " 2\n",
		"Later":     ContractMark + " 3\n",
		"Zero":      ContractMark + " 0\n",
		"Negative":  ContractMark + " -1\n",
	} {
		fsys := files("001_init.sql")
		fsys["migrations/002_bad.sql"] = &fstest.MapFile{Data: []byte(text + "DROP a;\n")}
		if _, err := Load(fsys, "migrations"); err == nil || !strings.Contains(err.Error(), "migration 002_bad") {
			t.Errorf("%s: Load: %v, want an error naming 002_bad", name, err)
		}
	}
}

// gateDialect is a fakeNoTxDialect with a gate: Older lists older for the
// version asked, from its call number from on (1: from the first), and
// nothing before.
type gateDialect struct {
	*fakeNoTxDialect
	older map[int][]string
	from  int
	calls int
}

func (d *gateDialect) Older(_ context.Context, _ Conn, version int) ([]string, error) {
	d.calls++
	if err := d.do(fmt.Sprint("older than ", version, "?")); err != nil {
		return nil, err
	}
	if d.calls >= d.from {
		return d.older[version], nil
	}
	return nil, nil
}

// TestRunContract checks how Run applies contract migrations: with no
// process of an older build, as any other, asking the gate first and, on a
// session, before each statement; with one (from the first check, or
// registered between statements), it records nothing for the migration,
// holds every later contract migration behind it, applies the ordinary
// migrations after it and returns a *HeldError naming what holds each;
// a later Run, once the process is gone, applies them; a Dialect without a
// gate fails.
func TestRunContract(t *testing.T) {
	t.Parallel()
	ms := contractMigrations(t)
	const upTo2 = "init, begin, applied? 1, exec -- 001_init.sql, record 001_init, commit, " +
		"begin, applied? 2, outside? 002_two, commit, session, applied? 2, statements in tx false, " +
		"exec DROP leftover;, exec CREATE a;, record 002_two, "
	const four = "begin, applied? 4, exec -- 004_four.sql, record 004_four, commit"
	const three = "begin, applied? 3, older than 2?, outside? 003_drop, commit, session, applied? 3, statements in tx false, " +
		"older than 2?, exec DROP leftover;, older than 2?, exec CREATE b;, older than 2?, exec DROP a;, record 003_drop"
	five := "begin, applied? 5, older than 4?, exec " + strings.TrimSpace(ms[4].SQL) + ", record 005_more, commit"
	for _, tc := range []struct {
		name        string
		older       map[int][]string
		from        int
		noGate      bool
		want        string
		wantErr     string
		wantApplied []int
		// then: what a second Run asks once no older process is registered
		then string
	}{
		{name: "NoOlder", want: upTo2 + three + ", " + four + ", " + five, wantApplied: []int{1, 2, 3, 4, 5}},
		{name: "Older", older: map[int][]string{2: {"p1 (host h)", "p2 (host h)"}},
			want: upTo2 + "begin, applied? 3, older than 2?, commit, " + four + ", begin, applied? 5, commit",
			wantErr: "contract migrations held back: 003_drop waits until no process of a build before migration 2 " +
				"is registered: p1 (host h); p2 (host h); 005_more waits for 003_drop",
			wantApplied: []int{1, 2, 4},
			then: "init, begin, applied? 1, commit, begin, applied? 2, commit, " + three +
				", begin, applied? 4, commit, " + five},
		{name: "OlderOfTheSecond", older: map[int][]string{4: {"p3"}},
			want:        upTo2 + three + ", " + four + ", begin, applied? 5, older than 4?, commit",
			wantErr:     "contract migrations held back: 005_more waits until no process of a build before migration 4 is registered: p3",
			wantApplied: []int{1, 2, 3, 4},
			then:        "init, begin, applied? 1, commit, begin, applied? 2, commit, begin, applied? 3, commit, begin, applied? 4, commit, " + five},
		{name: "OlderBetweenStatements", older: map[int][]string{2: {"late"}}, from: 4,
			want: upTo2 + "begin, applied? 3, older than 2?, outside? 003_drop, commit, " +
				"session, applied? 3, statements in tx false, older than 2?, exec DROP leftover;, older than 2?, exec CREATE b;, " +
				"older than 2?, " + four + ", begin, applied? 5, commit",
			wantErr:     "contract migrations held back: 003_drop waits until no process of a build before migration 2 is registered: late; 005_more waits for 003_drop",
			wantApplied: []int{1, 2, 4},
			then: "init, begin, applied? 1, commit, begin, applied? 2, commit, " + three +
				", begin, applied? 4, commit, " + five},
		{name: "NoGate", noGate: true, want: upTo2 + "begin, applied? 3, rollback",
			wantErr:     "003_drop: a contract migration (-- kiln:contract 2), and this store cannot tell which builds its processes run",
			wantApplied: []int{1, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nd := &fakeNoTxDialect{fakeDialect: fakeDialect{applied: map[int]bool{}}, outside: true}
			gd := &gateDialect{fakeNoTxDialect: nd, older: tc.older, from: tc.from}
			var d Dialect = gd
			if tc.noGate {
				d = nd
			}
			err := Run(t.Context(), d, ms, 0)
			if got := strings.Join(nd.log, ", "); got != tc.want {
				t.Errorf("Run asked:\n%s\nwant:\n%s", got, tc.want)
			}
			if got := slices.Sorted(maps.Keys(nd.applied)); !slices.Equal(got, tc.wantApplied) {
				t.Errorf("applied %v, want %v", got, tc.wantApplied)
			}
			_, isHeld := errors.AsType[*HeldError](err)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("Run: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Errorf("Run: %v\nwant %q", err, tc.wantErr)
			case isHeld != strings.HasPrefix(tc.wantErr, "contract"):
				t.Errorf("Run: %T, a *HeldError: %v", err, isHeld)
			}
			if tc.then == "" {
				return
			}
			gd.older, nd.log = nil, nil
			if err := Run(t.Context(), d, ms, 0); err != nil {
				t.Errorf("Run again: %v", err)
			}
			if got := strings.Join(nd.log, ", "); got != tc.then {
				t.Errorf("Run again asked:\n%s\nwant:\n%s", got, tc.then)
			}
			if got := slices.Sorted(maps.Keys(nd.applied)); !slices.Equal(got, []int{1, 2, 3, 4, 5}) {
				t.Errorf("applied after Run again %v, want all", got)
			}
		})
	}
}

// TestRunContractGateFails checks that Run stops at an error of the gate,
// naming the migration.
func TestRunContractGateFails(t *testing.T) {
	t.Parallel()
	nd := &fakeNoTxDialect{fakeDialect: fakeDialect{applied: map[int]bool{}, failAt: "older than 2?"}, outside: true}
	err := Run(t.Context(), &gateDialect{fakeNoTxDialect: nd}, contractMigrations(t), 0)
	if want := "003_drop: list the processes of builds before migration 2: boom"; !errors.Is(err, errBoom) || err.Error() != want {
		t.Errorf("Run: %v, want %q", err, want)
	}
}

// TestPending checks that Pending lists the contract migrations a
// database lacks, with what holds each back now, and changes nothing.
func TestPending(t *testing.T) {
	t.Parallel()
	ms := contractMigrations(t)
	for _, tc := range []struct {
		name    string
		applied []int
		older   map[int][]string
		want    string
	}{
		{name: "None", applied: []int{1, 2, 3, 4, 5}},
		{name: "Free", applied: []int{1, 2, 4},
			want: "003_drop is held by no process: the next migrate applies it; 005_more is held by no process: the next migrate applies it"},
		{name: "Held", applied: []int{1, 2, 4}, older: map[int][]string{2: {"p1"}, 4: {"p1"}},
			want: "003_drop waits until no process of a build before migration 2 is registered: p1; 005_more waits for 003_drop"},
		{name: "SecondHeld", applied: []int{1, 2, 3, 4}, older: map[int][]string{4: {"p2"}},
			want: "005_more waits until no process of a build before migration 4 is registered: p2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			nd := &fakeNoTxDialect{fakeDialect: fakeDialect{applied: map[int]bool{}}}
			for _, v := range tc.applied {
				nd.applied[v] = true
			}
			held, err := Pending(t.Context(), &gateDialect{fakeNoTxDialect: nd, older: tc.older}, ms)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, h := range held {
				got = append(got, h.String())
			}
			if strings.Join(got, "; ") != tc.want {
				t.Errorf("Pending: %q\nwant %q", strings.Join(got, "; "), tc.want)
			}
			if slices.ContainsFunc(nd.log, func(l string) bool { return strings.HasPrefix(l, "exec") || strings.HasPrefix(l, "record") }) {
				t.Errorf("Pending changed the database: %v", nd.log)
			}
		})
	}
}

// TestCheckContractOfLaterBuild checks that Check refuses a database on
// which a later build applied a contract migration for builds from a
// migration after this build's last, without wrapping ErrSchemaMissing,
// and accepts one whose recorded contracts this build is not older than.
func TestCheckContractOfLaterBuild(t *testing.T) {
	t.Parallel()
	ms := testMigrations(t)
	for contract, ok := range map[int]bool{0: true, 2: true, 3: true, 4: false} {
		err := Check(Database{Name: "database", Tables: Tables,
			Versions: func() ([]int, error) { return []int{1, 2, 3, 4, 5}, nil },
			Contract: func() (int, error) { return contract, nil }}, ms)
		if ok && err != nil || !ok && (err == nil || errors.Is(err, kilntype.ErrSchemaMissing) ||
			!strings.Contains(err.Error(), "contract migration applied for builds from migration 4 on") ||
			!strings.Contains(err.Error(), "last migration is 3")) {
			t.Errorf("Check with contract %d recorded: %v", contract, err)
		}
	}
	err := Check(Database{Name: "database", Tables: Tables, Versions: func() ([]int, error) { return []int{1, 2, 3}, nil },
		Contract: func() (int, error) { return 0, errBoom }}, ms)
	if !errors.Is(err, errBoom) {
		t.Errorf("Check with a failing Contract: %v", err)
	}
}

// TestCheckContract checks that Check does not require a contract
// migration, wherever it is, and requires the ordinary ones after it.
func TestCheckContract(t *testing.T) {
	t.Parallel()
	ms := contractMigrations(t)
	for _, tc := range []struct {
		versions []int
		ok       bool
	}{
		{[]int{1, 2, 3, 4, 5}, true},
		{[]int{1, 2, 4}, true},
		{[]int{1, 2, 3, 4}, true},
		{[]int{1, 2, 3}, false},
		{[]int{1, 2}, false},
	} {
		err := Check(Database{Name: "database", Tables: Tables, Versions: func() ([]int, error) { return tc.versions, nil }}, ms)
		if (err == nil) != tc.ok {
			t.Errorf("Check with %v: %v", tc.versions, err)
		}
	}
}
