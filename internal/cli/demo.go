package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/demo"
	"github.com/kilnjobs/kiln/jobs/httpjob"
)

// demoDatabase is the demo's database unless --database is given.
const demoDatabase = "./kiln-demo.db"

// Demo pacing: how often it enqueues more jobs and prints the counts, and
// how long it waits for running jobs when stopping.
const (
	demoEnqueueEvery = 3 * time.Second
	demoSummaryEvery = 5 * time.Second
	demoStopTimeout  = 10 * time.Second
	// demoCancelAfter is how long the long demo.sleep job runs before the
	// demo cancels it.
	demoCancelAfter = time.Second
)

// The demo's recurring entries: one every 5 seconds, and a cron entry in
// a time zone, which the demo triggers once at the start.
const (
	demoEvery5s     = "demo.every-5s"
	demoReport      = "demo.weekday-report"
	demoReportCron  = "30 9 * * 1-5"
	demoReportZone  = "Europe/Berlin"
	demoSleepCancel = 30_000 // ms: the demo.sleep job the demo cancels
)

type demoOptions struct {
	runFor    time.Duration
	dashboard dashboardFlags
}

func newDemoCmd(g *globals) *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run example jobs and watch them live",
		Long: `demo shows Kiln at work. It starts a worker process on an embedded SQLite
database (` + demoDatabase + ` unless --database is given; $` + envDatabase + ` is
ignored), creating and migrating it, and enqueues example jobs that do real
work:

  demo.write_file  writes a file into a temporary directory
  demo.checksum    writes the SHA-256 checksums of the files in that directory
  demo.http_call   calls an HTTP endpoint that the demo serves on 127.0.0.1
  http             the built-in HTTP job kind, posting JSON to that endpoint
  demo.flaky       fails its first two attempts, then succeeds (retries 1.5 s apart)
  demo.sleep       takes about a second, and stops early if cancelled

demo.checksum and demo.sleep report their progress and, with demo.flaky and
demo.http_call, log lines as they work (Job.Progress, Job.Log): see them on
a job's page in the dashboard, or with 'kiln jobs show'.

Some jobs run at once, some after a delay, some are enqueued as a batch in
one transaction, one waits for two others to complete (a continuation,
EnqueueOpts.Parents), one is cancelled while it runs (Client.JobCancel), and
new ones arrive every few seconds. Two recurring entries enqueue jobs: one
every 5 seconds, and a cron entry in a time zone (` + demoReportCron + ` in
` + demoReportZone + `: weekdays at 09:30 there), which the demo triggers
once at the start. A hosted service beats every 3 seconds. Each job event
(started, completed, failed...) is printed as it happens, with the count of
jobs in each state every few seconds. Logs are written at warn level unless
--log-level says otherwise, as lines of that table (on stderr).

The web dashboard shows the same jobs live, and lets you retry, cancel and
enqueue them: open the URL the demo prints (http://127.0.0.1:8080/ unless
--dashboard-addr says otherwise).

The demo runs until Ctrl+C (or SIGTERM; SIGTERM only when it started with
SIGINT ignored), or for --for, then stops gracefully and prints a summary. The jobs stay in the database: look at
them with 'kiln jobs list --database ` + demoDatabase + `'. Unfinished jobs
left by an earlier demo are cancelled when the demo starts.`,
		Example: `  kiln demo
  kiln demo --for 30s
  kiln demo --database /tmp/demo.db --log-level info`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runDemo(cmd, g, o) },
	}
	cmd.Flags().DurationVar(&o.runFor, "for", 0, "stop after this long (default: run until Ctrl+C)")
	o.dashboard.register(cmd.Flags())
	return cmd
}

