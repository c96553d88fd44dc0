package cli

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/jobs/httpjob"
)

type serveOptions struct {
	queues          string
	shutdownTimeout time.Duration
	// Hidden flags, for tests and tuning: the client's ID and the
	// lease and maintenance timings (zero: the kiln.Config defaults).
	id             string
	leaseDuration  time.Duration
	rescueInterval time.Duration
	leaderTTL      time.Duration
	dashboard      dashboardFlags
	otel           bool
	auditRetention time.Duration
}

func newServeCmd(g *globals) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run workers for the built-in http job kind",
		Long: `serve runs a Kiln worker process on the database: it claims and runs jobs of
the built-in http kind (HTTP requests, see 'kiln enqueue --help') from the
queues given by --queues, each with its own number of workers, and logs
each job's outcome on stderr. Jobs of other kinds are left for processes
that have workers for them. Any number of serve processes may share one
database; one of them also runs the maintenance (due jobs, rescue of jobs
whose process died, cleanup of old jobs).

serve runs until SIGINT (Ctrl+C) or SIGTERM, then stops gracefully: it stops
taking jobs and waits up to --shutdown-timeout for running ones, then
cancels them and puts them back to run later. A second Ctrl+C or SIGTERM
quits at once. When serve starts with SIGINT ignored (a background job of a
shell script, 'kiln serve &'), it leaves SIGINT ignored and stops on
SIGTERM only, and says so.

serve also serves the web dashboard and its JSON API on --dashboard-addr
(127.0.0.1:8080 unless set; "off" disables it), to local clients only
unless --dashboard-user (password in $KILN_DASHBOARD_PASSWORD) or
$KILN_DASHBOARD_TOKEN (a bearer token for the API) is set.

With --otel, serve exports OpenTelemetry traces (a span per attempt, which
continues the trace of the job's enqueue) and metrics by OTLP over HTTP,
configured by the standard environment variables: OTEL_EXPORTER_OTLP_ENDPOINT
(default http://localhost:4318), OTEL_SERVICE_NAME (default kiln),
OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_EXPORTER and OTEL_METRICS_EXPORTER
(otlp, console or none), OTEL_TRACES_SAMPLER... (docs/observability.md).

The database must be migrated first ('kiln migrate').`,
		Example: `  kiln serve
  kiln serve --queues default=100,webhooks=10 --shutdown-timeout 1m
  OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 kiln serve --otel`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runServe(cmd, g, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.queues, "queues", "default=100", "the queues to run and their workers, as NAME=WORKERS,...")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long to wait for running jobs when stopping")
	f.BoolVar(&o.otel, "otel", false, "export traces and metrics by OpenTelemetry (OTLP over HTTP), configured by the OTEL_* environment variables")
	o.dashboard.register(f)
	f.DurationVar(&o.auditRetention, "audit-retention", 0, "how long audit log entries are kept (as the leader, e.g. 2160h; default 90 days, negative: forever)")
	// Hidden: the integration tests of test/cluster shorten the time a
	// killed process's jobs take to come back, and name the processes.
	f.StringVar(&o.id, "id", "", "the ID of this process in leases and attempts (default host-pid-random)")
	f.DurationVar(&o.leaseDuration, "lease-duration", 0, "the lease of a running job without heartbeat (default 20s)")
	f.DurationVar(&o.rescueInterval, "rescue-interval", 0, "how often expired leases are looked for (default 5s)")
	f.DurationVar(&o.leaderTTL, "leader-ttl", 0, "the maintenance leader's term (default 10s)")
	for _, name := range []string{"id", "lease-duration", "rescue-interval", "leader-ttl"} {
		_ = f.MarkHidden(name) // the flag exists
	}
	return cmd
}

// otelFlushTimeout bounds the export of the last spans and measurements
// when serve --otel stops.
const otelFlushTimeout = 5 * time.Second

// parseQueues parses a --queues value: "default=100,other=10".
func parseQueues(s string) (map[string]kiln.QueueConfig, error) {
	queues := map[string]kiln.QueueConfig{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, ok := strings.Cut(part, "=")
		workers, err := strconv.Atoi(n)
		if !ok || name == "" || err != nil {
			return nil, usageErrorf("invalid --queues entry %q: want NAME=WORKERS, such as default=100", part)
		}
		if workers < 1 || workers > 10_000 {
			return nil, usageErrorf("invalid --queues entry %q: workers must be 1 to 10000", part)
		}
		if _, dup := queues[name]; dup {
			return nil, usageErrorf("invalid --queues: queue %q given twice", name)
		}
		queues[name] = kiln.QueueConfig{MaxWorkers: workers}
	}
	if len(queues) == 0 {
		return nil, usageErrorf("--queues names no queue: want NAME=WORKERS,...")
	}
	return queues, nil
}

