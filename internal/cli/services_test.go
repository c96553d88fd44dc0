package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/sqlite"
)

func TestServicesList(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := mustRun(t, "services", "list", "--database", db)
	if !strings.Contains(r.stdout, "No hosted services") {
		t.Errorf("empty list:\n%s", r.stdout)
	}

	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c, err := kiln.NewClient(&kiln.Config{Store: st, ID: "proc-1", DisableMaintenance: true,
		HostedServices: []kiln.HostedService{{Name: "pinger", Run: func(ctx context.Context) error {
			return errors.New("cannot reach the pong server")
		}, MinBackoff: time.Hour}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = mustRun(t, "services", "list", "--database", db)
		if strings.Contains(r.stdout, "restarting") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("services list never showed the failing service:\n%s", r.stdout)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	for _, want := range []string{"pinger", "proc-1", "cannot reach the pong server"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("services list lacks %q:\n%s", want, r.stdout)
		}
	}
}
