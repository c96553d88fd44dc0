package kiln_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"net/url"
	"os"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

// Enqueue a job in the same PostgreSQL transaction as the row it is about:
// the welcome email exists only if the user does. (It runs against
// $KILN_TEST_POSTGRES_URL, and is skipped without it.)
func ExampleEnqueueTx() {
	ctx := context.Background()
	url, cleanup := examplePostgres() // postgres://... of a database with a users table
	defer cleanup()
	st, err := postgres.Open(ctx, url, &postgres.Options{Migrate: true})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	client, err := kiln.NewClient(&kiln.Config{Store: st}) // an enqueue-only client
	if err != nil {
		log.Fatal(err)
	}
	pool, err := pgxpool.New(ctx, url) // the application's own pool
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()

	// signUp inserts the user and enqueues its welcome email in one
	// transaction, committed only if commit is set.
	signUp := func(email string, commit bool) int64 {
		tx, err := pool.Begin(ctx) // a pgx.Tx
		if err != nil {
			log.Fatal(err)
		}
		defer tx.Rollback(ctx) // a no-op after Commit
		if _, err := tx.Exec(ctx, `INSERT INTO users (email) VALUES ($1)`, email); err != nil {
			log.Fatal(err)
		}
		res, err := kiln.EnqueueTx(ctx, client, tx, WelcomeArgs{Email: email}, nil)
		if err != nil {
			log.Fatal(err)
		}
		if commit {
			if err := tx.Commit(ctx); err != nil { // the user and the job, or neither
				log.Fatal(err)
			}
		}
		return res.Job.ID
	}

	committed := signUp("ada@example.com", true)
	job, err := client.JobGet(ctx, committed)
	fmt.Println("committed:", job.Kind, job.State, err)
	rolledBack := signUp("bob@example.com", false)
	_, err = client.JobGet(ctx, rolledBack)
	fmt.Println("rolled back: job found:", !errors.Is(err, kiln.ErrNotFound))
	// Output:
	// committed: welcome_email available <nil>
	// rolled back: job found: false
}

// examplePostgres creates a database of its own on the server of
// $KILN_TEST_POSTGRES_URL, with a users table, and returns its URL and a
// function that drops it. TestMain skips ExampleEnqueueTx when the variable
// is not set.
func examplePostgres() (string, func()) {
	ctx := context.Background()
	base := os.Getenv(pgtest.EnvURL)
	admin, err := pgx.Connect(ctx, base)
	if err != nil {
		log.Fatal(err)
	}
	defer admin.Close(ctx)
	b := make([]byte, 8)
	rand.Read(b)
	name := "kiln_example_" + hex.EncodeToString(b)
	// template0 accepts no connections, so no other session can make the
	// copy fail.
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+name+` TEMPLATE template0`); err != nil {
		log.Fatal(err)
	}
	u, err := url.Parse(base)
	if err != nil {
		log.Fatal(err)
	}
	u.Path = "/" + name
	db, err := pgx.Connect(ctx, u.String())
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, `CREATE TABLE users (email text PRIMARY KEY)`); err != nil {
		log.Fatal(err)
	}
	return u.String(), func() {
		admin, err := pgx.Connect(ctx, base)
		if err != nil {
			log.Fatal(err)
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `DROP DATABASE `+name+` WITH (FORCE)`); err != nil {
			log.Fatal(err)
		}
	}
}
