package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// TestPrintHeld checks what `kiln migrate` prints about held contract
// migrations: nothing when there are none, else how many, each with what
// holds it back, and to run it again once those processes have stopped.
func TestPrintHeld(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	printHeld(&b, nil)
	if b.Len() != 0 {
		t.Errorf("printed %q for no held migration", b.String())
	}
	printHeld(&b, []store.HeldMigration{
		{Name: "031_drop", Contract: 30, Older: []string{"server a (host h, pid 1, last migration 29, refreshed at 2030-01-02T03:04:05Z)"}},
		{Name: "033_more", Contract: 32, Behind: "031_drop"},
	})
	want := "Held back 2 contract migration(s), which processes of an older Kiln version still need; " +
		"this version runs without them. Run 'kiln migrate' again once these processes have stopped:\n" +
		"  031_drop waits until no process of a build before migration 30 is registered: " +
		"server a (host h, pid 1, last migration 29, refreshed at 2030-01-02T03:04:05Z)\n" +
		"  033_more waits for 031_drop\n"
	if b.String() != want {
		t.Errorf("printed:\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestMigrateRemoveStale: `kiln migrate --remove-stale D` removes the
// registry rows not refreshed for D (a crashed process's, which would hold
// contract migrations back until the leader removed it), keeps the live
// ones, says which it removed, and refuses a D under two minutes.
func TestMigrateRemoveStale(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	for id, at := range map[string]time.Time{"crashed": now.Add(-2 * time.Hour), "live": now} {
		row := &kilntype.ServerRow{ID: id, Host: "h", PID: 1, StartedAt: at, RefreshedAt: at}
		if err := st.ServerUpsert(context.Background(), &store.ServerUpsertParams{Row: row}); err != nil {
			t.Fatal(err)
		}
	}
	wantFail(t, runKiln(t, "migrate", "--database", db, "--remove-stale", "90s"), exitUsage, "--remove-stale 1m30s: want 2m0s or more")
	r := mustRun(t, "migrate", "--database", db, "--remove-stale", "10m")
	if want := "Removed the registry rows of 1 process(es) not refreshed for 10m0s: crashed.\n"; !strings.HasPrefix(r.stdout, want) {
		t.Errorf("printed %q, want %q first", r.stdout, want)
	}
	rows, err := st.ServerList(context.Background())
	if err != nil || len(rows) != 1 || rows[0].ID != "live" {
		t.Fatalf("rows %+v, %v: want live alone", rows, err)
	}
	r = mustRun(t, "migrate", "--database", db, "--remove-stale", "10m")
	if !strings.HasPrefix(r.stdout, "No registered process went without a refresh for 10m0s.\n") {
		t.Errorf("printed %q with no stale row", r.stdout)
	}
}