func runDemo(cmd *cobra.Command, g *globals, o *demoOptions) error {
	if o.runFor < 0 {
		return usageErrorf("--for %s is negative", o.runFor)
	}
	dbValue := demoDatabase
	if g.databaseFlag {
		dbValue = g.database
	}
	sigs := newStopSignals()
	ctx, stop := sigs.notify(cmd.Context())
	defer stop()

	// The hosted service prints into the live table from its goroutine.
	out := &lockedWriter{w: cmd.OutOrStdout()}
	logger := demoLogger(cmd.ErrOrStderr(), g)
	until := sigs.toStop()
	if o.runFor > 0 {
		until = fmt.Sprintf("it stops after %s, or %s", o.runFor, sigs.toStop())
	}
	fmt.Fprintf(out, "Kiln demo: example background jobs running on the SQLite database %s; %s.\n", dbValue, until)

	st, err := openDatabase(ctx, dbValue, createAndMigrate)
	if err != nil {
		return err
	}
	defer st.Close()
	dir, err := os.MkdirTemp("", "kiln-demo-")
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	defer os.RemoveAll(dir)
	srv, err := demo.StartServer()
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Close(closeCtx)
	}()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	defer transport.CloseIdleConnections()
	httpClient := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	workers := kiln.NewWorkers()
	demo.Register(workers, httpClient)
	httpjob.Register(workers, httpClient)
	v := &liveView{out: out, tally: map[kiln.EventKind]int{}}
	client, err := kiln.NewClient(&kiln.Config{
		Store: st, Workers: workers, Logger: logger,
		Queues: map[string]kiln.QueueConfig{kiln.QueueDefault: {MaxWorkers: 10}},
		// Recurring entries, defined in code: the scheduler enqueues one
		// job at each occurrence, every 5 seconds, and on weekdays at
		// 09:30 in Berlin (whatever this machine's zone).
		Recurring: []kiln.RecurringJob{{
			ID: demoEvery5s, Schedule: "@every 5s",
			Args: demo.WriteFileArgs{Dir: dir, Name: "every5s.txt", Content: "written by a recurring job\n"},
		}, {
			ID: demoReport, Schedule: demoReportCron, TimeZone: demoReportZone,
			Args: demo.ChecksumArgs{Dir: dir, Output: "REPORT.SHA256SUMS"},
		}},
		PruneRecurring: true,
		// A hosted service: a loop supervised next to the jobs, restarted if
		// it fails, stopped at shutdown.
		HostedServices: []kiln.HostedService{{Name: "demo.ticker", Run: demoTicker(v)}},
	})
	if err != nil {
		return err
	}
	if n, err := cancelLeftovers(ctx, client); err != nil {
		return err
	} else if n > 0 {
		fmt.Fprintf(out, "Cancelled %d unfinished demo jobs left by an earlier run.\n", n)
	}
	dash, err := startDashboard(&o.dashboard, cmd.Flags().Changed("dashboard-addr"), client, g.getenv, logger, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	defer func() {
		if err := dash.Shutdown(); err != nil {
			logger.Warn("kiln demo: " + err.Error())
		}
	}()
	fmt.Fprintf(out, "Files are written to %s (removed at the end); the demo's HTTP endpoint is %s.\n", dir, srv.URL)
	if dash != nil {
		fmt.Fprintf(out, "Watch the jobs live in the dashboard: %s\n", dash.URL)
	}
	fmt.Fprintln(out)

	// The jobs of this run are those from firstID on.
	firstID, err := nextJobID(ctx, client)
	if err != nil {
		return err
	}
	events, unsubscribe := client.Subscribe()
	defer unsubscribe()
	if err := client.Start(ctx); err != nil {
		return err
	}
	v.header()
	// --for counts from here, when the jobs start: opening the database
	// and the dashboard is not part of the run.
	started := time.Now()
	runCtx := ctx
	if o.runFor > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(ctx, o.runFor)
		defer cancel()
	}
	d := &demoEnqueuer{client: client, view: v, dir: dir, url: srv.URL}
	// Enqueues go on when runCtx ends, so that they are never half done.
	enqCtx := context.WithoutCancel(ctx)
	if err := d.initial(enqCtx); err != nil {
		stopClient(client)
		return err
	}
	var cancelDue <-chan time.Time // when to cancel d.cancelID

	more := time.NewTicker(demoEnqueueEvery)
	defer more.Stop()
	summary := time.NewTicker(demoSummaryEvery)
	defer summary.Stop()
