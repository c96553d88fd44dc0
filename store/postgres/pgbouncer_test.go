package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// withExecMode returns rawURL with pgx's default_query_exec_mode set to
// mode ("" leaves it out).
func withExecMode(t *testing.T, rawURL, mode string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	if mode != "" {
		q := u.Query()
		q.Set("default_query_exec_mode", mode)
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// checkRegistryAndRescue writes and reads a server row whose queues are
// set, and rescues a job whose lease expired (a discard, which sets
// finalized_at), through s: the two statements whose parameters pgx's exec
// and simple_protocol modes (which PgBouncer users choose) could not send.
func checkRegistryAndRescue(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	row := &kilntype.ServerRow{ID: "proc-1", Host: "h", PID: 7, Kinds: []string{"noop"},
		Queues: []kilntype.ServerQueue{{Name: "default", MaxWorkers: 10, Busy: 3}}, StartedAt: now, RefreshedAt: now}
	if err := s.ServerUpsert(ctx, &store.ServerUpsertParams{Row: row}); err != nil {
		t.Fatalf("ServerUpsert: %v", err)
	}
	rows, err := s.ServerList(ctx)
	if err != nil {
		t.Fatalf("ServerList: %v", err)
	}
	if len(rows) != 1 || len(rows[0].Queues) != 1 || rows[0].Queues[0] != row.Queues[0] {
		t.Fatalf("ServerList = %+v, want the row with queues %+v", rows, row.Queues)
	}

	ps := jobParams(1)
	ps[0].Queue = "rescue"
	ps[0].ScheduledAt, ps[0].CreatedAt = now, now
	ins, err := s.JobInsertMany(ctx, ps)
	if err != nil {
		t.Fatal(err)
	}
	// A lease of one microsecond, on the server's clock: it has ended by
	// the time the rescue runs.
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "rescue", Max: 1, AnyKind: true, LeasedBy: "proc-1",
		Now: now, LeaseExpiresAt: now.Add(time.Microsecond)})
	if err != nil || len(claimed) != 1 {
		t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
	}
	var rescued []*kilntype.JobRow
	testutil.Eventually(t, "JobRescueExpired to take the job", func() bool {
		rescued, err = s.JobRescueExpired(ctx, &store.JobRescueExpiredParams{Now: now.Add(time.Minute), Max: 10})
		if err != nil {
			t.Fatalf("JobRescueExpired: %v", err)
		}
		return len(rescued) > 0
	})
	j := rescued[0]
	if j.ID != ins[0].Job.ID || j.State != kilntype.JobStateDiscarded || j.FinalizedAt == nil || !j.FinalizedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("rescued %+v, want job %d discarded, finalized at %v", j, ins[0].Job.ID, now.Add(time.Minute))
	}
}

// TestQueryExecModes runs the server registry and the rescuer in each of
// pgx's query exec modes that keep no state on the server session, directly
// against PostgreSQL: exec and simple_protocol send a parameter by its Go
// type (as text, in simple_protocol, into the statement), so the statements
// must cast what PostgreSQL cannot infer and get types pgx can encode.
func TestQueryExecModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"exec", "simple_protocol", "cache_describe", "cache_statement"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			s, err := postgres.Open(t.Context(), withExecMode(t, testURL(t), mode),
				&postgres.Options{Schema: newSchema(t), MaxConns: 2, Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkRegistryAndRescue(t, s)
			checkComplete(t, s)
		})
	}
}

