package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Notifications travel with PostgreSQL's LISTEN and NOTIFY. Each topic is
// a channel of the Store's schema, named "<schema>.<topic>" (or, when that
// is longer than the 63 bytes a channel name may have,
// "kiln#<hash of the schema>#<topic>"), so that Stores on different
// schemas of one database never hear each other.
//
// A subscription holds one connection of its own, taken out of the Store's
// pool (so the pool's hooks and settings apply to it, and the pool may open
// another in its place), on which it runs LISTEN and then waits for
// notifications. When the server says nothing for pingInterval it pings,
// so that a connection that died silently is noticed; when the connection
// fails it reconnects with a growing, jittered backoff, LISTENs again, and
// tells its receiver that notifications may have been lost. LISTEN needs
// a session of its own: behind a pooler in transaction mode (PgBouncer's
// default) subscriptions receive nothing, and Kiln runs on polling alone.
//
// The store sends the insert and cancel notifications itself, so that
// writes made by any process wake the others. PostgreSQL serializes the
// commits of the transactions that notify, database-wide, from their
// NOTIFY until their commit record is flushed. Notifying from every
// inserting transaction would thus make concurrent enqueues commit one
// after another (a quarter to a third of the throughput, measured with 8
// and 32 concurrent single-job enqueues). So:
//
//   - JobInsertMany notifies after its transaction commits, in a
//     transaction of its own. That one writes nothing else, so PostgreSQL
//     commits it without waiting for a flush, and holds the lock only for
//     an instant. A failure there is ignored: the jobs are stored, and
//     polling will find them.
//   - JobInsertManyTx notifies inside the caller's transaction, so that the
//     notification is sent only if, and when, that transaction commits,
//     which the caller then pays for as described above.
//   - JobCancel notifies inside its transaction: cancels are rare, and the
//     process running the job then hears of it only once the request is
//     stored.
//
// A notification queue filled up (8 GB by default) by a session that
// listens but stays in a transaction for long makes the notifying
// transactions fail at commit; Kiln's listeners never open transactions.

// maxChannelLen is the longest channel name PostgreSQL accepts
// (NAMEDATALEN - 1).
const maxChannelLen = 63

// maxTopicLen bounds the length of a topic, so that a hashed channel name
// ("kiln#" + 32 hex digits + "#" + topic) fits in maxChannelLen.
const maxTopicLen = 24

const (
	// listenTimeout bounds each attempt to connect and LISTEN.
	listenTimeout = 10 * time.Second
	// pingInterval is how long a subscription waits in silence before it
	// checks its connection; pingTimeout bounds the check.
	pingInterval = 5 * time.Second
	pingTimeout  = 5 * time.Second
	// reconnectMax caps the backoff between reconnection attempts.
	reconnectMax = 10 * time.Second
	// closeTimeout bounds the goodbye to the server when a connection is
	// closed.
	closeTimeout = 2 * time.Second
)

// sqlNotify sends notification $2 on channel $1.
const sqlNotify = `SELECT pg_notify($1, $2)`

// sqlNotifyEach sends one notification on channel $1 for each element of
// the array $2.
const sqlNotifyEach = `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`

// checkTopic returns an error unless topic is 1 to maxTopicLen bytes of
// a-z, 0-9 and _.
func checkTopic(topic string) error {
	if topic == "" || len(topic) > maxTopicLen || strings.IndexFunc(topic, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_'
	}) >= 0 {
		return fmt.Errorf("invalid topic %q: want 1 to %d bytes of a-z, 0-9 and _", topic, maxTopicLen)
	}
	return nil
}

// channel returns the channel name of topic in the Store's schema. A
// plain name always holds a dot and ends with ".<topic>" (topics hold no
// dot), and a hashed one holds no dot, so no two schemas share a channel.
func (s *Store) channel(topic string) string {
	if c := s.schema + "." + topic; len(c) <= maxChannelLen {
		return c
	}
	sum := sha256.Sum256([]byte(s.schema))
	return "kiln#" + hex.EncodeToString(sum[:16]) + "#" + topic
}

