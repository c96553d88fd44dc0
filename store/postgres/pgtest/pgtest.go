// Package pgtest gives tests a PostgreSQL database to work in: the URL from
// $KILN_TEST_POSTGRES_URL, and schemas of their own that are dropped when
// the test ends. Without the variable a test is skipped, with a message
// saying how to run it, or fails in CI (CI=true), where PostgreSQL tests
// must run.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// EnvURL names the environment variable that gives the test database.
const EnvURL = "KILN_TEST_POSTGRES_URL"

// URL returns the URL of the database the tests may create schemas in, or
// skips the test (fails it in CI) when there is none.
func URL(t testing.TB) string {
	t.Helper()
	url := os.Getenv(EnvURL)
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(EnvURL + " must be set in CI")
		}
		t.Skip(EnvURL + " is not set, so this PostgreSQL test does not run. To run it, point it at a " +
			"database the tests may create schemas in, e.g. " + EnvURL +
			"=postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
	}
	return url
}

// Schema returns a schema name that no other test uses (it does not create
// the schema), and drops that schema, with all it holds, when t ends.
// Cleanups run last first, so stores opened on it afterwards are closed by
// then.
func Schema(t testing.TB) string {
	t.Helper()
	URL(t)
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	schema := "kiln_test_" + hex.EncodeToString(b)
	t.Cleanup(func() {
		// t.Context is done by the time cleanups run. A connection of its
		// own, closed here, leaves no goroutine behind for leak checks.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, os.Getenv(EnvURL))
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return schema
}

// Admin returns a small pool on the test database for work outside the
// test's stores (terminating sessions, say), closed when t ends.
func Admin(t testing.TB) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(URL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
