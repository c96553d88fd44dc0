package notifier

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kilnjobs/kiln/internal/enginetest"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeStore is a store.Notifier whose Listen fails its first fails calls,
// then hands the test the subscription's Handle.
type fakeStore struct {
	mu      sync.Mutex // guards the fields below
	fails   int
	block   bool // a Listen after the failing ones waits for its ctx and fails
	listens int
	params  *store.ListenParams
	closed  int

	subscribed chan struct{} // receives on each successful Listen
}

func newFakeStore(fails int) *fakeStore {
	return &fakeStore{fails: fails, subscribed: make(chan struct{}, 10)}
}

func (f *fakeStore) Listen(ctx context.Context, params *store.ListenParams) (store.Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listens++
	if f.listens <= f.fails {
		return nil, errors.New("no connection")
	}
	if f.block {
		f.mu.Unlock()
		<-ctx.Done()
		f.mu.Lock()
		return nil, ctx.Err()
	}
	f.params = params
	f.subscribed <- struct{}{}
	return fakeSub{f}, nil
}

func (f *fakeStore) Notify(context.Context, *store.NotifyParams) error { return nil }

func (f *fakeStore) NotificationsAvailable() bool { return true }

func (f *fakeStore) send(n store.Notification) {
	f.mu.Lock()
	p := f.params
	f.mu.Unlock()
	p.Handle(n)
}

type fakeSub struct{ f *fakeStore }

func (s fakeSub) Close() {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	s.f.closed++
}

// recorder records the calls of Config's functions.
type recorder struct {
	mu       sync.Mutex // guards the fields below
	woken    []string
	cancels  []int64
	wakeAlls int
}

func (r *recorder) config(st store.Notifier) Config {
	return Config{
		Store:  st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Wake: func(q string) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.woken = append(r.woken, q)
		},
		WakeAll: func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.wakeAlls++
		},
		Cancel: func(id int64) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.cancels = append(r.cancels, id)
		},
	}
}

func (r *recorder) wakeAllCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wakeAlls
}

// waitFor is testutil.Poll's Eventually, polling every millisecond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Poll{Interval: time.Millisecond}.Eventually(t, what, cond)
}

func TestRelaysNotifications(t *testing.T) {
	t.Parallel()
	st := newFakeStore(0)
	var r recorder
	n := New(r.config(st))
	n.Start(context.Background())
	// Start returned once subscribed.
	select {
	case <-st.subscribed:
	default:
		t.Fatal("Start returned before subscribing")
	}
	if !slices.Equal(st.params.Topics, []string{store.TopicInsert, store.TopicCancel}) {
		t.Errorf("topics %v", st.params.Topics)
	}
	waitFor(t, "the wake of every queue after subscribing", func() bool { return r.wakeAllCount() == 1 })

	st.send(store.Notification{Topic: store.TopicInsert, Payload: "emails"})
	st.send(store.Notification{Topic: store.TopicCancel, Payload: "42"})
	st.send(store.Notification{Topic: store.TopicCancel, Payload: "not a number"})
	st.send(store.Notification{Topic: "other", Payload: "x"})
	st.send(store.Notification{Lost: true})
	r.mu.Lock()
	if !slices.Equal(r.woken, []string{"emails"}) || !slices.Equal(r.cancels, []int64{42}) || r.wakeAlls != 2 {
		t.Errorf("woken %v, cancels %v, wake-alls %d; want [emails], [42], 2", r.woken, r.cancels, r.wakeAlls)
	}
	r.mu.Unlock()

	n.Stop()
	n.Stop()
	st.mu.Lock()
	if st.closed != 1 {
		t.Errorf("subscription closed %d times, want 1", st.closed)
	}
	st.mu.Unlock()
}

func TestRetriesListen(t *testing.T) {
	t.Parallel()
	st := newFakeStore(2)
	var r recorder
	n := New(r.config(st))
	n.Start(context.Background()) // returns after the first failure
	select {
	case <-st.subscribed:
		t.Fatal("subscribed at the first try")
	default:
	}
	testutil.Receive(t, st.subscribed, "the subscription", nil)
	waitFor(t, "the wake of every queue after subscribing", func() bool { return r.wakeAllCount() == 1 })
	n.Stop()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.listens != 3 || st.closed != 1 {
		t.Errorf("%d listens, %d closes; want 3, 1", st.listens, st.closed)
	}
}

func TestStopWhileRetrying(t *testing.T) {
	t.Parallel()
	st := newFakeStore(1 << 30)
	var r recorder
	n := New(r.config(st))
	n.Start(context.Background())
	n.Stop() // does not wait for the backoff
	if r.wakeAllCount() != 0 {
		t.Error("WakeAll called without a subscription")
	}
}

