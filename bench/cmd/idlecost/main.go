// Command idlecost measures what a Kiln client costs while it has nothing
// to do beside a long queue of jobs it cannot run: --foreign available jobs
// of kind "foreign" in the default queue, and a client whose only worker is
// for kind "mine". The client polls the queue (every FetchPollInterval,
// 200 ms) and runs its maintenance as usual. For --duration it prints the
// CPU time of this process (getrusage: the client, the SQLite engine in
// process) and, on PostgreSQL, of the database server's backends that serve
// the client's connections (from /proc/<pid>/stat; the server must run on
// this machine).
//
// The jobs are inserted with the store's JobInsertMany, in batches of
// 1,000, into a fresh SQLite file (in a temporary directory) or a fresh
// PostgreSQL schema, dropped at the end. The figures are CPU times, which
// a loaded machine stretches far less than wall times; the load average is
// printed beside them, and so is the number of claims the client made
// (each poll is one; on a loaded machine a slow claim leaves fewer polls,
// so the CPU per claim is the figure to compare).
//
//	cd bench && go run ./cmd/idlecost --store sqlite --foreign 1000000 --duration 30s
//	go run ./cmd/idlecost --store postgres --foreign 1000000
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/bench/internal/measure"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/sqlite"
)

type mineArgs struct{}

// claimCounter counts the claims of a store.
type claimCounter struct{ n atomic.Int64 }

func (c *claimCounter) count() { c.n.Add(1) }

// countedSQLite and countedPostgres are the stores with their JobClaim
// calls counted; every other method, and every optional interface, is the
// store's own.
type countedSQLite struct {
	*sqlite.Store
	*claimCounter
}

func (s countedSQLite) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.count()
	return s.Store.JobClaim(ctx, p)
}

type countedPostgres struct {
	*postgres.Store
	*claimCounter
}

func (s countedPostgres) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	s.count()
	return s.Store.JobClaim(ctx, p)
}

func (mineArgs) Kind() string { return "mine" }

func main() {
	storeName := flag.String("store", "sqlite", "sqlite or postgres")
	database := flag.String("database", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL database URL (a server on this machine), for --store postgres; a new schema of it is used and dropped")
	foreign := flag.Int("foreign", 1_000_000, "available jobs of a kind the client has no worker for")
	duration := flag.Duration("duration", 30*time.Second, "how long the client idles, measured")
	flag.Parse()
	if flag.NArg() > 0 || *foreign < 0 || *duration <= 0 || (*storeName != "sqlite" && *storeName != "postgres") {
		fmt.Fprintln(os.Stderr, "idlecost: --store is sqlite or postgres, --foreign at least 0, --duration positive; no arguments are taken")
		os.Exit(2)
	}
	if err := run(context.Background(), *storeName, *database, *foreign, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "idlecost:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, storeName, database string, foreign int, duration time.Duration) (err error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	tag := hex.EncodeToString(b)
	var (
		st      store.Store
		servers func() []int // the backends serving the client, on PostgreSQL
		claims  = &claimCounter{}
	)
	switch storeName {
	case "sqlite":
		dir, err := os.MkdirTemp("", "kiln-idlecost-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s, err := sqlite.Open(ctx, filepath.Join(dir, "kiln.db"), &sqlite.Options{Migrate: true})
		if err != nil {
			return err
		}
		defer s.Close()
		st = countedSQLite{s, claims}
	case "postgres":
		u, err := url.Parse(database)
		if err != nil {
			return fmt.Errorf("--database: %w", err)
		}
		app := "kiln_idlecost_" + tag
		q := u.Query()
		q.Set("application_name", app)
		u.RawQuery = q.Encode()
		schema := "kiln_idlecost_" + tag
		s, err := postgres.Open(ctx, u.String(), &postgres.Options{Schema: schema, Migrate: true})
		if err != nil {
			return err
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			if _, derr := s.Pool().Exec(dctx, `DROP SCHEMA `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); derr != nil {
				err = errors.Join(err, fmt.Errorf("drop schema %s: %w", schema, derr))
			}
			s.Close()
		}()
		admin, err := pgx.Connect(ctx, database)
		if err != nil {
			return err
		}
		defer admin.Close(context.WithoutCancel(ctx))
		servers = func() []int {
			rows, err := admin.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, app)
			if err != nil {
				return nil
			}
			pids, _ := pgx.CollectRows(rows, pgx.RowTo[int])
			return pids
		}
		st = countedPostgres{s, claims}
	}

	start := time.Now()
	base := time.Now().Add(-time.Hour).UTC()
	for done := 0; done < foreign; {
		ps := make([]*store.JobInsertParams, min(1000, foreign-done))
		for i := range ps {
			ps[i] = &store.JobInsertParams{Kind: "foreign", Queue: kiln.QueueDefault, Args: []byte(`{}`), Priority: 1,
				MaxAttempts: 25, State: kilntype.JobStateAvailable, ScheduledAt: base, CreatedAt: base}
		}
		if _, err := st.JobInsertMany(ctx, ps); err != nil {
			return err
		}
		done += len(ps)
	}
	fmt.Printf("%s: %d foreign jobs inserted in %v\n", storeName, foreign, time.Since(start).Round(time.Millisecond))

	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[mineArgs]) error { return nil }))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return err
	}
	if err := client.Start(ctx); err != nil {
		return err
	}
	load := measure.LoadAvg3()
	m := measure.StartCPU(servers)
	n0 := claims.n.Load()
	time.Sleep(duration)
	self, db := m.Stop()
	n := claims.n.Load() - n0
	stopCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		return err
	}
	fmt.Printf("idle %v beside %d foreign jobs: %d claims; process CPU %.2f s (%.2f ms a claim)",
		duration, foreign, n, self, 1e3*self/float64(max(n, 1)))
	if servers != nil {
		fmt.Printf(", database backends CPU %.2f s (%.2f ms a claim)", db, 1e3*db/float64(max(n, 1)))
	}
	fmt.Printf(" (load average before %s, after %s)\n", load, measure.LoadAvg3())
	return nil
}