loop:
	for {
		select {
		case ev := <-events:
			v.event(ev)
			if ev.Kind == kiln.EventJobStarted && ev.Job.ID == d.cancelID {
				cancelDue = time.After(demoCancelAfter)
			}
		case <-cancelDue:
			cancelDue = nil
			if err := d.cancel(enqCtx, fmt.Sprintf("%s after it started", demoCancelAfter)); err != nil {
				stopClient(client)
				return err
			}
		case <-more.C:
			if err := d.more(enqCtx); err != nil {
				stopClient(client)
				return err
			}
		case <-summary.C:
			v.counts(enqCtx, client)
		case <-runCtx.Done():
			break loop
		}
	}

	stop() // a second signal kills the process
	ranFor := time.Since(started)
	if !d.cancelled {
		// Cancelled now, it does not hold up the stop for its 30 s.
		if err := d.cancel(enqCtx, "before the demo stops"); err != nil {
			stopClient(client)
			return err
		}
	}
	fmt.Fprintf(out, "\nStopping: waiting up to %s for running jobs (%s)...\n", demoStopTimeout, sigs.toQuit())
	stopErr := stopClient(client)
	for drained := false; !drained; {
		select {
		case ev := <-events:
			v.event(ev)
		default:
			drained = true
		}
	}
	if stopErr != nil {
		return fmt.Errorf("stop: %w", stopErr)
	}
	total, recurring, err := runJobs(enqCtx, client, firstID)
	if err != nil {
		return err
	}
	enqueued := fmt.Sprintf("%d jobs enqueued (%d by the demo, %d by recurring entries", total, d.enqueued, recurring)
	if other := total - d.enqueued - recurring; other > 0 {
		enqueued += fmt.Sprintf(", %d from elsewhere, such as the dashboard", other)
	}
	fmt.Fprintf(out, "\nStopped after running for %s (then %s to stop). In this run: %s), %d completed, %d attempts failed and were retried, %d discarded, %d cancelled.\n",
		fmtDuration(ranFor), fmtDuration(time.Since(started)-ranFor), enqueued, v.tally[kiln.EventJobCompleted],
		v.tally[kiln.EventJobFailed], v.tally[kiln.EventJobDiscarded], v.tally[kiln.EventJobCancelled])
	counts, err := client.JobCountByState(enqCtx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Jobs in %s: %s.\nSee them with: %s jobs list --database %s\n", dbValue, stateCounts(counts), selfCommand(g.getenv), shellQuote(dbValue))
	return nil
}

// nextJobID returns the ID above every stored job's: jobs enqueued from
// now on have IDs from it.
func nextJobID(ctx context.Context, client *kiln.Client) (int64, error) {
	res, err := client.JobList(ctx, &kiln.JobListParams{Limit: 1})
	if err != nil {
		return 0, err
	}
	if len(res.Jobs) == 0 {
		return 1, nil
	}
	return res.Jobs[0].ID + 1, nil
}

// runJobs counts the jobs whose ID is firstID or more (those of this
// run), and among them those that recurring entries enqueued.
func runJobs(ctx context.Context, client *kiln.Client, firstID int64) (total, recurring int, err error) {
	params := &kiln.JobListParams{StopAt: firstID, Limit: 1000}
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return 0, 0, err
		}
		for _, j := range res.Jobs {
			total++
			if recurringNote(j) != "" {
				recurring++
			}
		}
		if res.NextCursor == 0 {
			return total, recurring, nil
		}
		params.Cursor = res.NextCursor
	}
}

// stopClient stops client gracefully, waiting up to demoStopTimeout.
func stopClient(client *kiln.Client) error {
	ctx, cancel := context.WithTimeout(context.Background(), demoStopTimeout)
	defer cancel()
	return client.Stop(ctx)
}