func TestNilAndUnstarted(t *testing.T) {
	t.Parallel()
	var nilNotifier *Notifier
	nilNotifier.Start(context.Background())
	nilNotifier.Stop()
	New(Config{}).Stop()
}

// A Listen that fails because the notifier stops ends the loop without a
// warning.
func TestStopDuringListen(t *testing.T) {
	t.Parallel()
	st := newFakeStore(1)
	st.block = true
	var r recorder
	cfg := r.config(st)
	logger, log := enginetest.NewLogger()
	cfg.Logger = logger
	n := New(cfg)
	n.Start(context.Background()) // returns after the first failure
	waitFor(t, "the second Listen", func() bool {
		st.mu.Lock()
		defer st.mu.Unlock()
		return st.listens == 2
	})
	n.Stop()
	if got := len(log.Records("")); got != 1 {
		t.Fatalf("%d records logged, want the first failure's only", got)
	}
}

// A first Listen that never answers (a store that accepts the call and
// never replies) holds Start for StartWait only: Start logs a warning and
// returns, not listening, and Stop ends the attempt.
func TestStartBoundedOnHangingListen(t *testing.T) {
	t.Parallel()
	st := newFakeStore(0)
	st.block = true
	var r recorder
	cfg := r.config(st)
	logger, log := enginetest.NewLogger()
	cfg.Logger = logger
	cfg.StartWait = 10 * time.Millisecond
	n := New(cfg)
	started := make(chan struct{})
	go func() {
		n.Start(context.Background())
		close(started)
	}()
	testutil.Receive(t, started, "Start to return with Listen hanging", nil)
	if n.Listening() {
		t.Fatal("listening after a Listen that never answered")
	}
	if w := log.Records("no answer to the subscription"); len(w) != 1 || w[0].Attrs["waited"] != 10*time.Millisecond {
		t.Fatalf("warnings %+v; want one naming the wait", w)
	}
	n.Stop() // ends the hanging Listen; goleak checks that nothing is left
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.listens != 1 {
		t.Fatalf("%d Listen calls; want the one that hung", st.listens)
	}
}

// The subscription's connection errors are logged as warnings.
func TestSubscriptionErrorsAreLogged(t *testing.T) {
	t.Parallel()
	st := newFakeStore(0)
	var r recorder
	cfg := r.config(st)
	logger, log := enginetest.NewLogger()
	cfg.Logger = logger
	n := New(cfg)
	n.Start(context.Background())
	defer n.Stop()
	st.mu.Lock()
	onError := st.params.OnError
	st.mu.Unlock()
	onError(errors.New("connection reset"), 2, time.Second)
	rec := log.Records("notifications interrupted")
	if len(rec) != 1 || rec[0].Attrs["try"] != int64(2) || rec[0].Attrs["retry_in"] != time.Second {
		t.Fatalf("logged %+v", rec)
	}
}

// Listening follows the subscription: false until Listen succeeds, while
// its connection is down (from OnError to the Lost notification of its
// restoration), while the store holds notifications back (from Held to
// Resumed) and after Stop.
func TestListening(t *testing.T) {
	t.Parallel()
	var nilNotifier *Notifier
	if nilNotifier.Listening() {
		t.Error("a nil Notifier is listening")
	}
	var r recorder
	n := New(r.config(newFakeStore(1 << 30))) // every Listen fails
	if n.Listening() {
		t.Error("listening before Start")
	}
	n.Start(context.Background()) // returns after the first failure
	if n.Listening() {
		t.Error("listening after a failed Listen")
	}
	n.Stop()

	// A Start whose first Listen succeeds returns listening.
	st := newFakeStore(0)
	n = New(r.config(st))
	n.Start(context.Background())
	if !n.Listening() {
		t.Error("not listening when Start returned after subscribing")
	}
	st.mu.Lock()
	onError := st.params.OnError
	st.mu.Unlock()
	onError(errors.New("connection reset"), 1, time.Second)
	if n.Listening() {
		t.Error("listening after the connection failed")
	}
	st.send(store.Notification{Lost: true})
	if !n.Listening() {
		t.Error("not listening after the connection was restored")
	}
	// While the store holds notifications back (a VACUUM on the
	// subscription's connection), the client must not count on them.
	alls := r.wakeAllCount()
	st.send(store.Notification{Held: true})
	if n.Listening() {
		t.Error("listening while notifications are held")
	}
	if got := r.wakeAllCount() - alls; got != 1 {
		t.Errorf("%d wakes of every queue when notifications were held, want 1 (an insert's notification held just before)", got)
	}
	st.send(store.Notification{Resumed: true})
	if !n.Listening() {
		t.Error("not listening after held notifications resumed")
	}
	n.Stop()
	if n.Listening() {
		t.Error("listening after Stop")
	}
}
