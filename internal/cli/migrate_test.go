package cli

import (
	"bytes"
	"testing"

	"github.com/kilnjobs/kiln/store"
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
