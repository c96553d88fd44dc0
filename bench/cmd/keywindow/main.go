// Command keywindow measures a prototype of per-key claims (issue 13; see
// docs/benchmarks.md, "Per-key claims on PostgreSQL: what a structure must
// cost"). It creates a schema (--schema, dropped at the end unless --keep)
// with a table shaped like kiln_job's claim path (the claim index, the
// in-flight index, an index of the available jobs with a key by queue,
// kind, key and claim order), loads --jobs jobs over --keys keys on one
// connection, then burns them down on another, keeping about --running
// jobs running (the oldest claim's jobs finish once more run): with a plain
// claim of --batch jobs (--mode plain), or (--mode window) under a limit
// of one running job per key, from a process-local window of each key's
// jobs in claim order (read --window at a time, in key order) and, under
// the kind's advisory lock, the keys that run a job read from the
// in-flight index. It prints the jobs claimed, the claims, the window
// reads and the burn-down's time. Run against a PostgreSQL under callgrind,
// the burn-down's backend is one process; a run with --jobs 0 gives its
// fixed cost.
//
// It is a measuring prototype, not Kiln's claim: one process, no rate
// limits, no jobs without a key, no scheduled jobs, and its window is never
// re-read, so a job enqueued after its key's window was read is not seen
// (see the benchmarks section for what a store would need).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// sqlPlain claims the first $1 available jobs in claim order (no key considered).
const sqlPlain = `UPDATE {s}.job SET state = 'running', attempt = attempt + 1, attempted_at = now()
WHERE id = ANY(ARRAY(SELECT id FROM {s}.job WHERE state = 'available' AND queue = 'default' AND kind = 'noop'
	ORDER BY priority, scheduled_at, id LIMIT $1 FOR UPDATE SKIP LOCKED))
RETURNING id, partition_key`

// sqlFinish completes the running jobs $1.
const sqlFinish = `UPDATE {s}.job SET state = 'completed', finalized_at = now() WHERE id = ANY($1::bigint[]) AND state = 'running'`

// sqlWindow reads the next $2 available jobs with a key in (key, claim order) after ($1 key, $3 priority, $4 at, $5 id).
const sqlWindow = `SELECT partition_key, ctid, id, priority, scheduled_at FROM {s}.job
WHERE state = 'available' AND queue = 'default' AND kind = 'noop' AND partition_key <> ''
	AND (partition_key, priority, scheduled_at, id) > ($1::text COLLATE "C", $3::integer, $4::timestamptz, $5::bigint)
ORDER BY queue, kind, partition_key, priority, scheduled_at, id LIMIT $2`

// sqlTake: under the kind's lock, the keys with a running job (from the
// inflight index), then the first $3 candidates (key $1[i], address
// $2[i], in rotation order) whose key runs nothing, locked and rechecked,
// moved to running.
const sqlTake = `WITH lock AS MATERIALIZED (SELECT pg_advisory_xact_lock(hashtextextended('kiln/keywindow/noop', 0))),
running AS MATERIALIZED (
	SELECT partition_key FROM {s}.job WHERE state = 'running' AND kind = 'noop' AND partition_key <> '' AND EXISTS (SELECT FROM lock)
),
pick AS MATERIALIZED (
	SELECT v.t FROM unnest($1::text[], $2::tid[]) AS v(k, t)
	WHERE v.k NOT IN (SELECT partition_key FROM running)
	LIMIT $3
),
locked AS MATERIALIZED (
	SELECT c.ctid FROM pick CROSS JOIN LATERAL (
		SELECT ctid FROM {s}.job WHERE ctid = pick.t AND state = 'available' AND queue = 'default' AND kind = 'noop'
		FOR UPDATE SKIP LOCKED) AS c
)
UPDATE {s}.job AS j SET state = 'running', attempt = j.attempt + 1, attempted_at = now()
WHERE j.ctid = ANY(ARRAY(SELECT ctid FROM locked))
RETURNING id, partition_key`

// entry is a cached job: its row address and ID.
type entry struct {
	ctid pgtype.TID
	id   int64
}