// cancelLeftovers cancels unfinished demo jobs of an earlier run: their
// files and endpoint are gone. It returns how many it cancelled.
func cancelLeftovers(ctx context.Context, client *kiln.Client) (int, error) {
	params := &kiln.JobListParams{
		States: []kiln.JobState{kiln.JobStatePending, kiln.JobStateScheduled, kiln.JobStateAvailable, kiln.JobStateRetryable, kiln.JobStateRunning},
		Kinds:  append(demo.Kinds(), httpjob.Kind),
		Limit:  1000,
	}
	n := 0
	for {
		res, err := client.JobList(ctx, params)
		if err != nil {
			return n, err
		}
		for _, j := range res.Jobs {
			if _, err := client.JobCancel(ctx, j.ID); err != nil {
				return n, err
			}
			n++
		}
		if res.NextCursor == 0 {
			return n, nil
		}
		params.Cursor = res.NextCursor
	}
}

// demoEnqueuer enqueues the demo's jobs.
type demoEnqueuer struct {
	client   *kiln.Client
	view     *liveView
	dir, url string
	round    int
	enqueued int
	// cancelID is the long demo.sleep job that the demo cancels
	// demoCancelAfter after it starts, or when the run ends if that is
	// sooner; cancelled says whether it has.
	cancelID  int64
	cancelled bool
}

// enqueue enqueues one job and prints it.
func (d *demoEnqueuer) enqueue(ctx context.Context, args kiln.JobArgs, opts *kiln.EnqueueOpts, note string) (*kiln.JobRow, error) {
	res, err := d.client.Enqueue(ctx, args, opts)
	if err != nil {
		return nil, err
	}
	d.enqueued++
	d.view.enqueued(res.Job, note)
	return res.Job, nil
}

// cancel cancels the long demo.sleep job, and prints why. A running job
// sees its context cancelled and returns; one that has not started is
// cancelled at once.
func (d *demoEnqueuer) cancel(ctx context.Context, why string) error {
	row, err := d.client.JobCancel(ctx, d.cancelID)
	if err != nil {
		return err
	}
	d.cancelled = true
	what := "its context is cancelled"
	if row.State == kiln.JobStateCancelled {
		what = "it had not started"
	}
	d.view.line(time.Now(), "cancel", fmt.Sprint(d.cancelID), demo.SleepArgs{}.Kind(), "-",
		fmt.Sprintf("Client.JobCancel, %s: %s", why, what))
	return nil
}