// checkComplete completes a batch of claimed jobs through s, one under its
// claim's time and one under any claim (a NULL element of the finish's
// timestamptz array), and reads them back completed: the finish's array
// parameters, which s sends as typed arrays when pgx describes the
// statement and as plain slices when it infers their types (exec,
// simple_protocol).
func checkComplete(t *testing.T, s *postgres.Store) {
	t.Helper()
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	ps := jobParams(3)
	for _, p := range ps {
		p.Queue, p.ScheduledAt, p.CreatedAt = "complete", now, now
	}
	if _, err := s.JobInsertMany(ctx, ps); err != nil {
		t.Fatal(err)
	}
	claimed, err := s.JobClaim(ctx, &store.JobClaimParams{Queue: "complete", Max: 3, AnyKind: true, LeasedBy: `proc-\"{a,b}"`,
		Now: now, LeaseExpiresAt: now.Add(time.Minute)})
	if err != nil || len(claimed) != 3 {
		t.Fatalf("JobClaim: %d jobs, %v", len(claimed), err)
	}
	var finish []*store.JobFinishParams
	for i, j := range claimed {
		p := &store.JobFinishParams{ID: j.ID, LeasedBy: j.LeasedBy, State: kilntype.JobStateCompleted,
			Now: now.Add(time.Duration(i+1) * time.Second),
			Attempt: kilntype.JobAttempt{JobID: j.ID, Attempt: j.Attempt, StartedAt: *j.AttemptedAt,
				Server: `server, \"é"`, Outcome: kilntype.AttemptSucceeded}}
		if i != 1 {
			p.AttemptedAt = *j.AttemptedAt
		}
		finish = append(finish, p)
	}
	moved, err := s.JobFinishMany(ctx, finish)
	if err != nil || len(moved) != 3 {
		t.Fatalf("JobFinishMany: moved %v, %v", moved, err)
	}
	for _, p := range finish {
		j, err := s.JobGet(ctx, &store.JobGetParams{ID: p.ID})
		if err != nil {
			t.Fatal(err)
		}
		if j.State != kilntype.JobStateCompleted || j.FinalizedAt == nil || !j.FinalizedAt.Equal(p.Now) {
			t.Errorf("job %d: %s, finalized at %v; want completed at %v", j.ID, j.State, j.FinalizedAt, p.Now)
		}
	}
	attempts, err := s.JobAttemptList(ctx, &store.JobAttemptListParams{JobID: finish[0].ID})
	if err != nil || len(attempts) != 1 || attempts[0].Server != finish[0].Attempt.Server {
		t.Fatalf("JobAttemptList: %+v, %v; want the attempt by %q", attempts, err, finish[0].Attempt.Server)
	}
}