func runServe(cmd *cobra.Command, g *globals, o *serveOptions) error {
	queues, err := parseQueues(o.queues)
	if err != nil {
		return err
	}
	if o.shutdownTimeout <= 0 {
		return usageErrorf("--shutdown-timeout %s: want a positive duration", o.shutdownTimeout)
	}
	sigs := newStopSignals()
	ctx, stop := sigs.notify(cmd.Context())
	defer stop()

	st, err := openDatabase(ctx, g.database, mustExist)
	if err != nil {
		return err
	}
	defer st.Close()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Keep a connection per worker: with net/http's default of 2 idle
	// connections per host, workers calling one host (a webhook receiver)
	// would open a new connection for nearly every job.
	for _, q := range queues {
		transport.MaxIdleConnsPerHost += q.MaxWorkers
	}
	defer transport.CloseIdleConnections()
	workers := kiln.NewWorkers()
	httpjob.Register(workers, &http.Client{Transport: transport})
	cfg := &kiln.Config{
		Store: st, Workers: workers, Queues: queues, Logger: g.logger, ID: o.id,
		LeaseDuration: o.leaseDuration, RescueInterval: o.rescueInterval, LeaderTTL: o.leaderTTL,
		AuditRetention: o.auditRetention,
	}
	if o.otel {
		providers, err := newOTel(ctx, g.getenv, cmd.OutOrStdout())
		if err != nil {
			return err
		}
		defer func() {
			// After the client stopped: its last spans and measurements
			// are flushed.
			flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), otelFlushTimeout)
			defer cancel()
			if err := providers.Shutdown(flushCtx); err != nil {
				g.logger.Warn("kiln serve: OpenTelemetry: " + err.Error())
			}
		}()
		cfg.TracerProvider, cfg.MeterProvider = providers.tracer, providers.meter
	}
	client, err := kiln.NewClient(cfg)
	if err != nil {
		return err
	}

	events, unsubscribe := client.Subscribe()
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		for ev := range events {
			logEvent(g.logger, ev)
		}
	}()
	defer func() {
		unsubscribe()
		<-logged
	}()

	dash, err := startDashboard(&o.dashboard, cmd.Flags().Changed("dashboard-addr"), client, g.getenv, g.logger, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer func() {
		if err := dash.Shutdown(); err != nil {
			g.logger.Warn("kiln serve: " + err.Error())
		}
	}()
	if err := client.Start(ctx); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	var desc []string
	for _, name := range slices.Sorted(maps.Keys(queues)) {
		desc = append(desc, fmt.Sprintf("%s (%d workers)", name, queues[name].MaxWorkers))
	}
	fmt.Fprintf(out, "kiln serve: running kinds %s from queues %s on %s; %s.\n",
		strings.Join(workers.Kinds(), ", "), strings.Join(desc, ", "), g.database, sigs.toStop())
	dash.announce(out)

	<-ctx.Done()
	stop() // a second signal kills the process
	fmt.Fprintf(out, "Stopping: waiting up to %s for running jobs (%s)...\n", o.shutdownTimeout, sigs.toQuit())
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.shutdownTimeout)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	fmt.Fprintln(out, "Stopped.")
	return nil
}

// logEvent logs a job event: outcomes at info (warn for failures), starts
// at debug. Rescues are not logged here: the client's rescuer logs each one
// at warn already.
func logEvent(logger *slog.Logger, ev *kiln.Event) {
	level := slog.LevelInfo
	switch ev.Kind {
	case kiln.EventJobRescued:
		return
	case kiln.EventJobStarted:
		level = slog.LevelDebug
	case kiln.EventJobFailed, kiln.EventJobInterrupted:
		level = slog.LevelWarn
	case kiln.EventJobDiscarded:
		level = slog.LevelError
	}
	attrs := []any{"id", ev.Job.ID, "kind", ev.Job.Kind, "queue", ev.Job.Queue, "attempt", attemptOf(ev.Job)}
	if a := ev.Attempt; a != nil {
		if a.FinishedAt != nil {
			attrs = append(attrs, "took", a.FinishedAt.Sub(a.StartedAt))
		}
		if a.Error != "" {
			attrs = append(attrs, "error", a.Error)
		}
	}
	if ev.Kind == kiln.EventJobFailed {
		attrs = append(attrs, "retry_at", ev.Job.ScheduledAt)
	}
	logger.Log(context.Background(), level, "kiln: "+strings.ReplaceAll(string(ev.Kind), "_", " "), attrs...)
}
