package sqlite

import (
	"context"
	"errors"

	"github.com/kilnjobs/kiln/store"
)

// errNoNotifications is the error of Listen and Notify.
var errNoNotifications = errors.New("sqlite: the store carries no notifications (NotificationsAvailable is false); poll instead")

// NotificationsAvailable reports false: processes sharing a SQLite file
// have no server to carry notifications between them, so the client relies
// on polling alone. See [store.Notifier].
func (s *Store) NotificationsAvailable() bool { return false }

// Listen fails: the Store carries no notifications.
func (s *Store) Listen(context.Context, *store.ListenParams) (store.Subscription, error) {
	return nil, errNoNotifications
}

// Notify fails: the Store carries no notifications.
func (s *Store) Notify(context.Context, *store.NotifyParams) error {
	return errNoNotifications
}
