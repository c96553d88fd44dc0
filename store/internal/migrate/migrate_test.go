package migrate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
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

// TestRun checks that Run hands the store each migration in order, up to
// upTo (0: all), and stops at the first error, naming its migration.
func TestRun(t *testing.T) {
	t.Parallel()
	ms, err := Load(files("001_init.sql", "002_two.sql", "003_three.sql"), "migrations")
	if err != nil {
		t.Fatal(err)
	}
	run := func(upTo int, failAt string) ([]string, error) {
		var applied []string
		err := Run(t.Context(), ms, upTo, func(_ context.Context, m Migration) error {
			if m.Name == failAt {
				return errBoom
			}
			applied = append(applied, m.Name)
			return nil
		})
		return applied, err
	}
	for _, tc := range []struct {
		upTo int
		want string
	}{{0, "001_init 002_two 003_three"}, {-1, "001_init 002_two 003_three"}, {2, "001_init 002_two"},
		{3, "001_init 002_two 003_three"}, {9, "001_init 002_two 003_three"}} {
		applied, err := run(tc.upTo, "")
		if got := strings.Join(applied, " "); err != nil || got != tc.want {
			t.Errorf("Run up to %d: %s, %v; want %s", tc.upTo, got, err, tc.want)
		}
	}
	applied, err := run(0, "002_two")
	if !errors.Is(err, errBoom) || err.Error() != "002_two: boom" || strings.Join(applied, " ") != "001_init" {
		t.Errorf("Run failing at 002_two: applied %v, %v; want 001_init applied and 002_two: boom", applied, err)
	}
}

var errBoom = errors.New("boom")
