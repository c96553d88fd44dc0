package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newQueuesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queues",
		Short: "List, pause and resume queues",
		Long: `queues shows the queues of every process sharing the database, with how many
of their jobs wait or run, and pauses and resumes them.

A paused queue's jobs are not started by any process until the queue is
resumed; jobs already running finish, and enqueues into the queue still
work (the jobs wait). The pause is kept in the database, so it holds for
processes started later too.`,
		Example: `  kiln queues list
  kiln queues pause emails
  kiln queues resume emails`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(
		newQueuesListCmd(g),
		newQueuesPauseCmd(g, true),
		newQueuesPauseCmd(g, false),
	)
	return cmd
}

func newQueuesListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List queues, whether they are paused, and their jobs",
		Long: `list prints one line per queue that has jobs waiting or running, or that has
been paused: whether it is paused, its counts of available, scheduled,
running and retryable jobs, and how long its oldest available job has been
waiting to start (the queue's latency; "-" when no job is available).
Pending and finished jobs are not counted.

The counts are read from the database's indexes, in time that grows with
the jobs counted (not with the finished jobs kept): a fraction of a second
for a hundred thousand waiting jobs.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				rows, err := c.QueueList(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				return printQueues(cmd.OutOrStdout(), rows, time.Now())
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the queues as JSON")
	return cmd
}

// printQueues prints rows as a table; now dates the oldest available jobs.
func printQueues(w io.Writer, rows []*kiln.QueueRow, now time.Time) error {
	if len(rows) == 0 {
		fmt.Fprintln(w, "No queues have jobs waiting or running, and none is paused.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "QUEUE\tSTATUS\tAVAILABLE\tSCHEDULED\tRUNNING\tRETRYABLE\tOLDEST AVAILABLE")
	for _, r := range rows {
		status := "active"
		if r.Paused {
			status = "paused"
		}
		oldest := "-"
		if r.OldestAvailableAt != nil {
			oldest = fmtUntil(max(now.Sub(*r.OldestAvailableAt), 0))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termText(r.Name, false), status, comma(int64(r.Available)),
			comma(int64(r.Scheduled)), comma(int64(r.Running)), comma(int64(r.Retryable)), oldest)
	}
	return tw.Flush()
}

func newQueuesPauseCmd(g *globals, pause bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pause QUEUE",
		Short: "Pause a queue: no process starts its jobs until it is resumed",
		Long: `pause pauses a queue for every process sharing the database: from their next
poll (a fraction of a second), no process starts a job of the queue.
Jobs already running finish, and enqueues into the queue still work: the
jobs wait, available or scheduled, until 'kiln queues resume'. A queue can
be paused before it has jobs; pausing a paused queue does nothing.`,
		Args: exactArgs(1, "one queue name"),
	}
	if !pause {
		cmd.Use = "resume QUEUE"
		cmd.Short = "Resume a paused queue"
		cmd.Long = `resume resumes a queue paused with 'kiln queues pause': the processes that
run the queue start its waiting jobs from their next poll (a fraction of
a second). Resuming a queue that is not paused does nothing.`
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		name, ctx, out := args[0], cmd.Context(), cmd.OutOrStdout()
		shown := termText(name, false)
		return withClient(ctx, g, func(c *kiln.Client) error {
			if pause {
				if err := c.QueuePause(ctx, name); err != nil {
					return err
				}
				fmt.Fprintf(out, "Queue %s paused: no process starts its jobs until 'kiln queues resume %s'. Running jobs finish; enqueues still work.\n", shown, shown)
				return nil
			}
			if err := c.QueueResume(ctx, name); err != nil {
				return err
			}
			fmt.Fprintf(out, "Queue %s resumed: the processes that run it start its jobs from their next poll.\n", shown)
			return nil
		})
	}
	return cmd
}
