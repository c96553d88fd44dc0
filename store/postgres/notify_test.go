package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// listener is a subscription whose notifications the test reads from C.
type listener struct {
	sub      store.Subscription
	C        chan store.Notification
	failures atomic.Int32 // OnError calls
}

// listen subscribes s to topics and closes the subscription when t ends.
func listen(t *testing.T, s *Store, topics ...string) *listener {
	t.Helper()
	l := &listener{C: make(chan store.Notification, 1000)}
	sub, err := s.Listen(t.Context(), &store.ListenParams{
		Topics: topics,
		Handle: func(n store.Notification) { l.C <- n },
		OnError: func(err error, failures int, wait time.Duration) {
			l.failures.Add(1)
			t.Logf("listener: %v (failures %d, retry in %s)", err, failures, wait)
		},
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	l.sub = sub
	t.Cleanup(sub.Close)
	return l
}

// notified sends payload on TopicCancel through s and checks that it is
// the next notification l receives.
func (l *listener) notified(t *testing.T, s *Store, payload string) {
	t.Helper()
	if err := s.Notify(t.Context(), &store.NotifyParams{Topic: store.TopicCancel, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	if n := l.next(t); n.Payload != payload {
		t.Fatalf("got %+v, want %s", n, payload)
	}
}

// next returns the next notification.
func (l *listener) next(t *testing.T) store.Notification {
	t.Helper()
	return testutil.Receive(t, l.C, "a notification", nil)
}

// held checks that the next notifications say that notifications were
// held while a statement ran on the subscription's connection (Held), and
// then, if resumed, that they arrive again (Resumed); else that the
// connection was lost (Lost).
func (l *listener) held(t *testing.T, resumed bool) {
	t.Helper()
	if n := l.next(t); !n.Held {
		t.Fatalf("got %+v for a statement on the listening connection, want Held", n)
	}
	if n := l.next(t); resumed && !n.Resumed || !resumed && !n.Lost {
		t.Fatalf("got %+v after Held, want Resumed %v or else Lost", n, resumed)
	}
}

// until returns the notifications received before the one on topic with
// payload marker (which the test sent last: notifications arrive in commit
// order), so that a test can tell that nothing else came.
func (l *listener) until(t *testing.T, topic, marker string) []store.Notification {
	t.Helper()
	var got []store.Notification
	for {
		n := l.next(t)
		if n.Topic == topic && n.Payload == marker {
			return got
		}
		got = append(got, n)
	}
}

// newTestStore opens a second Store, with a pool of its own, on schema.
func newTestStore(t *testing.T, schema string) *Store {
	t.Helper()
	return OpenForTest(t, &Options{Schema: schema, MaxConns: 4})
}

var notifyBase = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func insertParams(queue string, state kilntype.JobState) *store.JobInsertParams {
	at := notifyBase
	if state == kilntype.JobStateScheduled {
		at = at.Add(time.Hour)
	}
	return &store.JobInsertParams{Kind: "noop", Queue: queue, Args: []byte(`{}`), Priority: 1, MaxAttempts: 1,
		State: state, ScheduledAt: at, CreatedAt: notifyBase}
}

func payloads(ns []store.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Topic+":"+n.Payload)
	}
	return out
}

func TestChannelNames(t *testing.T) {
	t.Parallel()
	short := newStore(nil, "kiln", false)
	if got := short.channel("insert"); got != "kiln.insert" {
		t.Errorf("channel = %q, want kiln.insert", got)
	}
	long1 := newStore(nil, strings.Repeat("s", 62)+"1", false)
	long2 := newStore(nil, strings.Repeat("s", 62)+"2", false)
	seen := map[string]bool{}
	for _, s := range []*Store{short, long1, long2} {
		for _, topic := range []string{"insert", "cancel", strings.Repeat("t", maxTopicLen)} {
			c := s.channel(topic)
			if len(c) > maxChannelLen {
				t.Errorf("channel %q is %d bytes, more than %d", c, len(c), maxChannelLen)
			}
			if seen[c] {
				t.Errorf("channel %q used twice", c)
			}
			seen[c] = true
		}
	}
	for _, bad := range []string{"", "Insert", "a.b", "a b", strings.Repeat("t", maxTopicLen+1)} {
		if checkTopic(bad) == nil {
			t.Errorf("topic %q accepted", bad)
		}
	}
}

func TestListenErrors(t *testing.T) {
	t.Parallel()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t)})
	handle := func(store.Notification) {}
	for _, tc := range []struct {
		name   string
		params *store.ListenParams
	}{
		{"Nil", nil},
		{"NoHandle", &store.ListenParams{Topics: []string{"insert"}}},
		{"NoTopics", &store.ListenParams{Handle: handle}},
		{"BadTopic", &store.ListenParams{Topics: []string{"insert", "no.dots"}, Handle: handle}},
	} {
		if sub, err := s.Listen(t.Context(), tc.params); err == nil {
			sub.Close()
			t.Errorf("%s: Listen succeeded", tc.name)
		} else if !strings.HasPrefix(err.Error(), "postgres: listen") {
			t.Errorf("%s: error %q lacks the package prefix", tc.name, err)
		}
	}
	if err := s.Notify(t.Context(), &store.NotifyParams{Topic: "Bad", Payload: "x"}); err == nil {
		t.Error("Notify on an invalid topic succeeded")
	}
}