// Notify sends payload on topic with pg_notify, in a transaction of its
// own: listeners receive it once Notify returns.
func (s *Store) Notify(ctx context.Context, params *store.NotifyParams) error {
	topic, payload := params.Topic, params.Payload
	if err := checkTopic(topic); err != nil {
		return fail("notify", err)
	}
	if _, err := s.pool.Exec(ctx, sqlNotify, s.channel(topic), payload); err != nil {
		return fail("notify "+topic, err)
	}
	return nil
}

// insertedQueues returns the queues, each once, into which results
// inserted available jobs.
func insertedQueues(results []store.JobInsertResult) []string {
	var queues []string
	seen := make(map[string]bool)
	for _, r := range results {
		if (r.UniqueSkipped && !r.UniqueReplaced) || r.Job == nil || r.Job.State != kilntype.JobStateAvailable || seen[r.Job.Queue] {
			continue
		}
		seen[r.Job.Queue] = true
		queues = append(queues, r.Job.Queue)
	}
	return queues
}

// notifyInserted sends, with q (the inserting transaction), one
// store.TopicInsert notification per queue into which results inserted
// available jobs: nothing, and no round trip, when there is none. For
// JobInsertManyTx.
func (s *Store) notifyInserted(ctx context.Context, q querier, results []store.JobInsertResult) error {
	if s.pgBouncer {
		return nil
	}
	queues := insertedQueues(results)
	if len(queues) == 0 {
		return nil
	}
	if _, err := q.Exec(ctx, sqlNotifyEach, s.channel(store.TopicInsert), queues); err != nil {
		return fmt.Errorf("notify inserted jobs: %w", err)
	}
	return nil
}

// notifyCommitted is notifyInserted for jobs already committed: it
// notifies in a transaction of its own (see the top of this file), and
// ignores failures, since the jobs are stored and polling will find them.
// For JobInsertMany.
func (s *Store) notifyCommitted(ctx context.Context, results []store.JobInsertResult) {
	if s.pgBouncer {
		return
	}
	if queues := insertedQueues(results); len(queues) > 0 {
		_, _ = s.pool.Exec(ctx, sqlNotifyEach, s.channel(store.TopicInsert), queues)
	}
}

// notifyCancelRequested sends, with q (the cancelling transaction), a
// store.TopicCancel notification for job if it is running (so that the
// cancel request concerns a process); nothing otherwise.
func (s *Store) notifyCancelRequested(ctx context.Context, q querier, job *kilntype.JobRow) error {
	if s.pgBouncer || job == nil || job.State != kilntype.JobStateRunning {
		return nil
	}
	if _, err := q.Exec(ctx, sqlNotify, s.channel(store.TopicCancel), strconv.FormatInt(job.ID, 10)); err != nil {
		return fmt.Errorf("notify cancel request: %w", err)
	}
	return nil
}

// errNoNotifications is Listen's error with Options.PgBouncer.
var errNoNotifications = errors.New("notifications are unavailable behind a pooler in transaction mode (Options.PgBouncer): LISTEN needs a session of its own")

// NotificationsAvailable reports whether Listen can receive notifications:
// false with Options.PgBouncer. See [store.Notifier].
func (s *Store) NotificationsAvailable() bool { return !s.pgBouncer }

