package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/schedule"
)

func newRecurringCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "recurring",
		Short: "List, add, update, pause, resume, trigger and remove recurring jobs",
		Long: `recurring manages recurring entries: a schedule (cron or interval, in a time
zone) and the job enqueued at each of its occurrences. The scheduler of a
running 'kiln serve' (or of any Kiln process sharing the database) enqueues
exactly one job per occurrence.`,
		Example: `  kiln recurring add nightly-report --schedule "0 2 * * *" --tz Europe/Berlin \
      --kind http --args '{"url":"http://localhost:9000/report","method":"POST"}'
  kiln recurring list
  kiln recurring trigger nightly-report
  kiln recurring pause nightly-report`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(
		newRecurringListCmd(g),
		newRecurringShowCmd(g),
		newRecurringRunsCmd(g),
		newRecurringSetCmd(g, "add"),
		newRecurringSetCmd(g, "update"),
		newRecurringActionCmd(g, "pause", "Pause a recurring job: it enqueues nothing until resumed"),
		newRecurringActionCmd(g, "resume", "Resume a paused recurring job from its next occurrence"),
		newRecurringActionCmd(g, "trigger", "Enqueue a recurring job's job now, outside its schedule"),
		newRecurringActionCmd(g, "remove", "Remove a recurring job (the jobs it enqueued stay)"),
	)
	return cmd
}

// recurringError turns a not-found error into a one-line message.
func recurringError(id string, err error) error {
	if errors.Is(err, kiln.ErrNotFound) {
		return fmt.Errorf("recurring job %q not found", id)
	}
	return err
}

func newRecurringListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List recurring jobs",
		Long: `list prints every recurring entry: its schedule and time zone, the kind it
enqueues and the partition key its jobs carry ("-": none), its next run (UTC; none for a paused entry, whose next run is
computed when it is resumed), its last run and job, and whether it is paused
or has an error (such as a kind without a worker).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				var rows []*kiln.RecurringRow
				for cursor := ""; ; {
					page, err := c.RecurringList(cmd.Context(), cursor, 1000)
					if err != nil {
						return err
					}
					rows = append(rows, page...)
					if len(page) < 1000 {
						break
					}
					cursor = page[len(page)-1].ID
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				if len(rows) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No recurring jobs.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSCHEDULE\tZONE\tKIND\tPARTITION\tNEXT RUN (UTC)\tLAST RUN\tSTATUS")
				for _, r := range rows {
					status := "active"
					if r.Paused {
						status = "paused"
					}
					if r.LastError != "" {
						status += ": " + oneLine(r.LastError, 60)
					}
					last := "-"
					if r.LastRunAt != nil {
						last = fmt.Sprintf("%s (job %d)", fmtTime(r.LastRunAt, timeLayout), r.LastJobID)
					}
					next := fmtTime(&r.NextRunAt, timeLayout)
					if r.Paused {
						next = "- (paused)" // nothing runs until resumed, from then on
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termText(r.ID, false), termText(r.Schedule, false), zoneName(r.TimeZone), termText(r.Kind, false),
						orDefault(oneLine(r.Partition, 40), "-"), next, last, status)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entries as JSON")
	return cmd
}

func zoneName(tz string) string {
	if tz == "" {
		return "UTC"
	}
	return tz
}

func newRecurringShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a recurring job, its next runs and its latest runs",
		Long: `show prints one recurring entry: its schedule with a description, its job,