// TestNotifyAcrossStores: a Store hears what another Store (another pool,
// as another process would have) on the same schema sends, including the
// notifications that JobInsertMany and JobCancel send by themselves.
func TestNotifyAcrossStores(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	a := NewForTest(t)
	b := newTestStore(t, a.Schema())
	l := listen(t, a, store.TopicInsert, store.TopicCancel)

	if err := b.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: "hello"}); err != nil {
		t.Fatal(err)
	}
	if n := l.next(t); n != (store.Notification{Topic: store.TopicInsert, Payload: "hello"}) {
		t.Fatalf("got %+v, want insert:hello", n)
	}

	// One notification per queue with available jobs, per call.
	_, err := b.JobInsertMany(ctx, []*store.JobInsertParams{
		insertParams("q1", kilntype.JobStateAvailable), insertParams("q2", kilntype.JobStateAvailable),
		insertParams("q1", kilntype.JobStateAvailable), insertParams("later", kilntype.JobStateScheduled),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: "end1"}); err != nil {
		t.Fatal(err)
	}
	got := payloads(l.until(t, store.TopicInsert, "end1"))
	if strings.Join(got, " ") != "insert:q1 insert:q2" && strings.Join(got, " ") != "insert:q2 insert:q1" {
		t.Errorf("after inserting into q1, q2, q1 and (scheduled) later: %v, want insert:q1 and insert:q2", got)
	}

	// JobInsertManyTx notifies when the caller's transaction commits, and
	// not at all when it rolls back.
	for _, commit := range []bool{false, true} {
		tx, err := b.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.JobInsertManyTx(ctx, tx, []*store.JobInsertParams{insertParams("tx", kilntype.JobStateAvailable)}); err != nil {
			t.Fatal(err)
		}
		if err := b.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: "open"}); err != nil {
			t.Fatal(err)
		}
		if got := l.until(t, store.TopicInsert, "open"); len(got) > 0 {
			t.Fatalf("notifications %v before the transaction ended", payloads(got))
		}
		if commit {
			err = tx.Commit(ctx)
		} else {
			err = tx.Rollback(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
		marker := "end-" + strconv.FormatBool(commit)
		if err := b.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: marker}); err != nil {
			t.Fatal(err)
		}
		got := payloads(l.until(t, store.TopicInsert, marker))
		want := ""
		if commit {
			want = "insert:tx"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("commit %v: got %v, want %q", commit, got, want)
		}
	}

	// A cancel request for a running job is announced with its ID; a job
	// cancelled at once (not running) is not.
	res, err := b.JobInsertMany(ctx, []*store.JobInsertParams{insertParams("c", kilntype.JobStateAvailable), insertParams("idle", kilntype.JobStateScheduled)})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := b.JobClaim(ctx, &store.JobClaimParams{Queue: "c", Max: 1, AnyKind: true, LeasedBy: "p1", LeaseExpiresAt: notifyBase.Add(time.Hour), Now: notifyBase})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v, %d jobs", err, len(claimed))
	}
	for _, id := range []int64{res[1].Job.ID, res[0].Job.ID} {
		if _, err := b.JobCancel(ctx, &store.JobCancelParams{ID: id, Now: notifyBase}); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Notify(ctx, &store.NotifyParams{Topic: store.TopicCancel, Payload: "end"}); err != nil {
		t.Fatal(err)
	}
	got = payloads(l.until(t, store.TopicCancel, "end"))
	if want := "insert:c cancel:" + strconv.FormatInt(res[0].Job.ID, 10); strings.Join(got, " ") != want {
		t.Errorf("got %v, want %q", got, want)
	}
}

