package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newBulkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bulk",
		Short: "List, show, cancel and resume bulk operations",
		Long: `bulk manages the bulk operations that "kiln jobs retry|cancel|delete|move"
with filters, the dashboard's "all matching" actions and POST /api/jobs/bulk
start: list them, show one's progress, cancel one (from any process sharing
the database), or resume an interrupted one in this process, following its
progress until it ends. Operations that ended are deleted after
Config.BulkRetention (7 days by default).`,
		Example: `  kiln bulk list
  kiln bulk show 12
  kiln bulk cancel 12
  kiln bulk resume 12`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newBulkListCmd(g), newBulkShowCmd(g), newBulkCancelCmd(g), newBulkResumeCmd(g))
	return cmd
}

// parseBulkID parses a bulk operation ID argument.
func parseBulkID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageErrorf("invalid bulk operation ID %q: want a positive number", s)
	}
	return id, nil
}

// bulkError turns the error of an operation on bulk operation id into a
// one-line message for the sentinel errors.
func bulkError(id int64, err error) error {
	switch {
	case errors.Is(err, kiln.ErrNotFound):
		return fmt.Errorf("bulk operation %d not found", id)
	case errors.Is(err, kiln.ErrJobState):
		return fmt.Errorf("bulk operation %d cannot be resumed: only an interrupted one (or a running one whose process is gone) can", id)
	}
	return err
}

