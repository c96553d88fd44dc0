package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

type enqueueOptions struct {
	args        string
	queue       string
	in          time.Duration
	at          string
	maxAttempts int
	priority    int
	tags        []string
	partition   string
	unique      bool
	anyKind     bool
	json        bool
}

func newEnqueueCmd(g *globals) *cobra.Command {
	o := &enqueueOptions{}
	cmd := &cobra.Command{
		Use:   "enqueue KIND --args JSON|@FILE|-",
		Short: "Enqueue a job",
		Long: `enqueue stores one job of kind KIND, with --args as its JSON arguments, and
prints it. --args @FILE reads the args from a file and --args - from
stdin, for args too large for a command line. The job runs in a process that has a worker for its kind, such
as 'kiln serve' for the http kind.

KIND must be a kind this binary knows: http (an HTTP request; see the
jobs/httpjob package) or one of the demo kinds (demo.write_file,
demo.checksum, demo.http_call, demo.flaky, demo.sleep). Their args are
checked before the job is stored. To enqueue a kind that only your own
program knows, add --any-kind: the args are then stored as given.

The job runs now, after a delay (--in), or at a time (--at). With --unique,
nothing is enqueued if an unfinished job of the same kind and args exists;
that job is printed instead.`,
		Example: `  kiln enqueue http --args '{"url":"https://example.com/hook","body":{"id":42}}'
  kiln enqueue demo.sleep --args '{"millis":500}' --in 10m --tag slow
  kiln enqueue report.build --any-kind --args @big-args.json
  produce-args | kiln enqueue report.build --any-kind --args -
  kiln enqueue email.send --any-kind --args '{"to":"a@example.com"}' --queue email --json
  kiln enqueue report.build --any-kind --args '{"month":"2026-11"}' --partition tenant-42`,
		Args: exactArgs(1, "one KIND"),
		RunE: func(cmd *cobra.Command, args []string) error { return runEnqueue(cmd, g, o, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.args, "args", "{}", argsFlagHelp)
	f.StringVar(&o.queue, "queue", "", "the queue to run in (default \"default\")")
	f.DurationVar(&o.in, "in", 0, "run after this delay, such as 90s or 10m")
	f.StringVar(&o.at, "at", "", "run at this time, in RFC 3339 (2030-01-02T15:04:05Z)")
	f.IntVar(&o.maxAttempts, "max-attempts", 0, "attempts before the job is discarded (default: the kind's, else 25)")
	f.IntVar(&o.priority, "priority", 0, "1 (runs first) to 4 (runs last) (default 1)")
	f.StringArrayVar(&o.tags, "tag", nil, "a tag to label the job with (repeatable)")
	f.StringVar(&o.partition, "partition", "", "the job's partition key (tenant, customer) for per-key limits and fairness (default: the args', else none)")
	f.BoolVar(&o.unique, "unique", false, "enqueue nothing if an unfinished job of the same kind and args exists")
	f.BoolVar(&o.anyKind, "any-kind", false, "accept a kind this binary has no worker for")
	f.BoolVar(&o.json, "json", false, "print the job as JSON")
	return cmd
}

// opts checks the flags and returns the enqueue options they give.
func (o *enqueueOptions) opts(now time.Time) (*kiln.EnqueueOpts, error) {
	opts := &kiln.EnqueueOpts{Queue: o.queue, MaxAttempts: o.maxAttempts, Priority: o.priority, Tags: o.tags,
		Partition: o.partition}
	switch {
	case o.in != 0 && o.at != "":
		return nil, usageErrorf("give --in or --at, not both")
	case o.in < 0:
		return nil, usageErrorf("--in %s is negative", o.in)
	case o.in > 0:
		opts.RunIn = o.in
	case o.at != "":
		at, err := time.Parse(time.RFC3339, o.at)
		if err != nil {
			return nil, usageErrorf("invalid --at %q: want an RFC 3339 time such as %s", o.at, now.Add(time.Hour).UTC().Format(time.RFC3339))
		}
		opts.RunAt = at
	}
	if o.unique {
		opts.Unique = &kiln.UniqueOpts{}
	}
	return opts, nil
}

// enqueueFlags maps the client's fields to enqueue's flags.
var enqueueFlags = func() map[string]string {
	m := map[string]string{"kind": "KIND"}
	maps.Copy(m, jobFlags)
	return m
}()

// argsFlagHelp is the help of the --args flags.
const argsFlagHelp = "the job's args: JSON, @FILE to read them from a file, or - to read them from stdin"

// readArgs returns the JSON that an --args value gives: the value itself,
// the content of FILE for "@FILE", or all of stdin for "-" (neither is
// valid JSON, so nothing is ambiguous). Args too large for a command line
// (some megabytes) pass as a file or on stdin. It returns a usage error
// naming the file if it cannot be read, and one naming where the JSON came
// from if it is not one valid JSON value.
func readArgs(cmd *cobra.Command, value string) (json.RawMessage, error) {
	from, data := "--args", []byte(value)
	switch {
	case value == "-":
		from = "--args - (stdin)"
		var err error
		if data, err = io.ReadAll(cmd.InOrStdin()); err != nil {
			return nil, fmt.Errorf("--args -: read stdin: %w", err)
		}
	case strings.HasPrefix(value, "@"):
		from = "--args " + value
		name := value[1:]
		if name == "" {
			return nil, usageErrorf("--args @: want a file name after @, such as @args.json")
		}
		var err error
		if data, err = os.ReadFile(name); err != nil {
			return nil, usageErrorf("--args %s: %v", value, err)
		}
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, usageErrorf("%s is not valid JSON: %v", from, err)
	}
	return json.RawMessage(data), nil
}

func runEnqueue(cmd *cobra.Command, g *globals, o *enqueueOptions, kind string) error {
	ctx := cmd.Context()
	raw, err := readArgs(cmd, o.args)
	if err != nil {
		return err
	}
	opts, err := o.opts(time.Now())
	if err != nil {
		return err
	}
	args := kiln.RawArgs{JobKind: kind, JSON: raw}
	cfg := &kiln.Config{Logger: g.logger}
	if !o.anyKind {
		// A client with workers rejects kinds that have none, and args
		// that do not fit their kind's Go type.
		cfg.Workers = knownWorkers(nil)
	}

	st, err := openDatabase(ctx, g.database, mustExist)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store = st
	client, err := kiln.NewClient(cfg)
	if err != nil {
		return err
	}
	res, err := client.Enqueue(ctx, args, opts)
	if errors.Is(err, kiln.ErrUnknownKind) {
		return fmt.Errorf("%s; add --any-kind to enqueue it for a worker that only your program has",
			strings.TrimPrefix(err.Error(), "kiln: enqueue: "))
	}
	if err != nil {
		return inputError(err, enqueueFlags)
	}

	out := cmd.OutOrStdout()
	if o.json {
		if res.UniqueSkipped {
			fmt.Fprintf(cmd.ErrOrStderr(), "An unfinished job with the same kind and args exists (job %d); nothing was enqueued.\n", res.Job.ID)
		}
		return writeJSON(out, res.Job)
	}
	if res.UniqueSkipped {
		fmt.Fprintf(out, "An unfinished job with the same kind and args exists; nothing was enqueued.\n")
	} else {
		fmt.Fprintf(out, "Enqueued job %d.\n", res.Job.ID)
	}
	printJobBrief(out, res.Job, time.Now())
	return nil
}

// printJobBrief prints a job's ID, kind, queue, state and due time.
func printJobBrief(w io.Writer, row *kiln.JobRow, now time.Time) {
	due := fmtTime(&row.ScheduledAt, timeLayout)
	if d := row.ScheduledAt.Sub(now); row.State == kiln.JobStateScheduled && d > 0 {
		due += " (in " + fmtUntil(d) + ")"
	}
	fmt.Fprintf(w, "  id:           %d\n", row.ID)
	fmt.Fprintf(w, "  kind:         %s\n", termText(row.Kind, false))
	fmt.Fprintf(w, "  queue:        %s\n", termText(row.Queue, false))
	fmt.Fprintf(w, "  state:        %s\n", row.State)
	fmt.Fprintf(w, "  scheduled_at: %s\n", due)
}
