package kiln_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// openPostgres opens a Store with a pool of its own on schema, as another
// process would, and closes it when t ends.
func openPostgres(t *testing.T, url, schema string, migrate bool) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(context.Background(), url, &postgres.Options{Schema: schema, MaxConns: 4, Migrate: migrate})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

type notifyArgs struct{ N int }

func (notifyArgs) Kind() string { return "notify" }

type jobStart struct {
	id int64
	at time.Time
}

// TestNotifyWakesOtherProcess: with polling too slow to explain it, a job
// enqueued by another process (an enqueue-only client on its own pool)
// starts at once, woken by the store's notification.
func TestNotifyWakesOtherProcess(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t)
	runner := openPostgres(t, url, schema, true)
	enqueuer := openPostgres(t, url, schema, false)

	starts := make(chan jobStart, 10)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[notifyArgs]) error {
		starts <- jobStart{job.ID, time.Now()}
		return nil
	}))
	startClient(t, &kiln.Config{Store: runner, Workers: workers, FetchPollInterval: 10 * time.Second, DisableMaintenance: true})
	other, err := kiln.NewClient(&kiln.Config{Store: enqueuer})
	if err != nil {
		t.Fatal(err)
	}

	// Half the poll interval: a notification that did not wake the
	// producer shows, while a loaded machine's scheduling delays do not.
	const bound = 5 * time.Second
	const n = 200
	latencies := make([]time.Duration, 0, n)
	for i := range n {
		begin := time.Now()
		res, err := other.Enqueue(t.Context(), notifyArgs{N: i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := testutil.Receive(t, starts, fmt.Sprintf("job %d (#%d) to start", res.Job.ID, i), nil)
		if s.id != res.Job.ID {
			t.Fatalf("job %d started, want %d", s.id, res.Job.ID)
		}
		d := s.at.Sub(begin)
		if d > bound {
			t.Fatalf("job #%d started %s after its enqueue began in another process, want within %s (FetchPollInterval is 10s)", i, d, bound)
		}
		latencies = append(latencies, d)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1))] }
	t.Logf("enqueue (other process) -> start latency over %d jobs: min %s p50 %s p90 %s p99 %s max %s",
		n, latencies[0], pct(0.50), pct(0.90), pct(0.99), latencies[n-1])
}

type blockArgs struct{}

func (blockArgs) Kind() string { return "notify_block" }