its overlap and misfire policies, its next 5 runs (in its time zone and in
UTC; none while it is paused), and its 10 latest runs (as "kiln recurring
runs" prints them): each run's job, its current state, how late it started
and how long it took, and the occurrences skipped, with why.`,
		Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				row, err := c.RecurringGet(cmd.Context(), id)
				if err != nil {
					return recurringError(id, err)
				}
				runs, err := c.RecurringRuns(cmd.Context(), id, 10)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"entry": row, "runs": runs})
				}
				printRecurring(cmd.OutOrStdout(), row, runs)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the entry and its runs as JSON")
	return cmd
}

func printRecurring(w io.Writer, r *kiln.RecurringRow, runs []*kiln.RecurringRun) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%s\n", termText(r.ID, false))
	fmt.Fprintf(tw, "Schedule\t%s (%s)\n", termText(r.Schedule, false), schedule.Describe(r.Schedule))
	fmt.Fprintf(tw, "Time zone\t%s\n", zoneName(r.TimeZone))
	fmt.Fprintf(tw, "Job\tkind %s, queue %s, priority %d, max attempts %d\n", termText(r.Kind, false), termText(r.Queue, false), r.Priority, r.MaxAttempts)
	fmt.Fprintf(tw, "Args\t%s\n", termText(string(r.Args), false))
	if r.Partition != "" {
		fmt.Fprintf(tw, "Partition\t%s\n", termText(r.Partition, false))
	}
	fmt.Fprintf(tw, "Policies\toverlap %s, misfire %s (catch up at most %d)\n", r.Overlap, r.Misfire, r.MisfireMax)
	fmt.Fprintf(tw, "Paused\t%v\n", r.Paused)
	if r.LastError != "" {
		fmt.Fprintf(tw, "Error\t%s\n", termText(r.LastError, false))
	}
	tw.Flush()
	if sched, err := schedule.Parse(r.Schedule, r.TimeZone); err == nil {
		fmt.Fprintln(w, "\nNext runs:")
		if r.Paused {
			fmt.Fprintln(w, "  none while paused (resume runs it from its next occurrence)")
		} else {
			loc := time.UTC
			if r.TimeZone != "" {
				loc, _ = time.LoadLocation(r.TimeZone) // Parse loaded it
			}
			printFireTimes(w, append([]time.Time{r.NextRunAt}, schedule.NextN(sched, r.NextRunAt, 4)...), loc)
		}
	}
	fmt.Fprintln(w, "\nLatest runs:")
	printRuns(w, runs)
}

// recurringFlags are the flags of add and update.
type recurringFlags struct {
	schedule, tz, kind, args, queue string
	priority, maxAttempts           int
	overlap, misfire                string
	misfireMax                      int
	partition                       string
	anyKind                         bool
}

func newRecurringSetCmd(g *globals, verb string) *cobra.Command {
	var f recurringFlags
	short := map[string]string{
		"add":    "Add a recurring job (fails if the ID exists)",
		"update": "Update a recurring job: the flags given replace its settings",
	}[verb]
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Long: short + `.

The schedule is a cron expression (5 fields, or 6 with leading seconds), a
descriptor (@hourly, @daily, @weekly, @monthly, @yearly) or "@every DURATION"
(at least 1s), read in --tz (an IANA zone; default UTC). Check one with
kiln cron next'. The kind must be one this binary runs (http, demo.*)
unless --any-kind is given. --partition gives every occurrence's job a
partition key (its tenant or account, for per-key limits and fair claims;
see docs/flow-control.md); update keeps the stored key unless given, and
--partition "" removes it.`,
		Args: exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecurringSet(cmd, g, verb, args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.schedule, "schedule", "", "cron expression, descriptor or @every interval")
	fl.StringVar(&f.tz, "tz", "", "IANA time zone of the cron fields (default UTC)")
	fl.StringVar(&f.kind, "kind", "", "the job kind to enqueue")
	fl.StringVar(&f.args, "args", "", argsFlagHelp+" (default {})")
	fl.StringVar(&f.queue, "queue", "", "the queue (default \"default\")")
	fl.IntVar(&f.priority, "priority", 0, "priority 1 (first) to 4 (last); default 1")
	fl.IntVar(&f.maxAttempts, "max-attempts", 0, "attempts before a job is discarded (default 25)")
	fl.StringVar(&f.overlap, "overlap", "", "skip (default), allow or queue_one")
	fl.StringVar(&f.misfire, "misfire", "", "run_once (default), skip or run_all")
	fl.IntVar(&f.misfireMax, "misfire-max", 0, "with run_all, catch up at most this many missed runs (default 100)")
	fl.StringVar(&f.partition, "partition", "", "the partition key of every occurrence's job (default none)")
	fl.BoolVar(&f.anyKind, "any-kind", false, "allow a kind this binary does not know")
	return cmd
}

func runRecurringSet(cmd *cobra.Command, g *globals, verb, id string, f *recurringFlags) error {
	ctx := cmd.Context()
	st, err := openDatabase(ctx, g.database, mustExist)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := &kiln.Config{Store: st, Logger: g.logger}
	if !f.anyKind {
		cfg.Workers = knownWorkers(nil)
	}
	client, err := kiln.NewClient(cfg)
	if err != nil {
		return err
	}
	def, err := recurringDefinition(ctx, client, verb, id, cmd, f)
	if err != nil {
		return err
	}
	row, err := client.RecurringAddOrUpdate(ctx, def)
	if errors.Is(err, kiln.ErrUnknownKind) {
		return fmt.Errorf("%s; add --any-kind for a worker that only your program has", strings.TrimPrefix(err.Error(), "kiln: "))
	}
	if err != nil {
		return inputError(err, recurringFlagNames)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Recurring job %q %sed: %s (%s), next run %s.\n", row.ID,
		strings.TrimSuffix(verb, "e"), row.Schedule, schedule.Describe(row.Schedule), row.NextRunAt.UTC().Format(time.RFC3339))
	return nil
}

// recurringFlagNames maps the client's fields to the flags of recurring add
// and update.
var recurringFlagNames = func() map[string]string {
	m := map[string]string{"kind": "--kind", "id": "ID"}
	maps.Copy(m, jobFlags)
	return m
}()

// recurringDefinition builds the definition that add or update stores: for
// add, from the flags; for update, the stored entry with the flags given.
func recurringDefinition(ctx context.Context, c *kiln.Client, verb, id string, cmd *cobra.Command, f *recurringFlags) (kiln.RecurringJob, error) {
	existing, err := c.RecurringGet(ctx, id)
	switch {
	case verb == "add" && err == nil:
		return kiln.RecurringJob{}, fmt.Errorf("recurring job %q exists; change it with 'kiln recurring update %s'", id, id)
	case verb == "add" && !errors.Is(err, kiln.ErrNotFound):
		return kiln.RecurringJob{}, err
	case verb == "update" && err != nil:
		return kiln.RecurringJob{}, recurringError(id, err)
	}
	def := kiln.RecurringJob{ID: id, Opts: &kiln.EnqueueOpts{}}
	var raw json.RawMessage
	if existing != nil {
		def.Schedule, def.TimeZone = existing.Schedule, existing.TimeZone
		def.Overlap, def.Misfire, def.MisfireMax = existing.Overlap, existing.Misfire, existing.MisfireMax
		def.Opts = &kiln.EnqueueOpts{Queue: existing.Queue, Priority: existing.Priority, MaxAttempts: existing.MaxAttempts, Tags: existing.Tags,
			Partition: existing.Partition}
		raw = existing.Args
		f.kind = flagOr(cmd, "kind", f.kind, existing.Kind)
	}
	changed := cmd.Flags().Changed
	if changed("schedule") || existing == nil {
		if f.schedule == "" {
			return def, usageErrorf("--schedule is required")
		}
		def.Schedule = f.schedule
	}
	if changed("tz") {
		def.TimeZone = f.tz
	}
	if f.kind == "" {
		return def, usageErrorf("--kind is required")
	}
	if changed("args") || existing == nil {
		if raw, err = readArgs(cmd, orDefault(f.args, "{}")); err != nil {
			return def, err
		}
	}
	def.Args = kiln.RawArgs{JobKind: f.kind, JSON: raw}
	if changed("queue") {
		def.Opts.Queue = f.queue
	}
	if changed("priority") {
		def.Opts.Priority = f.priority
	}
	if changed("max-attempts") {
		def.Opts.MaxAttempts = f.maxAttempts
	}
	if changed("overlap") {
		def.Overlap = kiln.OverlapPolicy(f.overlap)
	}
	if changed("misfire") {
		def.Misfire = kiln.MisfirePolicy(f.misfire)
	}
	if changed("misfire-max") {
		def.MisfireMax = f.misfireMax
	}
	if changed("partition") {
		def.Opts.Partition = f.partition
	}
	return def, nil
}

// flagOr returns the flag's value if it was given, else the stored one.
func flagOr(cmd *cobra.Command, name, flag, stored string) string {
	if cmd.Flags().Changed(name) {
		return flag
	}
	return stored
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newRecurringActionCmd(g *globals, verb, short string) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Long:  short + ".",
		Args:  exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				switch verb {
				case "pause":
					if _, err := c.RecurringPause(ctx, id); err != nil {
						return recurringError(id, err)
					}
					fmt.Fprintf(out, "Recurring job %q paused.\n", id)
				case "resume":
					row, err := c.RecurringResume(ctx, id)
					if err != nil {
						return recurringError(id, err)
					}
					fmt.Fprintf(out, "Recurring job %q resumed; next run %s.\n", id, row.NextRunAt.UTC().Format(time.RFC3339))
				case "trigger":
					job, err := c.RecurringTrigger(ctx, id)
					if err != nil {
						return recurringError(id, err)
					}
					fmt.Fprintf(out, "Recurring job %q triggered: enqueued job %d.\n", id, job.ID)
				case "remove":
					if _, err := c.RecurringRemove(ctx, id); err != nil {
						return recurringError(id, err)
					}
					fmt.Fprintf(out, "Recurring job %q removed; the jobs it enqueued stay.\n", id)
				}
				return nil
			})
		},
	}
}
