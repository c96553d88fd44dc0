package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// bulkOptions are the filter flags of a bulk retry, cancel, delete or
// move.
type bulkOptions struct {
	states        []string
	kinds         []string
	queues        []string
	tag           string
	args          string // --args-contains
	createdFrom   string
	createdBefore string
	all           bool
	dryRun        bool
	to            string // move's --to
}

// bulkPoll is how often a bulk command reads its operation's progress.
const bulkPoll = 200 * time.Millisecond

// bulkFlags are the flags that select jobs.
var bulkFlags = []string{"state", "kind", "queue", "tag", "args-contains", "created-from", "created-before", "all"}

// addFlags adds o's flags to cmd.
func (o *bulkOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringSliceVar(&o.states, "state", nil, "every job in this state (repeatable)")
	f.StringArrayVar(&o.kinds, "kind", nil, "every job of this kind (repeatable)")
	f.StringArrayVar(&o.queues, "queue", nil, "every job in this queue (repeatable)")
	f.StringVar(&o.tag, "tag", "", "every job with this tag")
	f.StringVar(&o.args, "args-contains", "", "every job whose args (JSON) contain this text")
	f.StringVar(&o.createdFrom, "created-from", "", "every job created at or after this time (RFC 3339, or a duration ago: 24h)")
	f.StringVar(&o.createdBefore, "created-before", "", "every job created before this time (RFC 3339, or a duration ago: 1h)")
	f.BoolVar(&o.all, "all", false, "every job (no filter)")
	f.BoolVar(&o.dryRun, "dry-run", false, "print how many jobs the filters match, and change nothing")
}

// given reports whether a flag that selects jobs was given.
func (o *bulkOptions) given(changed func(string) bool) bool {
	return slices.ContainsFunc(bulkFlags, changed)
}

// filter checks the flags and returns the filter they give; now is the
// time a duration counts back from.
func (o *bulkOptions) filter(changed func(string) bool, now time.Time) (kiln.JobFilter, error) {
	f := kiln.JobFilter{Kinds: o.kinds, Queues: o.queues, Tag: o.tag, ArgsContains: o.args}
	if !o.given(changed) {
		return f, usageErrorf("give a job ID, or filters (--state, --kind, --queue, --tag, --args-contains, --created-from, --created-before), or --all")
	}
	for _, fl := range []struct{ flag, value string }{{"tag", o.tag}, {"args-contains", o.args}} {
		if fl.value == "" && changed(fl.flag) {
			return f, usageErrorf("--%s is empty: give the text to match, or leave the flag out", fl.flag)
		}
	}
	if o.all && slices.ContainsFunc(bulkFlags[:len(bulkFlags)-1], changed) {
		return f, usageErrorf("--all acts on every job: leave out the filters, or --all")
	}
	for _, s := range o.states {
		state := kilntype.JobState(strings.ToLower(strings.TrimSpace(s)))
		if !state.Valid() {
			return f, usageErrorf("invalid --state %q: want one of %s", s, strings.Join(stateNames(), ", "))
		}
		if !slices.Contains(f.States, state) {
			f.States = append(f.States, state)
		}
	}
	var err error
	if f.CreatedFrom, err = parseWhen("created-from", o.createdFrom, now); err != nil {
		return f, err
	}
	if f.CreatedBefore, err = parseWhen("created-before", o.createdBefore, now); err != nil {
		return f, err
	}
	return f, nil
}

// parseWhen reads a time flag: RFC 3339, or a duration before now; ""
// gives the zero time.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d).UTC(), nil
	}
	return time.Time{}, usageErrorf("invalid --%s %q: want an RFC 3339 time (2030-01-02T15:04:05Z) or a duration ago (24h)", flag, s)
}

// withBulk makes cmd, a command acting on one job ID, act instead on
// every job its filter flags match when it is given no ID.
func withBulk(g *globals, cmd *cobra.Command, action kiln.BulkAction) *cobra.Command {
	o := &bulkOptions{}
	one := cmd.RunE
	cmd.Use = strings.TrimSuffix(cmd.Use, " ID") + " {ID | --state S --kind K ... | --all}"
	cmd.Short += ", or every job a filter matches"
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) > 1 {
			return usageErrorf("give one job ID, or filters without an ID")
		}
		return nil
	}
	cmd.Long += `

Without an ID, it acts on every job that the filters match: ` + bulkHelp + `
It runs in the background of this command, in batches of ` + comma(kiln.BulkBatchSize) + ` jobs,
showing its progress; jobs whose state does not allow it are skipped and
counted. --dry-run prints how many jobs match and changes nothing.
Interrupted (Ctrl-C), the operation stops after its batch under way; the
batches made stay made.`
	cmd.Example = fmt.Sprintf(`  kiln jobs %[1]s 42
  kiln jobs %[1]s --state discarded --kind email.send --dry-run
  kiln jobs %[1]s --state discarded --kind email.send
  kiln jobs %[1]s --queue billing --created-before 24h`, action)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 1 {
			if o.given(cmd.Flags().Changed) || o.dryRun {
				return usageErrorf("give one job ID, or filters without an ID, not both")
			}
			return one(cmd, args)
		}
		return runBulk(cmd, g, action, "", o)
	}
	o.addFlags(cmd)
	return cmd
}