// TestNotifyCancelReachesOtherProcess: with polling too slow to explain
// it, a cancel requested by another process cancels the running job's
// context at once.
func TestNotifyCancelReachesOtherProcess(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	schema := pgtest.Schema(t)
	runner := openPostgres(t, url, schema, true)
	canceller := openPostgres(t, url, schema, false)

	started := make(chan int64, 1)
	done := make(chan time.Time, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[blockArgs]) error {
		started <- job.ID
		<-ctx.Done()
		done <- time.Now()
		return ctx.Err()
	}))
	startClient(t, &kiln.Config{Store: runner, Workers: workers, DisableMaintenance: true,
		FetchPollInterval: 10 * time.Second, CancelPollInterval: 10 * time.Second})
	other, err := kiln.NewClient(&kiln.Config{Store: canceller})
	if err != nil {
		t.Fatal(err)
	}

	job := clienttest.Enqueue(t, other, blockArgs{}, nil)
	// How soon it starts is TestNotifyWakesOtherProcess's subject, not
	// this test's: a bound of 1 s here measured the load.
	if id := testutil.Receive(t, started, "the job to start", nil); id != job.ID {
		t.Fatalf("job %d started, want %d", id, job.ID)
	}
	begin := time.Now()
	row, err := other.JobCancel(t.Context(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if row.State != kilntype.JobStateRunning || row.CancelRequestedAt == nil {
		t.Fatalf("cancel returned a %s job, cancel requested at %v; want running with a request", row.State, row.CancelRequestedAt)
	}
	select {
	case at := <-done:
		d := at.Sub(begin)
		if d > 5*time.Second {
			t.Fatalf("job's context cancelled %s after the cancel began, want within 5s, well before the poll (CancelPollInterval is 10s)", d)
		}
		t.Logf("cancel (other process) -> job context done: %s", d)
	case <-time.After(15 * time.Second):
		t.Fatal("job's context not cancelled within 15s")
	}
	clienttest.WaitState(t, other, job.ID, kilntype.JobStateCancelled)
}

// quietStore is a PostgreSQL store whose notifications are unavailable (as
// behind PgBouncer), counting the client's calls of Listen.
type quietStore struct {
	*postgres.Store
	listens chan struct{}
}

func (s *quietStore) NotificationsAvailable() bool { return false }

func (s *quietStore) Listen(ctx context.Context, params *store.ListenParams) (store.Subscription, error) {
	s.listens <- struct{}{}
	return s.Store.Listen(ctx, params)
}

// TestNoListenWhenNotificationsUnavailable: a client on a store whose
// NotificationsAvailable reports false never listens (its Start would
// otherwise call Listen before returning), and still runs jobs by polling.
func TestNoListenWhenNotificationsUnavailable(t *testing.T) {
	t.Parallel()
	st := &quietStore{Store: openPostgres(t, pgtest.URL(t), pgtest.Schema(t), true), listens: make(chan struct{}, 10)}
	done := make(chan int64, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[notifyArgs]) error {
		done <- job.ID
		return nil
	}))
	client := startClient(t, &kiln.Config{Store: st, Workers: workers, FetchPollInterval: 20 * time.Millisecond, DisableMaintenance: true})
	res, err := client.Enqueue(t.Context(), notifyArgs{N: 1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-done:
		if id != res.Job.ID {
			t.Fatalf("ran job %d, want %d", id, res.Job.ID)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the job did not run within 30 s")
	}
	if n := len(st.listens); n != 0 {
		t.Errorf("the client called Listen %d times, want none", n)
	}
}

// claimCountingStore counts the claims of the store it wraps.
type claimCountingStore struct {
	store.Store
	claims atomic.Int64
}

func (s *claimCountingStore) JobClaim(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.claims.Add(1)
	return s.Store.JobClaim(ctx, params)
}

// TestEnqueueClaimsOnce: each job that the client running its queue
// enqueues, one at a time, is claimed by one claim, whether the store's
// insert notification wakes the producer or, on a store without
// notifications, the enqueue itself: the enqueue's own wake and the
// notification do not both make the producer claim (the second claim finds
// nothing, yet on PostgreSQL after a burn-down it reads the claim index's
// dead entries, and a job enqueued meanwhile waits for it: issue 11). Its
// jobs start although the producer never polls.
func TestEnqueueClaimsOnce(t *testing.T) {
	t.Parallel()
	for _, notifications := range []bool{true, false} {
		t.Run(fmt.Sprintf("notifications=%v", notifications), func(t *testing.T) {
			t.Parallel()
			var inner store.Store = openPostgres(t, pgtest.URL(t), pgtest.Schema(t), true)
			if !notifications {
				inner = &quietStore{Store: inner.(*postgres.Store), listens: make(chan struct{}, 10)}
			}
			st := &claimCountingStore{Store: inner}
			starts := make(chan int64, 1)
			workers := kiln.NewWorkers()
			kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[notifyArgs]) error {
				starts <- job.ID
				return nil
			}))
			client := startClient(t, &kiln.Config{Store: st, Workers: workers, FetchPollInterval: time.Hour,
				DisableMaintenance: true, Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 10}}})
			completed, unsubscribe := client.Subscribe(kiln.EventJobCompleted)
			defer unsubscribe()
			// The claims of Start (each producer claims once when it
			// starts, and the notifier's first subscription wakes every
			// queue) are over once a job enqueued now has run.
			res, err := client.Enqueue(t.Context(), notifyArgs{N: -1}, nil)
			if err != nil {
				t.Fatal(err)
			}
			testutil.Receive(t, starts, "the first job to start", nil)
			testutil.Receive(t, completed, "the first job to complete", func(ev *kiln.Event) bool { return ev.Job.ID == res.Job.ID })

			const n = 30
			before := st.claims.Load()
			for i := range n {
				res, err := client.Enqueue(t.Context(), notifyArgs{N: i}, nil)
				if err != nil {
					t.Fatal(err)
				}
				if id := testutil.Receive(t, starts, fmt.Sprintf("job #%d to start", i), nil); id != res.Job.ID {
					t.Fatalf("job %d started, want %d", id, res.Job.ID)
				}
				testutil.Receive(t, completed, fmt.Sprintf("job #%d to complete", i), func(ev *kiln.Event) bool { return ev.Job.ID == res.Job.ID })
			}
			// A notification may rarely arrive twice (store.Notifier), or a
			// claim find its job before the last wake: a few more claims
			// than jobs. Two wakes per enqueue claim about twice per job.
			claims := st.claims.Load() - before
			t.Logf("%d claims for %d jobs", claims, n)
			if claims < n || claims > n+n/5 {
				t.Errorf("%d claims for %d jobs enqueued one at a time; want %d to %d", claims, n, n, n+n/5)
			}
		})
	}
}