// Listen takes a connection out of the Store's pool, LISTENs on the
// channels of params.Topics in the Store's schema, and returns once they
// are listened to; a goroutine of the subscription then waits for
// notifications, restoring the connection when it fails. See
// [store.Notifier].
func (s *Store) Listen(ctx context.Context, params *store.ListenParams) (store.Subscription, error) {
	if s.pgBouncer {
		return nil, fail("listen", errNoNotifications)
	}
	if params == nil || params.Handle == nil {
		return nil, fail("listen", errors.New("no Handle"))
	}
	if len(params.Topics) == 0 {
		return nil, fail("listen", errors.New("no topics"))
	}
	sub := &subscription{s: s, params: *params, topics: make(map[string]string, len(params.Topics)), done: make(chan struct{})}
	var listen strings.Builder
	for _, t := range params.Topics {
		if err := checkTopic(t); err != nil {
			return nil, fail("listen", err)
		}
		c := s.channel(t)
		if _, ok := sub.topics[c]; ok {
			continue
		}
		sub.topics[c] = t
		fmt.Fprintf(&listen, "LISTEN %s;", pgx.Identifier{c}.Sanitize())
	}
	sub.listenSQL = listen.String()
	conn, err := sub.connect(ctx)
	if err != nil {
		return nil, fail("listen to "+strings.Join(params.Topics, ", "), err)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	sub.cancel, sub.conn = cancel, conn
	s.subs.add(sub)
	go sub.run(runCtx, conn)
	return sub, nil
}

// subscription is the store.Subscription of Listen.
type subscription struct {
	s         *Store
	params    store.ListenParams
	topics    map[string]string // channel name -> topic
	listenSQL string            // LISTEN on every channel, in one round trip
	cancel    context.CancelFunc
	done      chan struct{} // closed when run returns

	mu   sync.Mutex // guards conn, tasks and interrupt
	conn *pgx.Conn  // the connection listening now; nil while reconnecting
	// tasks are statements to run on the listening connection between two
	// waits for notifications (exec), in the order queued.
	tasks []*connTask
	// interrupt ends the wait for notifications under way, if any, so that
	// queued tasks run at once.
	interrupt context.CancelFunc
}

// connTask is a function that exec runs on a subscription's connection.
type connTask struct {
	ctx context.Context
	fn  func(ctx context.Context, conn *pgx.Conn) error
	// state is taskQueued, then taskTaken (the receive loop runs it and
	// answers on done) or taskAbandoned (its caller stopped waiting first).
	state atomic.Int32
	done  chan error // buffered: the answer never blocks the loop
}

const (
	taskQueued int32 = iota
	taskTaken
	taskAbandoned
)

// errNotListening is exec's answer when its subscription has no
// connection (it is reconnecting, or closed) or loses it before the task
// runs.
var errNotListening = errors.New("the subscription has no connection now")

// exec runs fn on the subscription's listening connection, between two
// waits for notifications, and returns its error. It interrupts the wait
// under way; notifications that arrive while fn runs are kept (by pgx, or
// by the server) and handed on after it. It returns errNotListening
// without running fn while the subscription reconnects, and ctx's error if
// ctx is done before fn starts; once fn has started, exec waits for it
// (fn runs under ctx). A function that leaves the connection closed makes
// the subscription reconnect, as a failed wait does.
func (sub *subscription) exec(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err // not queued: the loop could take and run it before this select sees ctx done
	}
	t := &connTask{ctx: ctx, fn: fn, done: make(chan error, 1)}
	sub.mu.Lock()
	if sub.conn == nil {
		sub.mu.Unlock()
		return errNotListening
	}
	sub.tasks = append(sub.tasks, t)
	if sub.interrupt != nil {
		sub.interrupt()
	}
	sub.mu.Unlock()
	var stopped error
	select {
	case err := <-t.done:
		return err
	case <-ctx.Done():
		stopped = ctx.Err()
	case <-sub.done:
		stopped = errNotListening
	}
	if t.state.CompareAndSwap(taskQueued, taskAbandoned) {
		return stopped
	}
	return <-t.done // taken: the loop answers once fn returns
}