// TestNotifySchemasIsolated: Stores on different schemas of one database
// do not hear each other, also when their schema names are too long to
// appear in channel names.
func TestNotifySchemasIsolated(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	base := SchemaForTest(t)
	// Channels need no schema: these schemas are never created.
	long := base + strings.Repeat("x", maxChannelLen-len(base)-1)
	var stores []*Store
	var listeners []*listener
	for _, schema := range []string{base + "_a", base + "_b", long + "1", long + "2"} {
		s := OpenForTest(t, &Options{Schema: schema, MaxConns: 2})
		stores = append(stores, s)
		listeners = append(listeners, listen(t, s, store.TopicInsert))
	}
	for _, s := range stores {
		if err := s.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: s.Schema()}); err != nil {
			t.Fatal(err)
		}
	}
	// Then a marker each: a listener receives the notifications of its
	// channel in commit order, so whatever it heard from the others
	// comes before its marker.
	for _, s := range stores {
		if err := s.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: "end"}); err != nil {
			t.Fatal(err)
		}
	}
	for i, l := range listeners {
		want := "insert:" + stores[i].Schema()
		if got := payloads(l.until(t, store.TopicInsert, "end")); strings.Join(got, " ") != want {
			t.Errorf("schema %s heard %v, want only %s", stores[i].Schema(), got, want)
		}
	}
}

// TestListenReconnects: when the server ends the listening session, the
// subscription reports it, connects again, says that notifications may
// have been lost, and receives again.
func TestListenReconnects(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 2})
	l := listen(t, s, store.TopicCancel)
	sub := l.sub.(*subscription)
	admin := pgtest.Admin(t)
	for round := range 2 {
		pid := sub.backendPID()
		if pid == 0 {
			t.Fatal("no listening connection")
		}
		var killed bool
		if err := admin.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&killed); err != nil || !killed {
			t.Fatalf("terminate backend %d: %v, %v", pid, killed, err)
		}
		if n := l.next(t); !n.Lost {
			t.Fatalf("round %d: got %+v, want Lost", round, n)
		}
		if got := sub.backendPID(); got == 0 || got == pid {
			t.Fatalf("round %d: listening on backend %d after %d was terminated", round, got, pid)
		}
		payload := "after-" + strconv.Itoa(round)
		if err := s.Notify(ctx, &store.NotifyParams{Topic: store.TopicCancel, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		if n := l.next(t); n.Payload != payload {
			t.Fatalf("round %d: got %+v, want %s", round, n, payload)
		}
	}
	if l.failures.Load() < 2 {
		t.Errorf("OnError called %d times, want at least 2", l.failures.Load())
	}
}

// TestListenSurvivesPings: a subscription that hears nothing for longer
// than its ping interval checks its connection, and still receives after
// two pings that succeeded.
func TestListenSurvivesPings(t *testing.T) {
	t.Parallel()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 2})
	pings := make(chan error, 100)
	s.pingEvery = 20 * time.Millisecond
	s.pingHook = func(err error) {
		select {
		case pings <- err:
		default:
		}
	}
	l := listen(t, s, store.TopicInsert)
	for range 2 {
		if err := testutil.Receive(t, pings, "a ping", nil); err != nil {
			t.Fatalf("ping: %v", err)
		}
	}
	if err := s.Notify(t.Context(), &store.NotifyParams{Topic: store.TopicInsert, Payload: "late"}); err != nil {
		t.Fatal(err)
	}
	if n := l.next(t); n.Payload != "late" {
		t.Fatalf("got %+v, want late", n)
	}
	if f := l.failures.Load(); f != 0 {
		t.Errorf("%d connection failures", f)
	}
}