// initial enqueues the opening mix: jobs that run now, delayed ones, the
// flaky one, a continuation, one to cancel, batches, and triggers the cron
// entry once.
func (d *demoEnqueuer) initial(ctx context.Context) error {
	type job struct {
		args kiln.JobArgs
		in   time.Duration
		note string
	}
	jobs := []job{
		{demo.WriteFileArgs{Dir: d.dir, Name: "hello.txt", Content: "Hello from a Kiln job!\n"}, 0, "hello.txt"},
		{demo.WriteFileArgs{Dir: d.dir, Name: "notes.txt", Content: "Jobs are kept in SQLite.\n"}, 0, "notes.txt"},
		{demo.HTTPCallArgs{URL: d.url + "/work?ms=150"}, 0, "GET /work"},
		{httpjob.Args{URL: d.url + "/echo", Body: json.RawMessage(`{"hello":"kiln"}`)}, 0, "POST /echo (built-in http kind)"},
		{demo.FlakyArgs{}, 0, "fails twice, then succeeds"},
		{demo.SleepArgs{Millis: 1000}, 0, "sleeps 1s"},
		{demo.ChecksumArgs{Dir: d.dir}, 2 * time.Second, "checksums the files"},
		{demo.WriteFileArgs{Dir: d.dir, Name: "later.txt", Content: "Written on time.\n"}, 4 * time.Second, "later.txt"},
		{demo.SleepArgs{Millis: 500}, 6 * time.Second, "sleeps 0.5s"},
	}
	var ids []int64
	for _, j := range jobs {
		row, err := d.enqueue(ctx, j.args, &kiln.EnqueueOpts{RunIn: j.in, Tags: []string{"demo"}}, j.note)
		if err != nil {
			return err
		}
		ids = append(ids, row.ID)
	}
	// A continuation: it waits (pending) until hello.txt and notes.txt
	// are written, then checksums them.
	if _, err := d.enqueue(ctx, demo.ChecksumArgs{Dir: d.dir, Output: "HELLO.SHA256SUMS"},
		&kiln.EnqueueOpts{Parents: ids[:2], Tags: []string{"demo"}}, "checksums hello.txt and notes.txt once written"); err != nil {
		return err
	}
	// A job that would sleep 30 s: the demo cancels it once it runs.
	row, err := d.enqueue(ctx, demo.SleepArgs{Millis: demoSleepCancel}, &kiln.EnqueueOpts{Tags: []string{"demo"}},
		fmt.Sprintf("sleeps %ds; the demo cancels it %s after it starts", demoSleepCancel/1000, demoCancelAfter))
	if err != nil {
		return err
	}
	d.cancelID = row.ID
	if err := d.trigger(ctx); err != nil {
		return err
	}

	var batch []kiln.EnqueueParams
	for i := 1; i <= 8; i++ {
		name := fmt.Sprintf("batch-%02d.txt", i)
		batch = append(batch, kiln.EnqueueParams{Args: demo.WriteFileArgs{Dir: d.dir, Name: name, Content: strings.Repeat(name+"\n", i*100)}})
	}
	batch = append(batch,
		kiln.EnqueueParams{Args: demo.HTTPCallArgs{URL: d.url + "/work?ms=50"}},
		kiln.EnqueueParams{Args: demo.ChecksumArgs{Dir: d.dir}, Opts: &kiln.EnqueueOpts{RunIn: time.Second}},
	)
	res, err := d.client.EnqueueMany(ctx, batch)
	if err != nil {
		return err
	}
	d.enqueued += len(res)
	d.view.batch(res)

	// A batch with a callback: the checksum job runs once, after every
	// part is written, and learns how many parts succeeded.
	var parts []kiln.EnqueueParams
	for i := 1; i <= 5; i++ {
		name := fmt.Sprintf("part-%d.txt", i)
		parts = append(parts, kiln.EnqueueParams{Args: demo.WriteFileArgs{Dir: d.dir, Name: name, Content: strings.Repeat("part\n", i)}})
	}
	b, err := d.client.EnqueueBatch(ctx, parts, &kiln.BatchOpts{Callback: demo.ChecksumArgs{Dir: d.dir, Output: "PARTS.SHA256SUMS"}})
	if err != nil {
		return err
	}
	d.enqueued += len(b.Jobs) + 1
	d.view.line(time.Now(), "enqueued", fmt.Sprintf("%d-%d", b.Jobs[0].Job.ID, b.Callback.ID), "(batch)", "-",
		fmt.Sprintf("batch %s: 5 demo.write_file jobs, then callback job %d (demo.checksum) once they all end", b.ID, b.Callback.ID))
	return nil
}

// more enqueues a few jobs, as an application would over time.
func (d *demoEnqueuer) more(ctx context.Context) error {
	d.round++
	name := fmt.Sprintf("round-%02d.txt", d.round)
	for _, j := range []struct {
		args kiln.JobArgs
		note string
	}{
		{demo.WriteFileArgs{Dir: d.dir, Name: name, Content: fmt.Sprintf("round %d\n", d.round)}, name},
		{demo.HTTPCallArgs{URL: fmt.Sprintf("%s/work?ms=%d", d.url, 20*d.round%200)}, "GET /work"},
		{demo.SleepArgs{Millis: 300}, "sleeps 0.3s"},
	} {
		if _, err := d.enqueue(ctx, j.args, nil, j.note); err != nil {
			return err
		}
	}
	_, err := d.enqueue(ctx, demo.ChecksumArgs{Dir: d.dir}, &kiln.EnqueueOpts{RunIn: time.Second}, "checksums the files")
	return err
}

