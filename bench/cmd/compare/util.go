package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// comma formats n with thousands separators.
func comma(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// fmtDuration formats d with three significant digits.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// perSecond returns n per d.
func perSecond(n int, d time.Duration) float64 {
	if d <= 0 {
		return math.Inf(1)
	}
	return float64(n) / d.Seconds()
}

// redact returns the URL without its password.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil {
		return u.Redacted()
	}
	return s
}

// freshSchema returns a new schema name with prefix.
func freshSchema(prefix string) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return prefix + hex.EncodeToString(b)
}

// newPool opens a pgx pool on the database with maxConns connections at
// most (0: pgxpool's default).
func newPool(ctx context.Context, database string, maxConns int) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(database)
	if err != nil {
		return nil, err
	}
	if maxConns > 0 {
		cfg.MaxConns = int32(maxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

// createSchema creates schema, which must not exist, and returns a function
// that drops it.
func createSchema(ctx context.Context, database, schema string) (drop func(), err error) {
	conn, err := pgx.Connect(ctx, database)
	if err != nil {
		return nil, err
	}
	defer conn.Close(ctx)
	quoted := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+quoted); err != nil {
		return nil, fmt.Errorf("create schema %s: %w", schema, err)
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, database)
		if err == nil {
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP SCHEMA "+quoted+" CASCADE")
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "compare: drop schema %s: %v\n", schema, err)
		}
	}, nil
}

// appName is the application_name of the benchmark's PostgreSQL
// connections, by which cpuMeter finds their backends.
const appName = "kiln-compare"

// withAppName returns the database URL with application_name=appName.
func withAppName(database string) (string, error) {
	u, err := url.Parse(database)
	if err != nil {
		return "", fmt.Errorf("--database: %w", err)
	}
	q := u.Query()
	q.Set("application_name", appName)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// pgBackends returns a function that lists the PIDs of the server
// processes of the connections named appName.
func pgBackends(ctx context.Context, pool *pgxpool.Pool) func() []int {
	return func() []int {
		rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, appName)
		if err != nil {
			return nil
		}
		pids, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
		out := make([]int, len(pids))
		for i, p := range pids {
			out[i] = int(p)
		}
		return out
	}
}

// processes returns a function that lists the PIDs of the processes whose
// command name is name.
func processes(name string) func() []int {
	return func() []int {
		stats, _ := filepath.Glob("/proc/[0-9]*/stat")
		var out []int
		for _, p := range stats {
			if comm, _, ok := procStat(p); ok && comm == name {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
				out = append(out, pid)
			}
		}
		return out
	}
}

// cpuMeter measures the CPU time of this process and of the server
// processes that servers lists (a process that exits during the measure
// is missed).
type cpuMeter struct {
	servers func() []int
	self    float64
	other   map[int]float64
}

func startCPU(servers func() []int) *cpuMeter {
	m := &cpuMeter{servers: servers, self: selfCPU(), other: map[int]float64{}}
	for _, pid := range servers() {
		_, m.other[pid], _ = procStat(fmt.Sprintf("/proc/%d/stat", pid))
	}
	return m
}

// stop returns the CPU seconds of this process and of the servers since
// startCPU.
func (m *cpuMeter) stop() (self, servers float64) {
	self = selfCPU() - m.self
	for _, pid := range m.servers() {
		_, cpu, _ := procStat(fmt.Sprintf("/proc/%d/stat", pid))
		servers += cpu - m.other[pid]
	}
	return self, servers
}

func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on Linux
// for every architecture Go supports.
const clockTicks = 100

// procStat reads the command name and the CPU seconds (user + system) of
// a process from its /proc/PID/stat file.
func procStat(path string) (comm string, cpu float64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", 0, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return "", 0, false
	}
	// After the command: state is field 3; utime and stime are fields 14
	// and 15.
	f := strings.Fields(s[closing+1:])
	if len(f) < 13 {
		return "", 0, false
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return s[open+1 : closing], (ut + st) / clockTicks, true
}

// loadAvg returns the first field of /proc/loadavg, the load average of
// the last minute.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}
