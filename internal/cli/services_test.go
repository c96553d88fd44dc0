package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

func TestServicesList(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := mustRun(t, "services", "list", "--database", db)
	if !strings.Contains(r.stdout, "No hosted services") {
		t.Errorf("empty list:\n%s", r.stdout)
	}

	startClient(t, db, &kiln.Config{ID: "proc-1", DisableMaintenance: true,
		HostedServices: []kiln.HostedService{{Name: "pinger", Run: func(ctx context.Context) error {
			return errors.New("cannot reach the pong server")
		}, MinBackoff: time.Hour}}})
	r = runUntil(t, "restarting", "services", "list", "--database", db)
	for _, want := range []string{"pinger", "proc-1", "cannot reach the pong server"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("services list lacks %q:\n%s", want, r.stdout)
		}
	}
}
