package kiln_test

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntype"
)

// TestAuditRecordsActorCalls makes every state-changing call with and
// without an actor in the context, and checks that only those with one
// are recorded, each with its actor, action, target and detail.
func TestAuditRecordsActorCalls(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	clock := newClock()
	c, err := kiln.NewClient(fastConfig(openStore(t, ""), workers, clock))
	if err != nil {
		t.Fatal(err)
	}
	plain := t.Context()
	ops := kiln.WithActor(plain, kiln.Actor{Name: "ops", Role: "operator", Addr: "192.0.2.7"})
	if a, ok := kiln.ActorFrom(ops); !ok || a.Name != "ops" {
		t.Fatalf("ActorFrom: %+v, %v", a, ok)
	}
	if _, ok := kiln.ActorFrom(plain); ok {
		t.Fatal("ActorFrom found an actor in a plain context")
	}

	// Without an actor: nothing recorded.
	quiet, err := c.Enqueue(plain, testArgs{N: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.JobCancel(plain, quiet.Job.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.QueuePause(plain, "q0"); err != nil {
		t.Fatal(err)
	}

	res, err := c.EnqueueMany(ops, []kiln.EnqueueParams{{Args: testArgs{N: 2}}, {Args: testArgs{N: 3}, Opts: &kiln.EnqueueOpts{Queue: "other"}}})
	if err != nil {
		t.Fatal(err)
	}
	id := res[0].Job.ID
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.JobCancel(ops, id)
	must(err)
	_, err = c.JobRetry(ops, id)
	must(err)
	_, err = c.JobDelete(ops, id)
	must(err)
	must(c.QueuePause(ops, "q1"))
	must(c.QueueResume(ops, "q1"))
	local := kiln.WithActor(plain, kiln.Actor{Name: kiln.ActorLocal})
	_, err = c.RecurringAddOrUpdate(local, kiln.RecurringJob{ID: "nightly", Schedule: "0 3 * * *", Args: testArgs{N: 4}})
	must(err)
	_, err = c.RecurringPause(local, "nightly")
	must(err)
	_, err = c.RecurringResume(local, "nightly")
	must(err)
	job, err := c.RecurringTrigger(local, "nightly")
	must(err)
	_, err = c.RecurringRemove(local, "nightly")
	must(err)
	must(c.RetentionSet(local, kiln.RetentionRule{State: kilntype.JobStateCompleted, Kind: "test", Keep: time.Hour}))
	_, err = c.RetentionDelete(local, kilntype.JobStateCompleted, "test", "")
	must(err)
	// A failed call records nothing.
	if _, err := c.JobRetry(ops, 1<<40); err == nil {
		t.Fatal("retry of an unknown job succeeded")
	}

	got, err := c.AuditList(plain, nil)
	must(err)
	type entry struct{ actor, action, target string }
	want := []entry{
		{"ops", kiln.AuditJobEnqueue, strconv.FormatInt(id, 10)},
		{"ops", kiln.AuditJobCancel, strconv.FormatInt(id, 10)},
		{"ops", kiln.AuditJobRetry, strconv.FormatInt(id, 10)},
		{"ops", kiln.AuditJobDelete, strconv.FormatInt(id, 10)},
		{"ops", kiln.AuditQueuePause, "q1"},
		{"ops", kiln.AuditQueueResume, "q1"},
		{"local", kiln.AuditRecurringUpsert, "nightly"},
		{"local", kiln.AuditRecurringPause, "nightly"},
		{"local", kiln.AuditRecurringResume, "nightly"},
		{"local", kiln.AuditRecurringTrigger, "nightly"},
		{"local", kiln.AuditRecurringRemove, "nightly"},
		{"local", kiln.AuditRetentionSet, "completed of kind test"},
		{"local", kiln.AuditRetentionDelete, "completed of kind test"},
	}
	var have []entry
	for _, e := range slices.Backward(got) {
		have = append(have, entry{e.Actor, e.Action, e.Target})
	}
	if !slices.Equal(have, want) {
		t.Fatalf("recorded\n%v\nwant\n%v", have, want)
	}
	last := got[len(got)-1] // the enqueue
	if last.Role != "operator" || last.Addr != "192.0.2.7" || !last.At.Equal(clock.Now().UTC()) {
		t.Errorf("enqueue entry: %+v", last)
	}
	var d struct {
		Count  int      `json:"count"`
		IDs    []int64  `json:"ids"`
		Queues []string `json:"queues"`
	}
	if err := json.Unmarshal(last.Detail, &d); err != nil || d.Count != 2 || len(d.IDs) != 2 || len(d.Queues) != 2 {
		t.Errorf("enqueue detail %s: %+v, %v", last.Detail, d, err)
	}
	var trig struct {
		Job int64 `json:"job"`
	}
	if err := json.Unmarshal(got[3].Detail, &trig); err != nil || trig.Job != job.ID {
		t.Errorf("trigger detail %s, want job %d", got[3].Detail, job.ID)
	}

	// Filters and pages.
	byOps, err := c.AuditList(plain, &kiln.AuditListParams{Actor: "ops", Action: kiln.AuditQueuePause})
	must(err)
	if len(byOps) != 1 || byOps[0].Target != "q1" {
		t.Errorf("ops' pauses: %+v", byOps)
	}
	page, err := c.AuditList(plain, &kiln.AuditListParams{Limit: 2, Cursor: got[1].ID})
	must(err)
	if len(page) != 2 || page[0].ID != got[2].ID {
		t.Errorf("page after %d: %+v", got[1].ID, page)
	}

	// AuditRecord fills actor and time, and cuts a long detail.
	long, _ := json.Marshal(map[string]string{"x": string(make([]byte, 5000))})
	rid, err := c.AuditRecord(ops, kiln.AuditEntry{Action: kiln.AuditRequestRefused, Refused: true, Detail: long})
	must(err)
	rec, err := c.AuditList(plain, &kiln.AuditListParams{Action: kiln.AuditRequestRefused})
	must(err)
	if len(rec) != 1 || rec[0].ID != rid || rec[0].Actor != "ops" || !rec[0].Refused ||
		string(rec[0].Detail) != `{"truncated":true,"bytes":`+strconv.Itoa(len(long))+`}` {
		t.Errorf("recorded refusal %+v (detail %s)", rec, rec[0].Detail)
	}
}

// TestAuditRecordsBulk checks that bulk operations started and cancelled
// with an actor are recorded with the operation's ID and filter.
func TestAuditRecordsBulk(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[testArgs]) error { return nil }))
	c := clienttest.New(t, workers, newClock(), false, false)
	clienttest.Enqueue(t, c, testArgs{N: 1}, nil)
	ctx := kiln.WithActor(t.Context(), kiln.Actor{Name: "ops"})
	op, err := c.JobBulk(ctx, &kiln.BulkParams{Action: kiln.BulkCancel, Filter: kiln.JobFilter{Kinds: []string{"test"}}})
	if err != nil {
		t.Fatal(err)
	}
	clienttest.WaitBulk(t, c, op.ID)
	if _, err := c.JobBulkCancel(ctx, op.ID); err != nil {
		t.Fatal(err)
	}
	got, err := c.AuditList(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Action != kiln.AuditBulkStart || got[0].Action != kiln.AuditBulkCancel ||
		got[1].Target != strconv.FormatInt(op.ID, 10) || !strings.Contains(string(got[1].Detail), `"test"`) {
		t.Fatalf("recorded %+v", got)
	}
}