// TestSubscriptionCloseLeavesNoGoroutines runs alone (not in parallel),
// so that the goroutines it checks are its own.
func TestSubscriptionCloseLeavesNoGoroutines(t *testing.T) {
	ctx := context.Background()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 2})
	admin := pgtest.Admin(t)
	if err := s.Pool().Ping(ctx); err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()

	got := make(chan store.Notification, 10)
	sub, err := s.Listen(ctx, &store.ListenParams{Topics: []string{store.TopicInsert}, Handle: func(n store.Notification) { got <- n }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(ctx, &store.NotifyParams{Topic: store.TopicInsert, Payload: "x"}); err != nil {
		t.Fatal(err)
	}
	<-got
	pid := sub.(*subscription).backendPID()
	if _, err := admin.Exec(ctx, `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	if n := <-got; !n.Lost {
		t.Fatalf("got %+v, want Lost", n)
	}
	pid = sub.(*subscription).backendPID()
	sub.Close()
	sub.Close()
	goleak.VerifyNone(t, ignore)

	// The listening session was ended, not left open on the server.
	testutil.Eventually(t, fmt.Sprintf("backend %d to end after Close", pid), func() bool {
		var n int
		if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE pid = $1`, int32(pid)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
}

// TestSubscriptionExec: exec runs a function on the listening connection
// between two waits, with the receiver told that notifications are held
// meanwhile (Held, then Resumed), and the subscription receives after it; a function
// that closes the connection makes the subscription reconnect (Lost) and
// receive again; a context done before the function runs, or a closed
// subscription, is an error without a run; Close cuts a running function's
// statement short; a task whose context ends during its statement has it
// cancelled, and the connection goes on listening.
func TestSubscriptionExec(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t)})
	l := listen(t, s, store.TopicCancel)
	sub := l.sub.(*subscription)
	notified := func(payload string) { t.Helper(); l.notified(t, s, payload) }
	backend := func(ctx context.Context, conn *pgx.Conn) (pid int32, err error) {
		err = conn.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&pid)
		return pid, err
	}

	for round := range 3 {
		var pid int32
		err := sub.exec(ctx, func(ctx context.Context, conn *pgx.Conn) (err error) {
			pid, err = backend(ctx, conn)
			return err
		})
		if want := sub.backendPID(); err != nil || uint32(pid) != want {
			t.Fatalf("round %d: exec ran on backend %d (%v); the subscription listens on %d", round, pid, err, want)
		}
		l.held(t, true)
		notified("after exec " + strconv.Itoa(round))
	}

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	ran := false
	if err := sub.exec(cancelled, func(ctx context.Context, conn *pgx.Conn) error {
		ran = true
		_, err := backend(ctx, conn)
		return err
	}); !errors.Is(err, context.Canceled) {
		t.Fatalf("exec with a cancelled context: %v (ran: %v); want context.Canceled", err, ran)
	}
	notified("after a cancelled exec")

	// A task whose context ends during its statement: the statement is
	// cancelled, and the connection goes on listening.
	listening := sub.backendPID()
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	err := sub.exec(short, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_sleep(600)`)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exec past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if got := sub.backendPID(); got != listening {
		t.Fatalf("listening on backend %d after a task was cut short, %d before: the connection was lost", got, listening)
	}
	l.held(t, true)
	notified("after a task cut short")

	before := sub.backendPID()
	if err := sub.exec(ctx, func(ctx context.Context, conn *pgx.Conn) error { return conn.Close(ctx) }); err != nil {
		t.Fatalf("exec closing the connection: %v", err)
	}
	l.held(t, false)
	if got := sub.backendPID(); got == 0 || got == before {
		t.Fatalf("listening on backend %d, %d before the connection was closed", got, before)
	}
	notified("after the reconnection")

	// Close while a task runs a long statement: the statement is cut
	// short, and Close returns without waiting for it.
	started := make(chan struct{})
	result := make(chan error, 1)
	go func() {
		result <- sub.exec(ctx, func(ctx context.Context, conn *pgx.Conn) error {
			close(started)
			_, err := conn.Exec(ctx, `SELECT pg_sleep(600)`)
			return err
		})
	}()
	testutil.Receive(t, started, "the long task to start", nil)
	closed := make(chan struct{})
	go func() {
		sub.Close()
		close(closed)
	}()
	testutil.Receive(t, closed, "Close during a long task", nil)
	if err := testutil.Receive(t, result, "the long task's error", nil); err == nil {
		t.Fatal("a task cut short by Close returned no error")
	}

	if err := sub.exec(ctx, func(context.Context, *pgx.Conn) error {
		t.Error("exec ran a function on a closed subscription")
		return nil
	}); !errors.Is(err, errNotListening) {
		t.Fatalf("exec on a closed subscription: %v, want errNotListening", err)
	}
}

// TestSubscriptionExecLostCancel: when the cancel request for a task's
// statement is lost (here never sent), the socket is closed once
// cancelRequestTimeout has passed, the task returns, and the subscription
// reconnects (Lost) and receives again, instead of waiting on the
// statement for ever.
func TestSubscriptionExecLostCancel(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := OpenForTest(t, &Options{Schema: SchemaForTest(t)})
	s.cancelRequestHook = func(context.Context, *pgconn.PgConn) error { return nil }
	l := listen(t, s, store.TopicCancel)
	sub := l.sub.(*subscription)
	before := sub.backendPID()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	err := sub.exec(short, func(ctx context.Context, conn *pgx.Conn) error {
		_, err := conn.Exec(ctx, `SELECT pg_sleep(600)`)
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exec past its deadline with its cancel request lost: %v, want context.DeadlineExceeded", err)
	}
	l.held(t, false)
	if got := sub.backendPID(); got == 0 || got == before {
		t.Fatalf("listening on backend %d, %d before", got, before)
	}
	l.notified(t, s, "after the lost cancel")
}
