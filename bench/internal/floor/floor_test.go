package floor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// newTable returns a floor table in a fresh schema of the database at
// KILN_TEST_POSTGRES_URL, dropped at the end of the test; it skips the
// test without it.
func newTable(t *testing.T) (*Table, *pgxpool.Pool) {
	t.Helper()
	url := os.Getenv("KILN_TEST_POSTGRES_URL")
	if url == "" {
		t.Skip("KILN_TEST_POSTGRES_URL is not set")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := pgx.Identifier{"floor_test_" + hex.EncodeToString(b)}.Sanitize()
	if _, err := pool.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := pool.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
		pool.Close()
	})
	table, err := Create(ctx, pool, schema[1:len(schema)-1])
	if err != nil {
		t.Fatal(err)
	}
	return table, pool
}

func TestRunnerCompletesEveryJobOnce(t *testing.T) {
	table, pool := newTable(t)
	ctx := context.Background()
	const jobs = 2500
	for done := 0; done < jobs; done += 1000 {
		if err := table.InsertN(ctx, done, min(1000, jobs-done)); err != nil {
			t.Fatal(err)
		}
	}
	var completed atomic.Int64
	r, err := table.Start(ctx, Config{Workers: 20, ClaimMax: 7, OnCompleted: func(n int) { completed.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for completed.Load() < jobs {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d jobs completed within a minute", completed.Load(), jobs)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond) // polling with a deadline
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := completed.Load(); got != jobs {
		t.Errorf("completed %d, want %d", got, jobs)
	}
	var n, attempts int
	if err := pool.QueryRow(ctx, `SELECT count(*), coalesce(sum(attempt), 0) FROM `+table.quoted+`.floor_job WHERE state = 'completed'`).Scan(&n, &attempts); err != nil {
		t.Fatal(err)
	}
	if n != jobs || attempts != jobs {
		t.Errorf("%d jobs completed with %d attempts in the table, want %d and %d", n, attempts, jobs, jobs)
	}
	left, err := table.CountLeft(ctx)
	if err != nil || left != 0 {
		t.Errorf("CountLeft = %d, %v; want 0", left, err)
	}
}

func TestWakeClaimsWithoutWaitingForThePoll(t *testing.T) {
	table, _ := newTable(t)
	ctx := context.Background()
	var completed atomic.Int64
	r, err := table.Start(ctx, Config{Workers: 2, PollInterval: time.Hour, OnCompleted: func(n int) { completed.Add(int64(n)) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if err := table.InsertN(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	r.Wake()
	deadline := time.Now().Add(30 * time.Second)
	for completed.Load() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the job did not complete within 30 s of Wake (the poll is an hour)")
		}
		time.Sleep(5 * time.Millisecond) // polling with a deadline
	}
}
