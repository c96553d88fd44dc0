package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"
)

// TestMigrateWaitsWhileOthersMigrate holds the write lock from another
// connection while a Store with a 50 ms busy timeout migrates the last
// migration: the Store waits again after each SQLITE_BUSY as long as
// kiln_migration gained rows meanwhile (another migrator's progress), and
// fails with SQLITE_BUSY after a wait without progress. Migrators that
// take turns for longer than one busy timeout (several processes started
// at once on a loaded machine) failed before.
func TestMigrateWaitsWhileOthersMigrate(t *testing.T) {
	for _, tc := range []struct {
		name     string
		progress int // waits that end with a row added by the lock's holder
		wantErr  bool
	}{
		{"Progress", 2, false},
		{"NoProgress", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "kiln.db")
			s, err := Open(ctx, path, &Options{BusyTimeout: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ms, err := migrations.Load()
			if err != nil {
				t.Fatal(err)
			}
			if err := s.migrateTo(ctx, ms[len(ms)-2].Version); err != nil {
				t.Fatal(err)
			}
			other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			holder, err := other.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Close()
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := holder.ExecContext(ctx, q, args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			exec("BEGIN IMMEDIATE")
			waits := 0
			migrationsBusy = func() {
				waits++
				if waits > tc.progress {
					return // the lock stays held, with nothing applied
				}
				// Another migrator commits a migration, then takes the
				// lock again, except after its last.
				exec("INSERT INTO kiln_migration (version, name) VALUES (?, 'other')", 100000+waits)
				exec("COMMIT")
				if waits < tc.progress {
					exec("BEGIN IMMEDIATE")
				}
			}
			defer func() { migrationsBusy = nil }()
			err = s.Migrate(ctx)
			if tc.wantErr {
				if !isBusy(err) || waits != 1 {
					t.Fatalf("Migrate = %v after %d waits, want SQLITE_BUSY after 1", err, waits)
				}
				exec("ROLLBACK")
				return
			}
			if err != nil || waits != tc.progress {
				t.Fatalf("Migrate = %v after %d waits, want nil after %d", err, waits, tc.progress)
			}
			var applied bool
			if err := s.r.QueryRowContext(ctx, `SELECT count(*) > 0 FROM kiln_migration WHERE version = ?`,
				ms[len(ms)-1].Version).Scan(&applied); err != nil || !applied {
				t.Fatalf("last migration applied: %v, %v", applied, err)
			}
		})
	}
}
