package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

type serversTestArgs struct{}

func (serversTestArgs) Kind() string { return "servers_test" }

func TestServersList(t *testing.T) {
	t.Parallel()
	db := newDB(t)
	r := mustRun(t, "servers", "list", "--database", db)
	if !strings.Contains(r.stdout, "No Kiln process is registered") {
		t.Errorf("empty list:\n%s", r.stdout)
	}

	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[serversTestArgs]) error { return nil }))
	startClient(t, db, &kiln.Config{ID: "proc-7", Workers: workers, DisableMaintenance: true,
		Queues: map[string]kiln.QueueConfig{"mail": {MaxWorkers: 4}}})
	r = runUntil(t, "proc-7", "servers", "list", "--database", db)
	if !strings.Contains(r.stdout, "mail 0/4") || !strings.Contains(r.stdout, "0/4") {
		t.Errorf("servers list lacks the queue:\n%s", r.stdout)
	}
}
