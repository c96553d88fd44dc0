package postgres

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestPartitionRoundOneAsKeyed checks that sqlPartitionRoundOne, the
// round under a per-key limit of 1, claims what sqlPartitionRoundKeyed
// claims with $6 = 1 from the same jobs, with the same walk outcome (last
// key, keys visited, whether they ran out), over keys whose first job runs,
// is available and due, is not due while a later one of a lower priority
// is, has no due job, is held by another transaction, or is of another
// queue or kind; from several cursors, with needs and scan bounds that end
// the walk early or let it run out, and in a paused queue.
func TestPartitionRoundOneAsKeyed(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := NewForTest(t)
	now := time.Now().Truncate(time.Microsecond)
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	leaseEnd := now.Add(time.Minute)
	insert := func(key, queue, kind, state string, priority int, at time.Time) int64 {
		t.Helper()
		var id int64
		if err := s.pool.QueryRow(ctx, s.expand(`INSERT INTO {s}.kiln_job (kind, queue, args, state, priority, attempt,
	max_attempts, created_at, scheduled_at, partition_key) VALUES ($1, $2, '{}', $3, $4, 0, 25, $5, $5, $6) RETURNING id`),
			kind, queue, state, priority, at, key).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	for i := range 3 {
		insert("a", "q", "k", "available", 1, past) // due
		insert("b", "q", "k", "running", 1, past)   // at its limit
		insert("b", "q", "k", "available", 1, past)
		insert("c", "q", "k", "available", 1, future) // first not due, a later one is
		insert("c", "q", "k", "available", 2+i, past)
		insert("d", "q", "k", "available", 1, future) // none due
		insert("e", "other", "k", "available", 1, past)
		insert("f", "q", "other", "available", 1, past)
		insert("g", "q", "k", "available", 1, past)
		insert(fmt.Sprintf("h%d", i), "q", "k", "available", 1, past)
		insert("", "q", "k", "available", 1, past) // no key: not for these rounds
	}
	held := insert("g", "q", "k", "available", 0, past) // g's first, locked below
	lock, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(ctx) }()
	if _, err := lock.Exec(ctx, s.expand(`SELECT FROM {s}.kiln_job WHERE id = $1 FOR UPDATE`), held); err != nil {
		t.Fatal(err)
	}

	type outcome struct {
		ids     []int64
		rows    []string // each claimed row's columns, in ID order
		last    string
		visited int
		ended   bool
	}
	round := func(sql string, args []any, pause bool) outcome {
		t.Helper()
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }() // each round sees the same jobs
		if _, err := tx.Exec(ctx, sqlRoundSettings, []string{"k"}, "kiln/"+s.schema); err != nil {
			t.Fatal(err)
		}
		if pause {
			if _, err := tx.Exec(ctx, s.expand(`INSERT INTO {s}.kiln_queue (name, paused, updated_at) VALUES ('q', true, now())
	ON CONFLICT (name) DO UPDATE SET paused = true`)); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := tx.Query(ctx, s.sql(sql), args...)
		if err != nil {
			t.Fatal(err)
		}
		var o outcome
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			if vals[0] != nil {
				o.ids = append(o.ids, vals[0].(int64))
				o.rows = append(o.rows, fmt.Sprint(vals[:jobColumnCount]))
			}
			o.last, o.visited, o.ended = vals[jobColumnCount].(string), int(vals[jobColumnCount+1].(int32)), vals[jobColumnCount+2].(bool)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(o.ids)
		slices.Sort(o.rows) // each starts with its ID
		return o
	}
	cases := 0
	for _, after := range []string{"", "a", "b", "c", "d", "g", "h1", "h2"} {
		for _, need := range []int{1, 2, 3, 100} {
			for _, scan := range []int{1, 2, 1000} {
				for _, pause := range []bool{false, true} {
					// Both with the same lease end, so that the rows they
					// return can be compared column by column.
					got := round(sqlPartitionRoundOne, []any{"q", "k", after, need, scan, now, "p", leaseEnd, time.Minute}, pause)
					for _, share := range []int{1, 2, 5} { // Round sends sqlPartitionRoundOne for any share
						want := round(sqlPartitionRoundKeyed, []any{"q", "k", after, need, share, 1, scan, now, "p", leaseEnd, time.Minute}, pause)
						if fmt.Sprint(got) != fmt.Sprint(want) {
							t.Errorf("after %q, need %d, scan %d, paused %v: claimed and walked %v; sqlPartitionRoundKeyed with share %d %v",
								after, need, scan, pause, got, share, want)
						}
					}
					if len(got.ids) > 0 {
						cases++
					}
				}
			}
		}
	}
	if cases == 0 {
		t.Fatal("no round claimed a job")
	}
}
