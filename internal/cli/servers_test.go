package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/sqlite"
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

	st, err := sqlite.Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[serversTestArgs]) error { return nil }))
	c, err := kiln.NewClient(&kiln.Config{Store: st, ID: "proc-7", Workers: workers, DisableMaintenance: true,
		Queues: map[string]kiln.QueueConfig{"mail": {MaxWorkers: 4}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = mustRun(t, "servers", "list", "--database", db)
		if strings.Contains(r.stdout, "proc-7") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("servers list never showed the process:\n%s", r.stdout)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if !strings.Contains(r.stdout, "mail 0/4") || !strings.Contains(r.stdout, "0/4") {
		t.Errorf("servers list lacks the queue:\n%s", r.stdout)
	}
}