// runTasks runs the queued tasks on conn, first queued first. A task's
// statements run under a context that is never cancelled (pgx closes a
// connection whose statement its context cuts short); when the task's
// context or ctx (the subscription's: Close) is done, a cancel request
// ends the statement under way instead (SQLSTATE 57014), and the
// connection goes on listening. It returns an error once conn is closed
// (a task's statement failed it), answering the tasks not run yet with
// errNotListening.
func (sub *subscription) runTasks(ctx context.Context, conn *pgx.Conn) error {
	sub.mu.Lock()
	tasks := sub.tasks
	sub.tasks = nil
	sub.mu.Unlock()
	held := false
	for _, t := range tasks {
		if !t.state.CompareAndSwap(taskQueued, taskTaken) {
			continue // its caller gave up
		}
		if conn.IsClosed() {
			t.done <- errNotListening
			continue
		}
		if err := t.ctx.Err(); err != nil {
			t.done <- err // its caller's context ended while it waited: fn does not run
			continue
		}
		if !held {
			// The notifications sent while a task's statement runs reach
			// this connection only after it: the receiver is told, so
			// that it does not count on them meanwhile (a process wakes
			// its own fetchers for its own inserts instead of waiting for
			// their notification).
			sub.params.Handle(store.Notification{Held: true})
			held = true
		}
		t.done <- runCancellable(t.ctx, ctx, conn, t.fn, sub.s.cancelRequestHook)
	}
	if conn.IsClosed() {
		// run reconnects and then reports Lost, which ends a Held.
		return errors.New("the listening connection closed while a statement ran on it")
	}
	if held {
		sub.params.Handle(store.Notification{Resumed: true})
	}
	return nil
}

// cancelRequestTimeout bounds a cancel request (a connection of its own
// to the server, for an instant) and the wait, after it, for the statement
// to end.
const cancelRequestTimeout = 5 * time.Second

// runCancellable runs fn on conn under a context without cancellation,
// and sends the server a cancel request for conn's statement under way
// once task or stop is done; its error then wraps task's cause (or
// context.Canceled for stop) and the statement's. If fn has not returned
// within cancelRequestTimeout of the request, it closes the connection's
// socket, which ends fn's statement with an error (and the subscription
// reconnects). It returns after the cancel request, if
// one was sent, has been delivered, so that it cannot reach a statement
// run after fn: the server ignores a cancel request that finds its
// session idle.
//
// cancelRequest, when not nil (tests), replaces the cancel request.
func runCancellable(task, stop context.Context, conn *pgx.Conn, fn func(ctx context.Context, conn *pgx.Conn) error,
	cancelRequest func(context.Context, *pgconn.PgConn) error) error {
	if cancelRequest == nil {
		cancelRequest = func(ctx context.Context, pc *pgconn.PgConn) error { return pc.CancelRequest(ctx) }
	}
	stopCtx, cancel := context.WithCancel(task)
	defer cancel()
	stopBoth := context.AfterFunc(stop, cancel)
	defer stopBoth()
	sent, finished := make(chan struct{}), make(chan struct{})
	stopCancel := context.AfterFunc(stopCtx, func() {
		defer close(sent)
		ctx, cancel := context.WithTimeout(context.Background(), cancelRequestTimeout)
		defer cancel()
		_ = cancelRequest(ctx, conn.PgConn())
		select {
		case <-finished:
		case <-ctx.Done():
			// The statement did not end (the server unreachable, or the
			// cancel request lost): give the connection up, as a
			// deadline would have, rather than wait on it for ever.
			_ = conn.PgConn().Conn().Close()
		}
	})
	err := fn(context.WithoutCancel(stopCtx), conn)
	close(finished)
	if !stopCancel() {
		<-sent
	}
	if err != nil && stopCtx.Err() != nil {
		return fmt.Errorf("%w (%w)", context.Cause(stopCtx), err)
	}
	return err
}

// Close stops the subscription and waits for its goroutine.
func (sub *subscription) Close() {
	sub.s.subs.remove(sub)
	sub.cancel()
	<-sub.done
}

// subscriptions are a Store's open subscriptions, whose connections
// JobVacuum may borrow (subscription.exec).
type subscriptions struct {
	mu  sync.Mutex
	all []*subscription
}

func (l *subscriptions) add(sub *subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all = append(l.all, sub)
}

func (l *subscriptions) remove(sub *subscription) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if i := slices.Index(l.all, sub); i >= 0 {
		l.all = slices.Delete(l.all, i, i+1)
	}
}

// exec runs fn on the connection of the first subscription that has one
// (subscription.exec), and returns errNotListening when none has.
func (l *subscriptions) exec(ctx context.Context, fn func(ctx context.Context, conn *pgx.Conn) error) error {
	l.mu.Lock()
	all := slices.Clone(l.all)
	l.mu.Unlock()
	for _, sub := range all {
		if err := sub.exec(ctx, fn); !errors.Is(err, errNotListening) {
			return err
		}
	}
	return errNotListening
}

