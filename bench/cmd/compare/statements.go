package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
)

// stmtStats is one statement's counters in pg_stat_statements.
type stmtStats struct {
	query                              string
	toplevel                           bool
	calls, rows                        int64
	hit, read, dirtied, written, walRe int64
	planMS, execMS                     float64
}

// phaseCounts is what --kiln-statements snapshots around a phase: the
// statements of the database (pg_stat_statements, every session of the
// database: run it on a database nothing else uses) and the acquires of
// the Kiln store's pool.
type phaseCounts struct {
	stmts                             map[string]stmtStats
	acquires, emptyAcquires, newConns int64
	acquireMS                         float64
}

// snapshotCounts reads pg_stat_statements (nil map if the extension is not
// there) and the pool's acquire counters.
func snapshotCounts(ctx context.Context, pool *pgxpool.Pool) (*phaseCounts, error) {
	s := pool.Stat()
	c := &phaseCounts{stmts: map[string]stmtStats{}, acquires: s.AcquireCount(), emptyAcquires: s.EmptyAcquireCount(),
		newConns: s.NewConnsCount(), acquireMS: float64(s.AcquireDuration().Microseconds()) / 1000}
	rows, err := pool.Query(ctx, `SELECT queryid::text || '/' || toplevel::text, query, toplevel, calls, rows,
		shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written, wal_records,
		total_plan_time, total_exec_time
	FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`)
	if err != nil {
		return nil, fmt.Errorf("read pg_stat_statements (--kiln-statements needs it in the database): %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var st stmtStats
		if err := rows.Scan(&key, &st.query, &st.toplevel, &st.calls, &st.rows, &st.hit, &st.read, &st.dirtied,
			&st.written, &st.walRe, &st.planMS, &st.execMS); err != nil {
			return nil, err
		}
		c.stmts[key] = st
	}
	return c, rows.Err()
}

// countsReport returns the lines that say what happened between before and
// after, per sample: the statements that ran (calls, rows, buffers, WAL
// records, mean times), most buffers first, and the pool's acquires.
func countsReport(phase string, samples int, before, after *phaseCounts) []string {
	n := float64(samples)
	out := []string{fmt.Sprintf("statements %s, per sample (%d samples): pool acquires %.2f, of which waited for a connection %.3f (%d in all), mean acquire %.3f ms, new connections %d",
		phase, samples, float64(after.acquires-before.acquires)/n, float64(after.emptyAcquires-before.emptyAcquires)/n,
		after.emptyAcquires-before.emptyAcquires, (after.acquireMS-before.acquireMS)/max(float64(after.acquires-before.acquires), 1),
		after.newConns-before.newConns)}
	type line struct {
		d    stmtStats
		bufs int64
	}
	var lines []line
	var total stmtStats
	for key, a := range after.stmts {
		b := before.stmts[key]
		d := stmtStats{query: a.query, toplevel: a.toplevel, calls: a.calls - b.calls, rows: a.rows - b.rows,
			hit: a.hit - b.hit, read: a.read - b.read, dirtied: a.dirtied - b.dirtied, written: a.written - b.written,
			walRe: a.walRe - b.walRe, planMS: a.planMS - b.planMS, execMS: a.execMS - b.execMS}
		if d.calls <= 0 || strings.Contains(d.query, "pg_stat_statements") {
			continue
		}
		if d.toplevel {
			total.calls += d.calls
			total.hit += d.hit
			total.read += d.read
			total.dirtied += d.dirtied
			total.walRe += d.walRe
		}
		lines = append(lines, line{d, d.hit + d.read})
	}
	slices.SortFunc(lines, func(x, y line) int { return int(y.bufs - x.bufs) })
	out = append(out, fmt.Sprintf("statements %s, per sample, top-level: %.2f statements, %.1f buffers (hit+read), %.2f dirtied, %.2f WAL records",
		phase, float64(total.calls)/n, float64(total.hit+total.read)/n, float64(total.dirtied)/n, float64(total.walRe)/n))
	for _, l := range lines {
		d := l.d
		q := strings.Join(strings.Fields(d.query), " ")
		if len(q) > 110 {
			q = q[:110] + "…"
		}
		level := "top"
		if !d.toplevel {
			level = "nested"
		}
		out = append(out, fmt.Sprintf("  %6.2f calls/sample %6.1f rows/call %8.1f bufs/call (read %d) %6.2f dirtied/call %5.1f wal/call plan %.3f exec %.3f ms/call [%s] %s",
			float64(d.calls)/n, float64(d.rows)/float64(d.calls), float64(l.bufs)/float64(d.calls), d.read,
			float64(d.dirtied)/float64(d.calls), float64(d.walRe)/float64(d.calls),
			d.planMS/float64(d.calls), d.execMS/float64(d.calls), level, q))
	}
	return out
}
