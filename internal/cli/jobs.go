package cli

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newJobsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List, show, cancel, retry, delete and move jobs",
		Long: `jobs inspects and controls the jobs in the database: list them with filters,
show one with its attempts, and cancel, retry or delete one, or every job
that filters match (and move them to another queue), in batches, with a
progress display.`,
		Example: `  kiln jobs list --state retryable --state discarded
  kiln jobs show 42
  kiln jobs retry 42
  kiln jobs retry --state discarded --kind email.send --dry-run
  kiln jobs retry --state discarded --kind email.send`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(
		newJobsListCmd(g),
		newJobsShowCmd(g),
		withBulk(g, newJobsCancelCmd(g), kiln.BulkCancel),
		withBulk(g, newJobsRetryCmd(g), kiln.BulkRetry),
		withBulk(g, newJobsDeleteCmd(g), kiln.BulkDelete),
		newJobsMoveCmd(g),
	)
	return cmd
}

// withClient opens the database and calls fn with an enqueue-only client
// on it, then closes the database.
func withClient(ctx context.Context, g *globals, fn func(*kiln.Client) error) error {
	return withClientWorkers(ctx, g, nil, fn)
}

// withClientWorkers is withClient with workers registered (not started).
func withClientWorkers(ctx context.Context, g *globals, workers *kiln.Workers, fn func(*kiln.Client) error) error {
	st, err := openDatabase(ctx, g.database, mustExist)
	if err != nil {
		return err
	}
	defer st.Close()
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Logger: g.logger})
	if err != nil {
		return err
	}
	return fn(client)
}

// parseJobID parses a job ID argument.
func parseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErrorf("invalid job ID %q: want a positive number", s)
	}
	return id, nil
}

// jobError turns the error of an operation on job id into a one-line
// message for the sentinel errors; verb is what was attempted ("cancel").
func jobError(ctx context.Context, c *kiln.Client, verb string, id int64, err error) error {
	switch {
	case errors.Is(err, kiln.ErrNotFound):
		return fmt.Errorf("job %d not found", id)
	case errors.Is(err, kiln.ErrJobRunning):
		return fmt.Errorf("cannot %s job %d: it is running; cancel it first with 'kiln jobs cancel %d'", verb, id, id)
	case errors.Is(err, kiln.ErrJobState):
		if row, gerr := c.JobGet(ctx, id); gerr == nil {
			return fmt.Errorf("cannot %s job %d: it is %s", verb, id, row.State)
		}
		return fmt.Errorf("cannot %s job %d in its current state", verb, id)
	}
	return err
}

func newJobsCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a job",
		Long: `cancel cancels a job so that it does not run (again). A job that waits
(scheduled, available or retryable) is cancelled at once. A running job is
asked to stop: the process running it cancels its context within about half
a second, and the job ends cancelled unless it completes first. A completed
or discarded job cannot be cancelled.`,
		Args: exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return withClient(ctx, g, func(c *kiln.Client) error {
				row, err := c.JobCancel(ctx, id)
				if err != nil {
					return jobError(ctx, c, "cancel", id, err)
				}
				out := cmd.OutOrStdout()
				if row.State == kiln.JobStateRunning {
					fmt.Fprintf(out, "Cancel requested for job %d (%s): it is running, and its process will cancel it shortly unless it completes first.\n", id, termText(row.Kind, false))
					return nil
				}
				fmt.Fprintf(out, "Job %d (%s) is %s.\n", id, termText(row.Kind, false), row.State)
				return nil
			})
		},
	}
}

func newJobsRetryCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "retry ID",
		Short: "Run a job again now",
		Long: `retry makes a job available to run now, whatever is left of its backoff or
delay: a discarded, cancelled, completed, retryable or scheduled job. A job
that used all its attempts gets one more. A running job cannot be retried.`,
		Args: exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return withClient(ctx, g, func(c *kiln.Client) error {
				row, err := c.JobRetry(ctx, id)
				if err != nil {
					return jobError(ctx, c, "retry", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Job %d (%s) is %s: it runs as soon as a worker of queue %s is free (attempt %d of %d).\n",
					id, termText(row.Kind, false), row.State, termText(row.Queue, false), row.Attempt+1, row.MaxAttempts)
				return nil
			})
		},
	}
}

func newJobsDeleteCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a job and its history",
		Long: `delete removes a job and its attempts from the database. A running job
cannot be deleted: cancel it first.`,
		Args: exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return withClient(ctx, g, func(c *kiln.Client) error {
				row, err := c.JobDelete(ctx, id)
				if err != nil {
					return jobError(ctx, c, "delete", id, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Deleted job %d (%s, %s).\n", id, termText(row.Kind, false), row.State)
				return nil
			})
		},
	}
}