func main() {
	db := flag.String("database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database URL")
	schema := flag.String("schema", "kiln_keywindow", "schema to create (and drop at the end)")
	keep := flag.Bool("keep", false, "keep the schema")
	jobs := flag.Int("jobs", 20000, "jobs to load (job i gets the key i modulo --keys)")
	nkeys := flag.Int("keys", 1000, "partition keys")
	mode := flag.String("mode", "plain", "plain or window")
	batch := flag.Int("batch", 85, "jobs per claim")
	inflight := flag.Int("running", 200, "jobs kept running")
	window := flag.Int("window", 2000, "entries per window read")
	partitionIndex := flag.Bool("partition-index", false, "also create a copy of Kiln's kiln_job_partition (migration 024: available and running jobs with a key), which every claim of a keyed job then adds an entry to")
	runningIndex := flag.Bool("running-index", false, "also create an index of the running jobs with a key by kind and key (020's kiln_job_running_partition), which the window's claims then read the running keys from")
	flag.Parse()
	if *runningIndex {
		sqlSetup = slices.Insert(sqlSetup, len(sqlSetup)-2, `CREATE INDEX job_running ON {s}.job (kind, partition_key) WHERE state = 'running' AND partition_key <> ''`)
	}
	if *partitionIndex {
		sqlSetup = slices.Insert(sqlSetup, len(sqlSetup)-2, `CREATE INDEX job_partition ON {s}.job (kind, partition_key, state DESC, queue, priority, scheduled_at, id)
	WHERE state IN ('available', 'running') AND partition_key <> ''`)
	}
	if *mode != "plain" && *mode != "window" {
		fmt.Fprintln(os.Stderr, "keywindow: --mode is plain or window")
		os.Exit(2)
	}
	if err := run(*db, *schema, *keep, *jobs, *nkeys, *mode, *batch, *inflight, *window); err != nil {
		fmt.Fprintln(os.Stderr, "keywindow:", err)
		os.Exit(1)
	}
}

// sqlSetup creates the schema {s} and its table, and loads $1 jobs over $2 keys.
var sqlSetup = []string{
	`DROP SCHEMA IF EXISTS {s} CASCADE`,
	`CREATE SCHEMA {s}`,
	`CREATE TABLE {s}.job (
	id bigint PRIMARY KEY, kind text NOT NULL, queue text NOT NULL, partition_key text COLLATE "C" NOT NULL,
	state text NOT NULL, priority int NOT NULL, scheduled_at timestamptz NOT NULL, attempt int NOT NULL DEFAULT 0,
	attempted_at timestamptz, finalized_at timestamptz, args jsonb NOT NULL DEFAULT '{}', pad text)`,
	`CREATE INDEX job_claim ON {s}.job (queue, kind, priority, scheduled_at, id) WHERE state = 'available'`,
	`CREATE INDEX job_inflight ON {s}.job (state, id) WHERE state IN ('running', 'scheduled', 'retryable', 'pending')`,
	`CREATE INDEX job_avail_key ON {s}.job (queue, kind, partition_key, priority, scheduled_at, id)
	WHERE state = 'available' AND partition_key <> ''`,
	`INSERT INTO {s}.job (id, kind, queue, partition_key, state, priority, scheduled_at, pad)
	SELECT i, 'noop', 'default', 'k' || (i % $2::integer), 'available', 1,
		'2026-12-06 00:00'::timestamptz + (i / 85) * interval '1 ms', repeat('x', 60)
	FROM generate_series(1, $1::integer) AS i`,
	`VACUUM ANALYZE {s}.job`,
}

func run(db, schema string, keep bool, jobs, nkeys int, mode string, batch, inflight, window int) (err error) {
	ctx := context.Background()
	q := pgx.Identifier{schema}.Sanitize()
	sql := func(s string) string { return strings.ReplaceAll(s, "{s}", q) }
	setup, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	for _, s := range sqlSetup {
		var args []any
		if strings.Contains(s, "$1") {
			args = []any{jobs, nkeys}
		}
		if _, err := setup.Exec(ctx, sql(s), args...); err != nil {
			setup.Close(ctx)
			return fmt.Errorf("setup: %w", err)
		}
	}
	if !keep {
		defer func() {
			_, derr := setup.Exec(ctx, sql(`DROP SCHEMA {s} CASCADE`))
			err = errors.Join(err, derr, setup.Close(ctx))
		}()
	} else {
		defer setup.Close(ctx)
	}
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, st := range []string{"SET plan_cache_mode = force_generic_plan", "SET enable_sort = off", "SET jit = off", "SET enable_seqscan = off"} {
		if _, err := conn.Exec(ctx, st); err != nil {
			return err
		}
	}
	b := burn{ctx: ctx, conn: conn, sql: sql, inflight: inflight}
	start := time.Now()
	if mode == "plain" {
		err = b.plain(batch)
	} else {
		err = b.window(batch, window)
	}
	if err != nil {
		return err
	}
	if err := b.finish(true); err != nil {
		return err
	}
	elapsed := time.Since(start)
	fmt.Printf("mode %s: claimed %d in %d claims, %d window reads of %d rows, %.3f s (%.0f jobs/s)\n",
		mode, b.claimed, b.claims, b.reads, b.readRows, elapsed.Seconds(), float64(b.claimed)/elapsed.Seconds())
	return nil
}

