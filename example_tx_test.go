package kiln_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store/postgres"
)

// Enqueue a job in the same PostgreSQL transaction as the row it is about:
// the welcome email exists only if the user does. (Not run: it needs a
// PostgreSQL server.)
func ExampleEnqueueTx() {
	ctx := context.Background()
	url := "postgres://postgres@127.0.0.1:5432/app"
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
	tx, err := pool.Begin(ctx) // a pgx.Tx
	if err != nil {
		log.Fatal(err)
	}
	defer tx.Rollback(ctx) // a no-op after Commit
	if _, err := tx.Exec(ctx, `INSERT INTO users (email) VALUES ($1)`, "ada@example.com"); err != nil {
		log.Fatal(err)
	}
	if _, err := kiln.EnqueueTx(ctx, client, tx, WelcomeArgs{Email: "ada@example.com"}, nil); err != nil {
		log.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil { // the user and the job, or neither
		log.Fatal(err)
	}
}
