package kilntest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// NewStore returns a new, migrated SQLite store in a file of tb's
// temporary directory, closed when the test ends (and the file removed
// with the directory). It fails the test if the store cannot be opened.
func NewStore(tb testing.TB) *sqlite.Store {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "kiln.db"), &sqlite.Options{Migrate: true})
	if err != nil {
		tb.Fatalf("kilntest: open a SQLite store: %v", err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// NewClient returns a client made from a copy of cfg (nil: an empty
// Config) for a test, not started: a nil Store is replaced by NewStore(tb);
// a nil Logger by one that discards; a zero FetchPollInterval,
// CancelPollInterval or ScheduleInterval by 10 ms, so that a client the
// test starts runs jobs promptly. If the test starts the client, it must
// stop it. NewClient fails the test if cfg is invalid.
func NewClient(tb testing.TB, cfg *kiln.Config) *kiln.Client {
	tb.Helper()
	var c kiln.Config
	if cfg != nil {
		c = *cfg
	}
	if c.Store == nil {
		c.Store = NewStore(tb)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []*time.Duration{&c.FetchPollInterval, &c.CancelPollInterval, &c.ScheduleInterval} {
		if *d == 0 {
			*d = 10 * time.Millisecond
		}
	}
	client, err := kiln.NewClient(&c)
	if err != nil {
		tb.Fatalf("kilntest: new client: %v", err)
	}
	return client
}