// trigger enqueues the cron entry's job now (Client.RecurringTrigger), as
// the dashboard's "Trigger now" does, and prints when the entry runs next,
// in its zone and in UTC.
func (d *demoEnqueuer) trigger(ctx context.Context) error {
	job, err := d.client.RecurringTrigger(ctx, demoReport)
	if err != nil {
		return err
	}
	next := "-"
	if runs, err := kiln.RecurringNext(demoReportCron, demoReportZone, time.Now(), 1); err == nil && len(runs) == 1 {
		loc, _ := time.LoadLocation(demoReportZone)
		next = fmt.Sprintf("%s (%s UTC)", runs[0].In(loc).Format("Mon Jan 2 15:04 MST"), runs[0].UTC().Format("15:04"))
	}
	d.view.line(time.Now(), "enqueued", fmt.Sprint(job.ID), job.Kind, "-",
		fmt.Sprintf("recurring %s, cron %q in %s, triggered now; next run %s", demoReport, demoReportCron, demoReportZone, next))
	return nil
}

// liveView prints the demo's live view: one line per event. Its line
// method is safe for concurrent use (out is a lockedWriter); the others
// are used from the demo's loop only.
type liveView struct {
	out   io.Writer
	tally map[kiln.EventKind]int
}

// clock is how the live view shows times: local time of day.
const clock = "15:04:05.000"

func (v *liveView) header() {
	fmt.Fprintf(v.out, "%-12s  %-11s %5s  %-16s %-7s %s\n", "TIME", "EVENT", "JOB", "KIND", "ATTEMPT", "DETAILS")
}

func (v *liveView) line(at time.Time, event, job, kind, attempt, details string) {
	fmt.Fprintf(v.out, "%-12s  %-11s %5s  %-16s %-7s %s\n", at.Local().Format(clock), event, job, kind, attempt, details)
}

func (v *liveView) enqueued(j *kiln.JobRow, note string) {
	details := "runs now"
	switch j.State {
	case kiln.JobStatePending:
		details = "continuation: waits for jobs " + joinIDs(kiln.ParentIDs(j)) + " to complete"
	case kiln.JobStateScheduled:
		details = fmt.Sprintf("runs at %s (in %s)", j.ScheduledAt.Local().Format(clock), j.ScheduledAt.Sub(j.CreatedAt).Round(time.Millisecond))
	}
	if note != "" {
		details += ": " + note
	}
	v.line(time.Now(), "enqueued", fmt.Sprint(j.ID), j.Kind, "-", details)
}

func (v *liveView) batch(res []*kiln.EnqueueResult) {
	if len(res) == 0 {
		return
	}
	kinds := map[string]int{}
	var order []string
	for _, r := range res {
		if kinds[r.Job.Kind] == 0 {
			order = append(order, r.Job.Kind)
		}
		kinds[r.Job.Kind]++
	}
	var parts []string
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	ids := fmt.Sprintf("%d-%d", res[0].Job.ID, res[len(res)-1].Job.ID)
	v.line(time.Now(), "enqueued", ids, "(many)", "-",
		fmt.Sprintf("%d jobs in one transaction with EnqueueMany: %s", len(res), strings.Join(parts, ", ")))
}

func (v *liveView) event(ev *kiln.Event) {
	v.tally[ev.Kind]++
	j := ev.Job
	var details string
	if a := ev.Attempt; a != nil && a.FinishedAt != nil {
		details = "took " + fmtDuration(a.FinishedAt.Sub(a.StartedAt))
	}
	errText := func() string {
		if ev.Attempt != nil && ev.Attempt.Error != "" {
			return "error: " + oneLine(ev.Attempt.Error, 200)
		}
		return ""
	}
	switch ev.Kind {
	case kiln.EventJobStarted:
		switch late := ev.At.Sub(j.ScheduledAt); {
		case recurringNote(j) != "":
			details = recurringNote(j)
		case batchNote(j) != "":
			details = batchNote(j)
		case len(kiln.ParentIDs(j)) > 0:
			details = "continuation: jobs " + joinIDs(kiln.ParentIDs(j)) + " completed"
		case j.Attempt > 1:
			details = "retry"
		case j.ScheduledAt.Sub(j.CreatedAt) > 500*time.Millisecond:
			details = fmt.Sprintf("delayed job, due %s: started %s after", j.ScheduledAt.Local().Format(clock), fmtDuration(late))
		}
	case kiln.EventJobFailed:
		details = fmt.Sprintf("%s; retry at %s (in %s)", errText(), j.ScheduledAt.Local().Format(clock), fmtDuration(j.ScheduledAt.Sub(ev.At).Round(time.Millisecond)))
	case kiln.EventJobDiscarded:
		details = errText() + "; no attempts left"
	case kiln.EventJobCancelled:
		details = errText()
	case kiln.EventJobSnoozed:
		details = "snoozed until " + j.ScheduledAt.Local().Format(clock)
	case kiln.EventJobInterrupted:
		details = "stopped by the shutdown; it will run again"
	case kiln.EventJobRescued:
		details = "its process died; taken back to run again"
	}
	// Lines show when they are printed, a moment after the event, so
	// that their times never go back.
	v.line(time.Now(), strings.TrimPrefix(string(ev.Kind), "job_"), fmt.Sprint(j.ID), j.Kind, attemptOf(j), details)
}