// heldStore is a PostgreSQL store whose subscriptions the test can hold,
// as if a VACUUM ran on the subscription's connection: hold sends Held to
// the client's Handle and drops the insert notifications from then on
// (their delivery would come after the VACUUM); resume sends Resumed and
// lets them through again. Both are handed to the subscription's own
// goroutine, which calls Handle with them before its next notification
// (Handle is called one call at a time), and return once it has: tell
// sends a notification on the topic nudge, which the client does not get,
// to make it look.
type heldStore struct {
	*postgres.Store
	held bool                    // read and written on the subscription's goroutine only
	say  chan store.Notification // Held or Resumed, for the subscription's goroutine
	said chan struct{}           // receives once it was handed to the client
}

func (s *heldStore) Listen(ctx context.Context, params *store.ListenParams) (store.Subscription, error) {
	inner := *params
	inner.Handle = func(n store.Notification) {
		select {
		case m := <-s.say:
			s.held = m.Held
			params.Handle(m)
			s.said <- struct{}{}
		default:
		}
		if s.held && n.Topic == store.TopicInsert || n.Topic == "nudge" {
			return
		}
		params.Handle(n)
	}
	inner.Topics = append(slices.Clone(params.Topics), "nudge")
	return s.Store.Listen(ctx, &inner)
}

// tell hands n to the client's Handle on the subscription's goroutine.
func (s *heldStore) tell(t *testing.T, n store.Notification) {
	t.Helper()
	s.say <- n
	if err := s.Notify(t.Context(), &store.NotifyParams{Topic: "nudge"}); err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, s.said, fmt.Sprintf("%+v handed to the client", n), nil)
}

// TestEnqueueWhileNotificationsHeld: while the store holds its
// notifications back (Notification.Held: JobVacuum's VACUUM on the
// subscription's connection, minutes on a table of millions of jobs), a
// job that the client running its queue enqueues starts at once, woken by
// the enqueue itself, not at the next poll (an hour here); once the
// notifications resume, the insert's notification wakes the producer
// again.
func TestEnqueueWhileNotificationsHeld(t *testing.T) {
	t.Parallel()
	st := &heldStore{Store: openPostgres(t, pgtest.URL(t), pgtest.Schema(t), true),
		say: make(chan store.Notification, 1), said: make(chan struct{}, 1)}
	starts := make(chan int64, 1)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[notifyArgs]) error {
		starts <- job.ID
		return nil
	}))
	client := startClient(t, &kiln.Config{Store: st, Workers: workers, FetchPollInterval: time.Hour, DisableMaintenance: true})
	enqueue := func(what string) {
		t.Helper()
		res, err := client.Enqueue(t.Context(), notifyArgs{N: 1}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if id := testutil.Receive(t, starts, what, nil); id != res.Job.ID {
			t.Fatalf("job %d started, want %d", id, res.Job.ID)
		}
	}
	enqueue("a job enqueued while listening")
	st.tell(t, store.Notification{Held: true})
	enqueue("a job enqueued while notifications are held")
	st.tell(t, store.Notification{Resumed: true})
	enqueue("a job enqueued after they resumed")
}
