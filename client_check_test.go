package kiln_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

func TestEnqueueCheck(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(noWork[testArgs]))
	kiln.AddWorker(workers, kiln.WorkFunc(noWork[otherArgs]))
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Kinds(); !slices.Equal(got, []string{"other", "test"}) {
		t.Fatalf("Kinds() = %v", got)
	}
	if err := c.EnqueueCheck(kiln.RawArgs{JobKind: "test", JSON: json.RawMessage(`{"n":3}`)}, nil); err != nil {
		t.Fatalf("valid enqueue: %v", err)
	}
	err = c.EnqueueCheck(kiln.RawArgs{JobKind: "nope"}, nil)
	if !errors.Is(err, kiln.ErrUnknownKind) || !strings.Contains(err.Error(), `"nope"`) {
		t.Fatalf("unknown kind: %v", err)
	}
	err = c.EnqueueCheck(kiln.RawArgs{JobKind: "test", JSON: json.RawMessage(`{"n":"three"}`)}, nil)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || !strings.Contains(err.Error(), `kind "test"`) {
		t.Fatalf("args of the wrong type: %v", err)
	}
	err = c.EnqueueCheck(testArgs{}, &kiln.EnqueueOpts{Priority: 9})
	var ve *kiln.ValidationError
	if !errors.As(err, &ve) || ve.Field != "priority" || !strings.Contains(err.Error(), "9 is out of range 1 to 4") {
		t.Fatalf("bad priority: %v", err)
	}
	res, err := c.JobList(t.Context(), nil)
	if err != nil || len(res.Jobs) != 0 {
		t.Fatalf("EnqueueCheck stored jobs: %v, %v", res, err)
	}
}

func TestRecurringCheck(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(noWork[testArgs]))
	c, err := kiln.NewClient(&kiln.Config{Store: openStore(t, ""), Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	def := kiln.RecurringJob{ID: "r", Schedule: "*/5 * * * *", TimeZone: "Europe/Berlin", Args: testArgs{N: 1}}
	if err := c.RecurringCheck(def); err != nil {
		t.Fatalf("valid entry: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*kiln.RecurringJob)
		want string
	}{
		{"bad cron", func(d *kiln.RecurringJob) { d.Schedule = "61 * * * *" }, "minute"},
		{"bad zone", func(d *kiln.RecurringJob) { d.TimeZone = "Mars/Base" }, "Mars/Base"},
		{"bad args", func(d *kiln.RecurringJob) { d.Args = kiln.RawArgs{JobKind: "test", JSON: json.RawMessage(`[1]`)} }, "do not decode"},
	} {
		d := def
		tc.edit(&d)
		if err := c.RecurringCheck(d); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `recurring job "r"`) {
			t.Errorf("%s: %v, want an error naming the entry and %q", tc.name, err, tc.want)
		}
	}
	if _, err := c.RecurringGet(t.Context(), "r"); !errors.Is(err, kiln.ErrNotFound) {
		t.Fatalf("RecurringCheck stored the entry: %v", err)
	}
}

// noWork is a worker function that completes every job.
func noWork[T kiln.JobArgs](context.Context, *kiln.Job[T]) error { return nil }