// counts prints the number of jobs in each state.
func (v *liveView) counts(ctx context.Context, client *kiln.Client) {
	counts, err := client.JobCountByState(ctx)
	if err != nil {
		fmt.Fprintf(v.out, "%-12s  count jobs: %v\n", time.Now().Local().Format(clock), err)
		return
	}
	fmt.Fprintf(v.out, "%-12s  ---- jobs by state: %s\n", time.Now().Local().Format(clock), stateCounts(counts))
}

// recurringNote describes a job enqueued by a recurring entry: its entry and
// occurrence, or "" for other jobs.
func recurringNote(j *kiln.JobRow) string {
	var meta map[string]any
	if json.Unmarshal(j.Metadata, &meta) != nil {
		return ""
	}
	id, _ := meta[kiln.MetadataRecurringID].(string)
	at, _ := meta[kiln.MetadataOccurrenceAt].(string)
	if id == "" {
		return ""
	}
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		at = t.Local().Format(clock)
	}
	return fmt.Sprintf("recurring %s, occurrence %s", id, at)
}

// joinIDs writes job IDs as "3, 4".
func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

// batchNote describes a released batch callback: its batch's outcome, or ""
// for other jobs.
func batchNote(j *kiln.JobRow) string {
	o, ok := kiln.BatchOutcomeOf(j)
	if !ok {
		return ""
	}
	return fmt.Sprintf("callback of batch %s: %d jobs, %d completed, %d failed", o.BatchID, o.Total, o.Completed, o.Failed)
}

// demoTicker is the demo's hosted service: it prints a line into the
// live view every few seconds until its context ends.
func demoTicker(v *liveView) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		tick := time.NewTicker(3 * time.Second)
		defer tick.Stop()
		for n := 1; ; n++ {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				v.line(time.Now(), "service", "-", "demo.ticker", "-", fmt.Sprintf("hosted service alive, tick %d", n))
			}
		}
	}
}

// lockedWriter makes each Write to w whole, whichever goroutine makes
// it: lines printed at once do not mix.
type lockedWriter struct {
	mu sync.Mutex // guards w
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// demoLogger returns the logger of the demo's client and dashboard: at
// warn level, unless --log-level says otherwise, so that routine records
// (started, leader elected) do not break up the live table, and writing
// each record on stderr as a line of the table: the time, "log", then the
// record's level, message and attributes.
func demoLogger(stderr io.Writer, g *globals) *slog.Logger {
	level := slog.LevelWarn
	if g.levelSet {
		level = g.level
	}
	return slog.New(slog.NewTextHandler(&tableLogWriter{w: stderr}, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the table's time column says it
			}
			return a
		},
	}))
}

// tableLogWriter prefixes each record a slog.TextHandler writes (one
// Write per record) with the live table's time and event columns.
type tableLogWriter struct {
	w io.Writer
}

func (t *tableLogWriter) Write(p []byte) (int, error) {
	if _, err := fmt.Fprintf(t.w, "%-12s  %-11s %s", time.Now().Local().Format(clock), "log", p); err != nil {
		return 0, err
	}
	return len(p), nil
}
