package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// This file holds the helpers that the tests of this package and of
// package postgres_test share.

// EnvTestURL names the environment variable that gives the test database.
const EnvTestURL = "KILN_TEST_POSTGRES_URL"

// URLForTest returns the URL of the database the tests may create schemas
// in. Without one, the test is skipped, or fails in CI (CI=true), where the
// PostgreSQL tests must run.
func URLForTest(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvTestURL)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvTestURL + " must be set in CI")
		}
		t.Skip(EnvTestURL + " is not set, so the PostgreSQL store is not tested. To test it, point it at a " +
			"database the tests may create schemas in, e.g. " + EnvTestURL +
			"=postgres://postgres@127.0.0.1:5432/test?sslmode=disable go test ./store/postgres")
	}
	return url
}

// adminPool is a small pool, shared by the tests, that drops their schemas.
var adminPool = sync.OnceValues(func() (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(os.Getenv(EnvTestURL))
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 2
	return pgxpool.NewWithConfig(context.Background(), cfg)
})

// SchemaForTest returns a schema name that no other test uses (it does not
// create the schema), and drops that schema, with all it holds, when t
// ends. Cleanups run last first, so Stores opened on it afterwards are
// closed by then.
func SchemaForTest(t testing.TB) string {
	t.Helper()
	URLForTest(t)
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "kiln_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		pool, err := adminPool()
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		// t.Context is done by the time cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// OpenForTest opens a Store on the test database with opts and closes it
// when t ends.
func OpenForTest(t testing.TB, opts *Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), URLForTest(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// NewForTest returns a migrated Store in a schema of its own.
func NewForTest(t testing.TB) *Store {
	t.Helper()
	return OpenForTest(t, &Options{Schema: SchemaForTest(t), MaxConns: 4, Migrate: true})
}