func newBulkListCmd(g *globals) *cobra.Command {
	var (
		cursor int64
		limit  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List bulk operations, newest first",
		Long: `list prints bulk operations, newest first: --limit of them (20 by default, at
most 1000), after --cursor (the ID of the last operation of the previous
page, which the command prints when more remain).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return usageErrorf("--limit %d: want 1 to 1000", limit)
			}
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				ops, err := c.JobBulkList(cmd.Context(), cursor, limit)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), ops)
				}
				if len(ops) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No bulk operations.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tACTION\tSTATE\tPROGRESS\tMATCHED\tCHANGED\tSKIPPED\tCREATED (UTC)")
				for _, op := range ops {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%d%%\t%s\t%s\t%s\t%s\n", op.ID, termText(op.Describe(), false), op.State, int(op.Progress()*100),
						comma(op.Matched), comma(op.Changed), comma(op.Skipped), op.CreatedAt.Format("2006-01-02 15:04:05"))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(ops) == limit {
					fmt.Fprintf(cmd.OutOrStdout(), "More operations: --cursor %d\n", ops[len(ops)-1].ID)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.Int64Var(&cursor, "cursor", 0, "the ID of the last operation of the previous page")
	f.IntVar(&limit, "limit", 20, "how many operations at most")
	f.BoolVar(&asJSON, "json", false, "print the operations as JSON")
	return cmd
}

// printBulk writes op's fields, one a line.
func printBulk(w io.Writer, op *kiln.BulkOperation) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\t%d\n", op.ID)
	fmt.Fprintf(tw, "Action\t%s\n", termText(op.Describe(), false))
	filter, err := json.Marshal(op.Filter)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "Filter\t%s\n", termText(string(filter), false))
	fmt.Fprintf(tw, "State\t%s\n", op.State)
	fmt.Fprintf(tw, "Progress\t%d%% (IDs %d to %d, cursor %d)\n", int(op.Progress()*100), op.FirstID, op.LastID, op.Cursor)
	fmt.Fprintf(tw, "Matched\t%s\n", comma(op.Matched))
	fmt.Fprintf(tw, "Changed\t%s\n", comma(op.Changed))
	fmt.Fprintf(tw, "Skipped\t%s (their state did not allow it)\n", comma(op.Skipped))
	fmt.Fprintf(tw, "Batches\t%s\n", comma(op.Batches))
	fmt.Fprintf(tw, "Owner\t%s\n", termText(op.Owner, false))
	fmt.Fprintf(tw, "Created\t%s\n", op.CreatedAt.Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(tw, "Updated\t%s\n", op.UpdatedAt.Format("2006-01-02 15:04:05 UTC"))
	if op.FinishedAt != nil {
		fmt.Fprintf(tw, "Finished\t%s\n", op.FinishedAt.Format("2006-01-02 15:04:05 UTC"))
	}
	if op.CancelRequestedAt != nil {
		fmt.Fprintf(tw, "Cancel requested\t%s\n", op.CancelRequestedAt.Format("2006-01-02 15:04:05 UTC"))
	}
	if op.Error != "" {
		fmt.Fprintf(tw, "Error\t%s\n", termText(op.Error, false))
	}
	return tw.Flush()
}

func newBulkShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a bulk operation and its progress",
		Long: `show prints a bulk operation: its action and filter, its state, its
progress (the share of its range of job IDs examined), how many jobs it
matched, changed and skipped (their state did not allow the action), in
how many batches, the process that runs it, and its times (UTC).`,
		Args: exactArgs(1, "a bulk operation ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBulkID(args[0])
			if err != nil {
				return err
			}
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				op, err := c.JobBulkGet(cmd.Context(), id)
				if err != nil {
					return bulkError(id, err)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), op)
				}
				return printBulk(cmd.OutOrStdout(), op)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the operation as JSON")
	return cmd
}

func newBulkCancelCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a bulk operation",
		Long: `cancel requests the end of a bulk operation: a running one stops at its
process's next batch (the batches made stay made); an interrupted one, or a
running one whose process is gone, is cancelled at once. An operation that
ended is shown as it is.`,
		Args: exactArgs(1, "a bulk operation ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBulkID(args[0])
			if err != nil {
				return err
			}
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				op, err := c.JobBulkCancel(cmd.Context(), id)
				if err != nil {
					return bulkError(id, err)
				}
				switch {
				case op.State == kiln.BulkCancelled:
					fmt.Fprintf(cmd.OutOrStdout(), "Bulk operation %d cancelled: %s of %s jobs matched changed.\n", id, comma(op.Changed), comma(op.Matched))
				case op.Done():
					fmt.Fprintf(cmd.OutOrStdout(), "Bulk operation %d already %s; nothing to cancel.\n", id, op.State)
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "Bulk operation %d: cancel requested; it stops at its next batch.\n", id)
				}
				return nil
			})
		},
	}
}

func newBulkResumeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "resume ID",
		Short: "Resume an interrupted bulk operation in this process",
		Long: `resume runs an interrupted bulk operation (or a running one whose process is
gone) again in this process, from where it stopped, and shows its
progress until it ends; Ctrl-C cancels it.`,
		Args: exactArgs(1, "a bulk operation ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseBulkID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				// The batches run in this process: they must not outlive it.
				defer func() { _ = c.Stop(context.WithoutCancel(ctx)) }()
				op, err := c.JobBulkResume(context.WithoutCancel(ctx), id)
				if err != nil {
					return bulkError(id, err)
				}
				fmt.Fprintf(out, "Bulk operation %d resumed: %s from ID %d.\n", id, op.Describe(), op.Cursor+1)
				total := op.Matched
				if n, err := c.JobCountMatching(ctx, &op.Filter); err == nil {
					total += int64(n)
				}
				if op, err = followBulk(ctx, c, op, total, out); err != nil {
					return err
				}
				fmt.Fprintf(out, "Bulk operation %d %s: %s of %s jobs matched changed, %s skipped, in %s batches.\n",
					op.ID, op.State, comma(op.Changed), comma(op.Matched), comma(op.Skipped), comma(op.Batches))
				switch op.State {
				case kiln.BulkFailed:
					return fmt.Errorf("bulk operation %d failed: %s", op.ID, op.Error)
				case kiln.BulkCancelled:
					return errors.New("cancelled: the batches made stay made")
				}
				return nil
			})
		},
	}
}
