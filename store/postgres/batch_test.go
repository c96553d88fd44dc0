package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TestBatchQuery checks batchQuery on a pool of one connection: a setting
// that before makes for its transaction holds for the query and ends with
// the batch; after runs once the rows are read, and its done is called;
// a failing statement's error carries its label and stops the batch, so
// that the statements after it, and their done, do not run.
func TestBatchQuery(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	cfg, err := pgxpool.ParseConfig(URLForTest(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	set := batchStatement{sql: `SELECT set_config('work_mem', '1234kB', true)`, label: "set"}
	var got []string
	read := func(rows pgx.Rows) error {
		var v string
		err := rows.Scan(&v)
		got = append(got, v)
		return err
	}
	ran := 0
	after := batchStatement{sql: `SELECT current_setting('work_mem')`, done: func() { ran++ }}
	if err := batchQuery(ctx, pool, []batchStatement{set}, `SELECT current_setting('work_mem') FROM generate_series(1, 2)`,
		nil, read, after, after); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "1234kB,1234kB" || ran != 2 {
		t.Fatalf("rows %q, after ran %d times; want 1234kB twice and 2", got, ran)
	}
	var outside string
	if err := pool.QueryRow(ctx, `SELECT current_setting('work_mem')`).Scan(&outside); err != nil {
		t.Fatal(err)
	}
	if outside == "1234kB" {
		t.Fatal("the batch's setting outlived its transaction")
	}

	got, ran = nil, 0
	bad := batchStatement{sql: `SELECT 1/0`, label: "divide"}
	err = batchQuery(ctx, pool, []batchStatement{bad}, `SELECT 'x'`, nil, read, after)
	var pgErr *pgconn.PgError
	if err == nil || !strings.HasPrefix(err.Error(), "divide: ") || !errors.As(err, &pgErr) || pgErr.Code != "22012" {
		t.Fatalf("err %v; want divide: division by zero (22012)", err)
	}
	if len(got) != 0 || ran != 0 {
		t.Fatalf("after a failed setting: rows %q, after ran %d times; want none", got, ran)
	}
	err = batchQuery(ctx, pool, nil, `SELECT (1/0)::text`, nil, read, after)
	if !errors.As(err, &pgErr) || pgErr.Code != "22012" || ran != 0 {
		t.Fatalf("err %v, after ran %d times; want division by zero and 0", err, ran)
	}
	stop := errors.New("stop")
	err = batchQuery(ctx, pool, nil, `SELECT 'x'`, nil, func(pgx.Rows) error { return stop }, after)
	if !errors.Is(err, stop) || ran != 0 {
		t.Fatalf("err %v, after ran %d times; want each's error and 0", err, ran)
	}
}
