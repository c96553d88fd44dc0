package store

import (
	"context"
	"time"
)

// Topics that Kiln's engine listens to. A store whose NotificationsAvailable
// reports true sends them itself, from the transaction that makes them true, so that
// writes made by any process (a client, the CLI, an HTTP API) reach the
// processes that run jobs.
const (
	// TopicInsert is sent when jobs become available in a queue; the
	// payload is the queue's name. JobInsertMany sends one per queue that
	// got available jobs, per call.
	TopicInsert = "insert"
	// TopicCancel is sent when a cancel is requested for a running job;
	// the payload is the job's ID in decimal. JobCancel sends it.
	TopicCancel = "cancel"
)

// Notifier is the part of a Store that carries notifications between the
// processes sharing the store, so that they act on a change at once rather
// than at their next poll. A store may carry none (NotificationsAvailable
// reports false): the client then relies on polling alone, as it polls in
// any case.
//
// Delivery is best-effort: a notification may be lost (while a listener
// reconnects, say) or, rarely, arrive twice, and notifications sent in one
// transaction may be merged. Receivers must treat a notification as a hint
// to look at the store, never as the change itself, and must keep polling
// to find what lost notifications would have told them.
//
// Notifications never cross stores that do not share data: a store keeps
// its notifications within its own database and schema (or file).
type Notifier interface {
	// NotificationsAvailable reports whether the store carries
	// notifications. It is false for a store that has none (SQLite, whose
	// processes share no server to carry them) or is configured to carry
	// none (the PostgreSQL store behind a pooler in transaction mode,
	// whose sessions cannot LISTEN). Listen then fails, and so does
	// Notify on a store that has none.
	NotificationsAvailable() bool
	// Listen starts receiving the notifications of params.Topics and
	// returns once they are being received: every notification sent after
	// Listen returns reaches params.Handle, unless the subscription loses
	// its connection, which it restores by itself (see ListenParams). It
	// returns an error, and starts nothing, when the params are invalid or
	// the first connection fails. The caller must Close the Subscription,
	// before closing the store.
	Listen(ctx context.Context, params *ListenParams) (Subscription, error)
	// Notify sends params.Payload to the listeners of params.Topic, in
	// every process that shares the store (this one included). It is sent
	// when Notify returns.
	Notify(ctx context.Context, params *NotifyParams) error
}

// ListenParams says what a subscription listens to and where its
// notifications go.
type ListenParams struct {
	// Topics are the topics to receive, at least one: each 1 to 24 bytes
	// of a-z, 0-9 and _.
	Topics []string
	// Handle receives each notification, on the subscription's goroutine,
	// one call at a time, and must return quickly: no notification is read
	// while it runs. It is called with Notification.Lost set when
	// notifications may have been missed, and with Held and then Resumed
	// around a time when they arrive late. Required.
	Handle func(Notification)
	// OnError (optional) is told when the subscription's connection fails
	// or cannot be restored: with the error, how many attempts in a row
	// failed, and the wait before the next. It is called on the
	// subscription's goroutine.
	OnError func(err error, failures int, wait time.Duration)
}

// Notification is a notification received by a Subscription.
type Notification struct {
	Topic   string
	Payload string
	// Lost, with Topic and Payload empty, says that notifications may have
	// been missed since the previous call of Handle: the subscription has
	// just restored its connection after losing it. The receiver should
	// then look at the store as if any notification could have come.
	Lost bool
	// Held, with Topic and Payload empty, says that notifications reach
	// Handle late from now on: the subscription's connection runs a
	// statement of the store's own (PostgreSQL: JobVacuum's VACUUM, which
	// takes seconds on a table of 100,000 jobs and minutes on one of
	// millions), and the notifications sent meanwhile are handed on after
	// it. A Notification with Resumed follows once the statement is done
	// (or one with Lost, if the connection was lost meanwhile). The
	// receiver should not count on notifications in between: a process
	// wakes its own fetchers for the jobs it inserts itself, and its
	// polling finds the others'.
	Held bool
	// Resumed, with Topic and Payload empty, ends a Held: notifications
	// arrive at once again, those sent while they were held first.
	Resumed bool
}

// Subscription is a running Listen. It is safe for concurrent use.
type Subscription interface {
	// Close stops the subscription and returns once its goroutine has
	// exited and its connection is closed: Handle is not called after.
	// Closing twice is harmless. Handle must not call Close.
	Close()
}

// NotifyParams is one notification to send.
type NotifyParams struct {
	// Topic follows the rules of ListenParams.Topics.
	Topic string
	// Payload is at most 7999 bytes.
	Payload string
}