// run receives notifications on conn until ctx is done, reconnecting when
// the connection fails.
func (sub *subscription) run(ctx context.Context, conn *pgx.Conn) {
	defer close(sub.done)
	for {
		err := sub.receive(ctx, conn)
		sub.setConn(nil)
		closeConn(conn)
		if ctx.Err() != nil {
			return
		}
		if conn = sub.reconnect(ctx, err); conn == nil {
			return
		}
		sub.setConn(conn)
		sub.params.Handle(store.Notification{Lost: true})
	}
}

// receive hands the notifications of conn to Handle until ctx is done or
// the connection fails, and returns why it stopped.
func (sub *subscription) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		if err := sub.runTasks(ctx, conn); err != nil {
			return err
		}
		every := pingInterval
		if sub.s.pingEvery > 0 {
			every = sub.s.pingEvery
		}
		waitCtx, cancel := context.WithTimeout(ctx, every)
		sub.mu.Lock()
		if len(sub.tasks) > 0 { // queued since runTasks took the others
			sub.mu.Unlock()
			cancel()
			continue
		}
		sub.interrupt = cancel
		sub.mu.Unlock()
		n, err := conn.WaitForNotification(waitCtx)
		sub.mu.Lock()
		sub.interrupt = nil
		interrupted := len(sub.tasks) > 0
		sub.mu.Unlock()
		silent := waitCtx.Err() != nil
		cancel()
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil:
			if topic, ok := sub.topics[n.Channel]; ok {
				sub.params.Handle(store.Notification{Topic: topic, Payload: n.Payload})
			}
			continue
		case !silent || conn.IsClosed():
			return fmt.Errorf("wait for notifications: %w", err)
		case interrupted:
			continue // the tasks run at the top
		}
		// The server said nothing for pingInterval: make sure the
		// connection still works (a ping fails fast on a connection
		// the server closed, and times out on one that vanished).
		pingCtx, cancel := context.WithTimeout(ctx, pingTimeout)
		err = conn.Ping(pingCtx)
		cancel()
		if sub.s.pingHook != nil {
			sub.s.pingHook(err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			return fmt.Errorf("ping listening connection: %w", err)
		}
	}
}

// reconnect connects and LISTENs again, after a backoff that grows with
// each failure, and returns the new connection, or nil once ctx is done.
// cause is why the previous connection was given up.
func (sub *subscription) reconnect(ctx context.Context, cause error) *pgx.Conn {
	for failures := 1; ; failures++ {
		wait := reconnectBackoff(failures)
		if sub.params.OnError != nil {
			sub.params.OnError(cause, failures, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		conn, err := sub.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		cause = err
	}
}

// reconnectBackoff returns the wait before reconnection attempt n (from
// 1): 100 ms doubled each time up to reconnectMax, less up to a fifth at
// random, so that processes that lost the server together do not all come
// back at the same instant.
func reconnectBackoff(n int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < n && d < reconnectMax; i++ {
		d *= 2
	}
	d = min(d, reconnectMax)
	return d - rand.N(d/5+1)
}

// connect takes a connection out of the pool and LISTENs on the channels.
func (sub *subscription) connect(ctx context.Context) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, listenTimeout)
	defer cancel()
	pc, err := sub.s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	conn := pc.Hijack()
	if _, err := conn.Exec(ctx, sub.listenSQL); err != nil {
		closeConn(conn)
		return nil, fmt.Errorf("listen: %w", err)
	}
	return conn, nil
}

func (sub *subscription) setConn(conn *pgx.Conn) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	sub.conn = conn
}

// backendPID returns the process ID of the server session that listens
// now, or 0 while the subscription reconnects. For tests.
func (sub *subscription) backendPID() uint32 {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.conn == nil {
		return 0
	}
	return sub.conn.PgConn().PID()
}

// closeConn closes conn, giving the server a moment to hear about it.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_ = conn.Close(ctx) // the connection is given up either way
}