// bulkHelp names the filter flags in help texts.
const bulkHelp = `--state,
--kind and --queue (each repeatable), --tag, --args-contains,
--created-from and --created-before (RFC 3339 times, or durations ago
such as 24h), or --all for every job.`

func newJobsMoveCmd(g *globals) *cobra.Command {
	o := &bulkOptions{}
	cmd := &cobra.Command{
		Use:   "move --to QUEUE {--state S --kind K ... | --all}",
		Short: "Move every job a filter matches to another queue",
		Long: `move moves every job that the filters match to the queue --to, except
running jobs: their state, priority and due time stay, and available jobs
are claimed by the workers of their new queue. The filters: ` + bulkHelp + `

It runs in the background of this command, in batches of ` + comma(kiln.BulkBatchSize) + ` jobs,
showing its progress. --dry-run prints how many jobs match and moves
nothing. Interrupted (Ctrl-C), it stops after its batch under way; the
batches made stay made.`,
		Example: `  kiln jobs move --queue default --kind report.build --to reports --dry-run
  kiln jobs move --queue default --kind report.build --to reports`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.to == "" {
				return usageErrorf("--to is required: the queue to move the jobs to")
			}
			return runBulk(cmd, g, kiln.BulkMove, o.to, o)
		},
	}
	o.addFlags(cmd)
	cmd.Flags().StringVar(&o.to, "to", "", "the queue to move the jobs to")
	return cmd
}

// runBulk counts the jobs o's filter matches, and unless a dry run,
// applies action to them with a bulk operation run by this command,
// showing its progress until it ends.
func runBulk(cmd *cobra.Command, g *globals, action kiln.BulkAction, target string, o *bulkOptions) error {
	filter, err := o.filter(cmd.Flags().Changed, time.Now())
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	out := cmd.OutOrStdout()
	return withClient(ctx, g, func(c *kiln.Client) error {
		n, err := c.JobCountMatching(ctx, &filter)
		if err != nil {
			return err
		}
		if o.dryRun {
			fmt.Fprintf(out, "%s jobs match; nothing changed (dry run).\n", comma(int64(n)))
			return nil
		}
		if n == 0 {
			fmt.Fprintln(out, "No jobs match; nothing to do.")
			return nil
		}
		fmt.Fprintf(out, "%s jobs match; %s.\n", comma(int64(n)), bulkVerb(action, target))
		// The batches run in this process: they must not outlive it.
		defer func() { _ = c.Stop(context.WithoutCancel(ctx)) }() // a client that runs no job stops at once
		op, err := c.JobBulk(context.WithoutCancel(ctx), &kiln.BulkParams{Action: action, Filter: filter, TargetQueue: target})
		if err != nil {
			return err
		}
		op, err = followBulk(ctx, c, op, int64(n), out)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "Bulk operation %d %s: %s of %s jobs matched changed, %s skipped (their state did not allow it), in %s batches.\n",
			op.ID, op.State, comma(op.Changed), comma(op.Matched), comma(op.Skipped), comma(op.Batches))
		switch op.State {
		case kiln.BulkFailed:
			return fmt.Errorf("bulk operation %d failed: %s", op.ID, op.Error)
		case kiln.BulkCancelled:
			return errors.New("cancelled: the batches made stay made")
		}
		return nil
	})
}

// followBulk shows op's progress (of about total jobs) until it ends; when
// ctx ends (Ctrl-C), it cancels op and waits for it to stop.
func followBulk(ctx context.Context, c *kiln.Client, op *kiln.BulkOperation, total int64, out io.Writer) (*kiln.BulkOperation, error) {
	bar := newProgress(out, string(op.Action), max(total, 1))
	defer bar.finish()
	t := time.NewTicker(bulkPoll)
	defer t.Stop()
	cancelled := false
	bg := context.WithoutCancel(ctx)
	for !op.Done() && op.State != kiln.BulkInterrupted {
		select {
		case <-ctx.Done():
			if !cancelled {
				cancelled = true
				if _, err := c.JobBulkCancel(bg, op.ID); err != nil {
					return nil, err
				}
			}
		case <-t.C:
		}
		var err error
		if op, err = c.JobBulkGet(bg, op.ID); err != nil {
			return nil, err
		}
		bar.set(min(op.Matched, total))
	}
	return op, nil
}

// bulkVerb says what action does, for messages: "retrying them".
func bulkVerb(action kiln.BulkAction, target string) string {
	switch action {
	case kiln.BulkRetry:
		return "retrying them"
	case kiln.BulkCancel:
		return "cancelling them"
	case kiln.BulkDelete:
		return "deleting them"
	}
	return "moving them to queue " + target
}
