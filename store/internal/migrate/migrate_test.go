package migrate

import (
	"context"
	"errors"
	"fmt"
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
// this build's version or a newer one, and otherwise says what is
// missing, wrapping kilntype.ErrSchemaMissing; it reads the version only
// when every table is there.
func TestCheck(t *testing.T) {
	t.Parallel()
	ms := testMigrations(t)
	all := slices.Clone(Tables)
	for _, tc := range []struct {
		name    string
		tables  []string
		version int
		want    string
	}{
		{name: "Current", tables: append(slices.Clone(all), "kiln_other"), version: 3},
		{name: "Newer", tables: all, version: 4},
		{name: "NoTables", want: `schema "s" has no Kiln tables`},
		{name: "TableMissing", tables: slices.DeleteFunc(slices.Clone(all), func(t string) bool { return t == "kiln_job" }),
			want: `table "s".kiln_job is missing`},
		{name: "Older", tables: all, version: 2, want: `schema "s" is at version 2, want 3`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			read := false
			err := Check(Database{Name: `schema "s"`, TablePrefix: `"s".`, Tables: tc.tables,
				Version: func() (int, error) { read = true; return tc.version, nil }}, ms)
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
				t.Errorf("Check read the version: %v", read)
			}
		})
	}
	err := Check(Database{Name: "database", Tables: Tables, Version: func() (int, error) { return 0, errBoom }}, ms)
	if !errors.Is(err, errBoom) {
		t.Errorf("Check with a failing Version: %v", err)
	}
}

var errBoom = errors.New("boom")