// burn is one burn-down on conn.
type burn struct {
	ctx      context.Context
	conn     *pgx.Conn
	sql      func(string) string
	inflight int

	fifo                             [][]int64 // the running jobs, by claim
	running                          int
	claimed, claims, reads, readRows int
}

// finish completes the oldest claims' jobs while more than inflight run
// (all, if force).
func (b *burn) finish(force bool) error {
	for len(b.fifo) > 0 && (force || b.running > b.inflight) {
		ids := b.fifo[0]
		b.fifo = b.fifo[1:]
		b.running -= len(ids)
		if _, err := b.conn.Exec(b.ctx, b.sql(sqlFinish), ids); err != nil {
			return err
		}
	}
	return nil
}

// take runs a claim statement and records the jobs it returns (id, key).
func (b *burn) take(sql string, args ...any) (ids []int64, keys []string, err error) {
	rows, err := b.conn.Query(b.ctx, b.sql(sql), args...)
	if err != nil {
		return nil, nil, err
	}
	var (
		id int64
		k  string
	)
	if _, err := pgx.ForEachRow(rows, []any{&id, &k}, func() error {
		ids, keys = append(ids, id), append(keys, k)
		return nil
	}); err != nil {
		return nil, nil, err
	}
	b.claims++
	b.claimed += len(ids)
	if len(ids) > 0 {
		b.fifo = append(b.fifo, ids)
		b.running += len(ids)
	}
	return ids, keys, b.finish(false)
}

func (b *burn) plain(batch int) error {
	for {
		ids, _, err := b.take(sqlPlain, batch)
		if err != nil || len(ids) == 0 {
			return err
		}
	}
}

func (b *burn) window(batch, window int) error {
	cache := map[string][]entry{} // per key, its cached jobs in claim order
	var keys []string             // the cached keys, in byte order
	cursor := ""                  // the last key the rotation took a job of
	// The next read starts after (rk, rp, ra, ri) in (key, claim order).
	rk, rp, ra, ri := "", int32(math.MinInt32), pgtype.Timestamptz{InfinityModifier: pgtype.NegativeInfinity, Valid: true}, int64(0)
	ended := false // the reads reached the last key
	read := func() error {
		rows, err := b.conn.Query(b.ctx, b.sql(sqlWindow), rk, window, rp, ra, ri)
		if err != nil {
			return err
		}
		var (
			k  string
			e  entry
			p  int32
			at pgtype.Timestamptz
			n  int
		)
		if _, err := pgx.ForEachRow(rows, []any{&k, &e.ctid, &e.id, &p, &at}, func() error {
			if _, ok := cache[k]; !ok {
				keys = append(keys, k)
			}
			cache[k] = append(cache[k], e)
			rk, rp, ra, ri = k, p, at, e.id
			n++
			return nil
		}); err != nil {
			return err
		}
		b.reads++
		b.readRows += n
		ended = n < window
		sort.Strings(keys)
		return nil
	}
	var (
		ck []string     // candidate keys, in rotation order
		ct []pgtype.TID // and the addresses of their first jobs
	)
	// collect lists the first cached job of each key after the cursor, in
	// rotation order (wrapping around once the reads reached the last key),
	// up to twice the batch.
	collect := func() {
		ck, ct = ck[:0], ct[:0]
		i := sort.SearchStrings(keys, cursor)
		if i < len(keys) && keys[i] == cursor {
			i++
		}
		for n := 0; n < len(keys) && len(ck) < 2*batch; n++ {
			if i+n >= len(keys) && !ended {
				break // read further before wrapping around
			}
			k := keys[(i+n)%len(keys)]
			if q := cache[k]; len(q) > 0 {
				ck, ct = append(ck, k), append(ct, q[0].ctid)
			}
		}
	}
	for {
		collect()
		for len(ck) < 2*batch && !ended {
			if err := read(); err != nil {
				return err
			}
			collect()
		}
		if len(ck) == 0 {
			return nil
		}
		ids, tk, err := b.take(sqlTake, ck, ct, batch)
		if err != nil {
			return err
		}
		taken := make(map[string]bool, len(tk))
		for i, k := range tk {
			if q := cache[k]; len(q) > 0 && q[0].id == ids[i] {
				cache[k] = q[1:]
			}
			taken[k] = true
		}
		// The rotation moves past the last key it took a job of (keys at
		// their limit before it are passed over).
		for _, k := range ck {
			if taken[k] {
				cursor = k
			}
		}
		if len(ids) == 0 {
			if b.running == 0 {
				return nil // nothing runs, nothing was taken: the cache is stale
			}
			if err := b.finish(true); err != nil {
				return err
			}
		}
	}
}