// TestPgBouncerOption checks what Options.PgBouncer changes without a
// pooler: the pool's exec mode, no notifications, and New's refusal of a
// pool that keeps prepared statements on the session.
func TestPgBouncerOption(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := open(t, &postgres.Options{Schema: newSchema(t), MaxConns: 2, PgBouncer: true})
	if m := s.Pool().Config().ConnConfig.DefaultQueryExecMode; m != pgx.QueryExecModeCacheDescribe {
		t.Errorf("PgBouncer pool's exec mode %s, want cache_describe", m)
	}
	if s.NotificationsAvailable() {
		t.Error("NotificationsAvailable with PgBouncer: true")
	}
	if _, err := s.Listen(ctx, &store.ListenParams{Topics: []string{store.TopicInsert}, Handle: func(store.Notification) {}}); err == nil {
		t.Error("Listen with PgBouncer: no error")
	}
	exec := open(t, &postgres.Options{Schema: newSchema(t), MaxConns: 2})
	if !exec.NotificationsAvailable() {
		t.Error("NotificationsAvailable without PgBouncer: false")
	}
	// A mode the URL names and that works through the pooler is kept.
	s2, err := postgres.Open(ctx, withExecMode(t, testURL(t), "simple_protocol"), &postgres.Options{Schema: newSchema(t), MaxConns: 1, PgBouncer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if m := s2.Pool().Config().ConnConfig.DefaultQueryExecMode; m != pgx.QueryExecModeSimpleProtocol {
		t.Errorf("PgBouncer pool with simple_protocol in the URL: mode %s", m)
	}

	pool, err := pgxpool.New(ctx, testURL(t)) // pgx's default, cache_statement
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := postgres.New(pool, &postgres.Options{PgBouncer: true}); err == nil {
		t.Error("New with PgBouncer on a cache_statement pool: no error")
	}
	if _, err := postgres.New(pool, nil); err != nil {
		t.Errorf("New without PgBouncer: %v", err)
	}
}

// startPgBouncer starts the pgbouncer of PATH (or /usr/sbin) in transaction-pooling mode on
// a free port, in front of the test database, for the rest of the test, and
// returns the test URL through it. Without pgbouncer the test is skipped,
// or fails in CI (CI=true), where .ci/run installs it.
func startPgBouncer(t *testing.T) string {
	t.Helper()
	base := testURL(t)
	bin, err := exec.LookPath("pgbouncer")
	if err != nil { // Debian's package puts it in /usr/sbin, outside users' PATH
		bin, err = exec.LookPath("/usr/sbin/pgbouncer")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgbouncer is not in PATH nor /usr/sbin (CI=true; .ci/run installs Debian's pgbouncer package): %v", err)
		}
		t.Skip("pgbouncer is not in PATH nor /usr/sbin: install it (apt-get install pgbouncer) to test Kiln behind PgBouncer in transaction mode")
	}
	cfg, err := pgxpool.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	cc := cfg.ConnConfig
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	dir, err := os.MkdirTemp("", "kiln-pgbouncer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = 10
max_client_conn = 200
ignore_startup_parameters = extra_float_digits
logfile = %s
`, cc.Host, cc.Port, port, filepath.Join(dir, "userlist.txt"), filepath.Join(dir, "pgbouncer.log"))
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "userlist.txt"), []byte(strconv.Quote(cc.User)+` ""`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{filepath.Join(dir, "pgbouncer.ini")}
	if os.Geteuid() == 0 { // pgbouncer refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			u, err = user.Lookup("nobody")
		}
		if err != nil {
			t.Fatalf("running as root, and no user postgres or nobody for pgbouncer: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		for _, p := range []string{dir, filepath.Join(dir, "pgbouncer.ini"), filepath.Join(dir, "userlist.txt")} {
			if err := os.Chown(p, uid, gid); err != nil {
				t.Fatal(err)
			}
		}
		args = append([]string{"-u", u.Username}, args...)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pgbouncer: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	bouncer := u.String()
	// Wait until it answers.
	testutil.Poll{Interval: 20 * time.Millisecond}.EventuallyNil(t, fmt.Sprintf("pgbouncer to answer on port %d", port), func() error {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			t.Fatalf("pgbouncer exited: %v; its log:\n%s", err, log)
		default:
		}
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		s, err := postgres.Open(ctx, bouncer, &postgres.Options{MaxConns: 1, PgBouncer: true})
		cancel()
		if err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			return fmt.Errorf("%w; its log:\n%s", err, log)
		}
		s.Close()
		return nil
	})
	return bouncer
}

type bouncerArgs struct{ N int }

func (bouncerArgs) Kind() string { return "bouncer" }

// TestPgBouncer runs Kiln through PgBouncer in transaction-pooling mode,
// with Options.PgBouncer: a client burns down a few hundred jobs enqueued by
// another client (found by polling: no notifications get through), its
// server registry row is written, and a lapsed lease is rescued; in pgx's
// cache_describe mode (the option's choice), and in exec and
// simple_protocol modes named in the URL.
func TestPgBouncer(t *testing.T) {
	t.Parallel()
	bouncer := startPgBouncer(t)
	for _, tc := range []struct {
		mode string
		jobs int
	}{{"", 300}, {"exec", 50}, {"simple_protocol", 50}} {
		name := tc.mode
		if name == "" {
			name = "default"
		}
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s, err := postgres.Open(ctx, withExecMode(t, bouncer, tc.mode),
				&postgres.Options{Schema: newSchema(t), MaxConns: 4, Migrate: true, PgBouncer: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			checkRegistryAndRescue(t, s)
			burnDown(t, s, tc.jobs)
		})
	}
}

// burnDown runs n jobs enqueued by one client on another, and checks that
// the worker's registry row was written.
func burnDown(t *testing.T, s *postgres.Store, n int) {
	t.Helper()
	ctx := t.Context()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, j *kiln.Job[bouncerArgs]) error { return nil }))
	client, err := kiln.NewClient(&kiln.Config{Store: s, Workers: workers, FetchPollInterval: 20 * time.Millisecond,
		Queues: map[string]kiln.QueueConfig{"default": {MaxWorkers: 10}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}()
	enqueuer, err := kiln.NewClient(&kiln.Config{Store: s})
	if err != nil {
		t.Fatal(err)
	}
	params := make([]kiln.EnqueueParams, n)
	for i := range params {
		params[i] = kiln.EnqueueParams{Args: bouncerArgs{N: i}}
	}
	for len(params) > 0 { // in batches, and one at a time for the last ten
		k := min(len(params), 100)
		if len(params) <= 10 {
			k = 1
		}
		if _, err := enqueuer.EnqueueMany(ctx, params[:k]); err != nil {
			t.Fatalf("EnqueueMany: %v", err)
		}
		params = params[k:]
	}
	testutil.Poll{Timeout: 2 * time.Minute, Interval: 50 * time.Millisecond}.EventuallyNil(t, "every job to complete and the client to register", func() error {
		counts, err := client.JobCountByState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		servers, err := s.ServerList(ctx)
		if err != nil {
			t.Fatal(err)
		}
		registered := false
		for _, r := range servers {
			registered = registered || r.ID == client.ID() && len(r.Queues) == 1 && r.Queues[0].Name == "default"
		}
		if counts[kilntype.JobStateCompleted] != n || !registered {
			return fmt.Errorf("jobs by state %v (want %d completed), servers %+v (want %s with queue default)", counts, n, servers, client.ID())
		}
		return nil
	})
}

// TestDefaultMaxConns checks the pool size of Open: DefaultMaxConns, 2 with
// PgBouncer (no LISTEN connection), the URL's pool_max_conns, or MaxConns.
func TestDefaultMaxConns(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	// A password that reads "pool_max_conns" sets no pool size (trust
	// authentication ignores it).
	named := *u
	named.User = url.UserPassword(u.User.Username(), "pool_max_conns")
	q := u.Query()
	q.Set("pool_max_conns", "3")
	u.RawQuery = q.Encode()
	for _, tc := range []struct {
		url  string
		opts postgres.Options
		want int32
	}{
		{testURL(t), postgres.Options{}, 1},
		{testURL(t), postgres.Options{PgBouncer: true}, 2},
		{u.String(), postgres.Options{}, 3},
		{u.String(), postgres.Options{MaxConns: 5}, 5},
		{testURL(t), postgres.Options{MaxConns: 6}, 6},
		{named.String(), postgres.Options{}, 1},
	} {
		s, err := postgres.Open(t.Context(), tc.url, &tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Pool().Config().MaxConns; got != tc.want {
			t.Errorf("Open(%q, %+v): pool of %d, want %d", tc.url, tc.opts, got, tc.want)
		}
		s.Close()
	}
}

// TestConnectionsPerProcess runs a client with the store's default pool, its
// notifications on, through a burn-down, and counts its sessions on the
// server while it works: at most 2 (one for statements, one LISTENing).
func TestConnectionsPerProcess(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	app := "kiln_conns_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	u, err := url.Parse(testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := postgres.Open(ctx, u.String(), &postgres.Options{Schema: newSchema(t), Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	admin, err := pgxpool.New(ctx, testURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	stop := make(chan struct{})
	peak := make(chan int, 1)
	go func() {
		most := 0
		defer func() { peak <- most }()
		for {
			var n int
			if err := admin.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err == nil {
				most = max(most, n)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond): // sampling pg_stat_activity
			}
		}
	}()
	burnDown(t, s, 300)
	close(stop)
	if n := <-peak; n > 2 || n < 1 {
		t.Errorf("the process held up to %d PostgreSQL sessions, want 1 or 2", n)
	}
}

// TestMigrateConcurrentIndexesBehindPgBouncer checks that a migration that
// builds its indexes concurrently under a session lock (010, on a table
// taken as large: ConcurrentIndexMinRows 0) refuses to run through a pooler
// in transaction mode, which would keep the lock on a server connection
// after the client left, saying to use a direct connection; and that it
// runs on one. Not parallel: it changes ConcurrentIndexMinRows.
func TestMigrateConcurrentIndexesBehindPgBouncer(t *testing.T) {
	bouncer := startPgBouncer(t)
	ctx := t.Context()
	defer func(n int) { postgres.ConcurrentIndexMinRows = n }(postgres.ConcurrentIndexMinRows)
	postgres.ConcurrentIndexMinRows = 0
	schema := newSchema(t)
	pooled, err := postgres.Open(ctx, bouncer, &postgres.Options{Schema: schema, PgBouncer: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pooled.Close()
	postgres.MigrateToForTest(t, pooled, 9)
	err = pooled.Migrate(ctx)
	if err == nil || !strings.Contains(err.Error(), "direct connection") {
		t.Fatalf("Migrate through PgBouncer on a large table: %v, want an error saying to use a direct connection", err)
	}
	if err := pooled.SchemaCheck(ctx); !errors.Is(err, kilntype.ErrSchemaMissing) {
		t.Errorf("SchemaCheck after the refused migration: %v, want ErrSchemaMissing", err)
	}
	direct := open(t, &postgres.Options{Schema: schema})
	if err := direct.Migrate(ctx); err != nil {
		t.Fatalf("Migrate on a direct connection: %v", err)
	}
	if err := pooled.SchemaCheck(ctx); err != nil {
		t.Errorf("SchemaCheck through PgBouncer after migrating: %v", err)
	}
}
