package kilntest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntest"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

type emailArgs struct {
	To      string `json:"to"`
	Subject string `json:"subject,omitempty"`
	Count   float64
}

func (emailArgs) Kind() string { return "email" }

type smsArgs struct {
	Phone string `json:"phone"`
}

func (smsArgs) Kind() string { return "sms" }

// enqueueOnly is a client without workers, which enqueues any kind.
func enqueueOnly(t *testing.T) *kiln.Client {
	return kilntest.NewClient(t, nil)
}

func enqueue(t *testing.T, c *kiln.Client, args kiln.JobArgs, opts *kiln.EnqueueOpts) *kiln.JobRow {
	t.Helper()
	res, err := c.Enqueue(t.Context(), args, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

// TestRequireEnqueued: a job that matches passes and is returned with its
// args decoded; one that differs fails with a diff naming the field.
func TestRequireEnqueued(t *testing.T) {
	t.Parallel()
	c := enqueueOnly(t)
	ctx := t.Context()
	at := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.UTC)
	enqueue(t, c, emailArgs{To: "ada@example.com", Count: 1e6}, &kiln.EnqueueOpts{
		Queue: "mail", Priority: 2, Tags: []string{"welcome"}, Metadata: map[string]string{"tenant": "t1"}, RunAt: at,
	})
	enqueue(t, c, emailArgs{To: "bob@example.com"}, nil)
	enqueue(t, c, smsArgs{Phone: "+1"}, nil)

	job := kilntest.RequireEnqueued(ctx, t, c, emailArgs{To: "ada@example.com", Count: 1e6}, &kilntest.RequireOpts{
		Queue: "mail", Priority: 2, Tags: []string{"welcome"}, Metadata: map[string]string{"tenant": "t1"},
		State: kiln.JobStateScheduled, ScheduledAt: at, MaxAttempts: kiln.DefaultMaxAttempts,
	})
	if job.Args.To != "ada@example.com" || job.Queue != "mail" {
		t.Fatalf("RequireEnqueued returned %+v in queue %q", job.Args, job.Queue)
	}

	msg := failure(t, func(tb testing.TB) {
		kilntest.RequireEnqueued(ctx, tb, c, emailArgs{To: "ada@example.com", Count: 1e6}, &kilntest.RequireOpts{Queue: "default"})
	})
	for _, want := range []string{
		`no job of kind "email" matches`,
		"- queue: default", "+ queue: mail", // the closest job's diff
		`"to": "ada@example.com"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "+ queue: default\n") && !strings.Contains(msg, "bob@example.com") {
		t.Errorf("the diff against bob's job should show its args:\n%s", msg)
	}

	msg = failure(t, func(tb testing.TB) {
		kilntest.RequireEnqueued(ctx, tb, c, emailArgs{To: "cy@example.com"}, nil)
	})
	if !strings.Contains(msg, `-   "to": "cy@example.com"`) || !strings.Contains(msg, `+   "to": "bob@example.com"`) {
		t.Errorf("failure message lacks the args diff:\n%s", msg)
	}

	msg = failure(t, func(tb testing.TB) { kilntest.RequireEnqueued(ctx, tb, c, smsArgs{Phone: "+2"}, nil) })
	if !strings.Contains(msg, `"phone": "+1"`) {
		t.Errorf("failure message lacks the found job:\n%s", msg)
	}
	msg = failure(t, func(tb testing.TB) { kilntest.RequireEnqueued(ctx, tb, c, otherArgs{}, nil) })
	if !strings.Contains(msg, `no job of kind "other" is in the store`) {
		t.Errorf("failure message for a kind never enqueued:\n%s", msg)
	}

	enqueue(t, c, emailArgs{To: "bob@example.com"}, nil)
	msg = failure(t, func(tb testing.TB) { kilntest.RequireEnqueued(ctx, tb, c, emailArgs{To: "bob@example.com"}, nil) })
	if !strings.Contains(msg, `2 jobs of kind "email" match`) {
		t.Errorf("two matching jobs should fail RequireEnqueued:\n%s", msg)
	}
}

type otherArgs struct{}

func (otherArgs) Kind() string { return "other" }

func TestRequireNotEnqueued(t *testing.T) {
	t.Parallel()
	c := enqueueOnly(t)
	ctx := t.Context()
	enqueue(t, c, emailArgs{To: "ada@example.com"}, nil)
	if msg := failure(t, func(tb testing.TB) {
		kilntest.RequireNotEnqueued(ctx, tb, c, emailArgs{To: "bob@example.com"}, nil)
		kilntest.RequireNotEnqueued(ctx, tb, c, emailArgs{To: "ada@example.com"}, &kilntest.RequireOpts{Queue: "other"})
	}); msg != "" {
		t.Fatalf("RequireNotEnqueued failed for jobs not enqueued: %s", msg)
	}
	msg := failure(t, func(tb testing.TB) { kilntest.RequireNotEnqueued(ctx, tb, c, emailArgs{To: "ada@example.com"}, nil) })
	if !strings.Contains(msg, `1 jobs of kind "email" match; want none`) || !strings.Contains(msg, "ada@example.com") {
		t.Fatalf("failure message:\n%s", msg)
	}
}

func TestRequireManyEnqueued(t *testing.T) {
	t.Parallel()
	c := enqueueOnly(t)
	ctx := t.Context()
	enqueue(t, c, emailArgs{To: "a"}, nil)
	enqueue(t, c, otherArgs{}, nil) // a kind not asked about
	enqueue(t, c, smsArgs{Phone: "1"}, &kiln.EnqueueOpts{Priority: 3})
	enqueue(t, c, emailArgs{To: "b"}, nil)

	rows := kilntest.RequireManyEnqueued(ctx, t, c, []kilntest.ExpectedJob{
		{Args: emailArgs{To: "a"}},
		{Args: smsArgs{Phone: "1"}, Opts: &kilntest.RequireOpts{Priority: 3}},
		{Args: emailArgs{To: "b"}},
	})
	if len(rows) != 3 {
		t.Fatalf("got %d rows", len(rows))
	}
	msg := failure(t, func(tb testing.TB) {
		kilntest.RequireManyEnqueued(ctx, tb, c, []kilntest.ExpectedJob{
			{Args: emailArgs{To: "a"}},
			{Args: emailArgs{To: "b"}},
			{Args: smsArgs{Phone: "1"}},
		})
	})
	if !strings.Contains(msg, "want 3 jobs") || !strings.Contains(msg, `- kind: sms`) || !strings.Contains(msg, `+ kind: sms`) {
		t.Fatalf("failure message for jobs out of order:\n%s", msg)
	}
	msg = failure(t, func(tb testing.TB) {
		kilntest.RequireManyEnqueued(ctx, tb, c, []kilntest.ExpectedJob{{Args: emailArgs{To: "a"}}})
	})
	if !strings.Contains(msg, "found 2") || !strings.Contains(msg, `+   "to": "b"`) {
		t.Fatalf("failure message for an extra job:\n%s", msg)
	}
}

func TestListEnqueued(t *testing.T) {
	t.Parallel()
	c := enqueueOnly(t)
	ctx := t.Context()
	enqueue(t, c, emailArgs{To: "a"}, nil)
	enqueue(t, c, emailArgs{To: "b"}, &kiln.EnqueueOpts{Queue: "q"})
	enqueue(t, c, smsArgs{Phone: "1"}, &kiln.EnqueueOpts{Queue: "q"})
	all := kilntest.ListEnqueued[emailArgs](ctx, t, c, nil)
	if len(all) != 2 || all[0].Args.To != "a" || all[1].Args.To != "b" {
		t.Fatalf("ListEnqueued = %v", all)
	}
	inQ := kilntest.ListEnqueued[emailArgs](ctx, t, c, &kilntest.RequireOpts{Queue: "q"})
	if len(inQ) != 1 || inQ[0].Args.To != "b" {
		t.Fatalf("ListEnqueued in queue q = %v", inQ)
	}
}

// TestRequireEnqueuedTx: on PostgreSQL the Tx twins see a job enqueued in
// a transaction before it commits, which the plain ones do not; on SQLite
// they fail the test saying the store cannot.
func TestRequireEnqueuedTx(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("sqlite", func(t *testing.T) {
		c := enqueueOnly(t)
		msg := failure(t, func(tb testing.TB) {
			kilntest.RequireEnqueuedTx(ctx, tb, c, pgx.Tx(nil), emailArgs{To: "a"}, nil)
		})
		if !strings.Contains(msg, "cannot read jobs in a") {
			t.Fatalf("failure message: %s", msg)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		st, err := postgres.Open(ctx, url, &postgres.Options{Schema: pgtest.Schema(t), MaxConns: 2, Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c := kilntest.NewClient(t, &kiln.Config{Store: st})
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(context.Background()) })
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		if _, err := kiln.EnqueueTx(ctx, c, tx, emailArgs{To: "a"}, &kiln.EnqueueOpts{Queue: "mail"}); err != nil {
			t.Fatal(err)
		}
		job := kilntest.RequireEnqueuedTx(ctx, t, c, tx, emailArgs{To: "a"}, &kilntest.RequireOpts{Queue: "mail"})
		if job.Args.To != "a" {
			t.Fatalf("args %+v", job.Args)
		}
		kilntest.RequireManyEnqueuedTx(ctx, t, c, tx, []kilntest.ExpectedJob{{Args: emailArgs{To: "a"}}})
		kilntest.RequireNotEnqueuedTx(ctx, t, c, tx, emailArgs{To: "b"}, nil)
		// Outside tx, nothing is there yet.
		kilntest.RequireNotEnqueued(ctx, t, c, emailArgs{To: "a"}, nil)
		msg := failure(t, func(tb testing.TB) {
			kilntest.RequireEnqueuedTx(ctx, tb, c, tx, emailArgs{To: "a"}, &kilntest.RequireOpts{Queue: "default"})
		})
		if !strings.Contains(msg, "+ queue: mail") {
			t.Fatalf("failure message: %s", msg)
		}
	})
}
