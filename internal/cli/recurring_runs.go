package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newRecurringRunsCmd(g *globals) *cobra.Command {
	var (
		asJSON bool
		n      int
	)
	cmd := &cobra.Command{
		Use:   "runs ID",
		Short: "Show a recurring job's last runs and skipped occurrences",
		Long: `runs prints a recurring entry's last runs, newest first: each occurrence
with its job, the job's state, how long its latest attempt took and how late
its first attempt started after the occurrence; and each occurrence that got
no job, with why: skipped by the overlap policy while an earlier run was
unfinished, or missed (no scheduler ran) and dropped by the misfire policy.`,
		Example: `  kiln recurring runs nightly -n 50`,
		Args:    exactArgs(1, "ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if n < 1 || n > kiln.MaxRecurringRuns {
				return usageErrorf("-n must be 1 to %d", kiln.MaxRecurringRuns)
			}
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				runs, err := c.RecurringRuns(cmd.Context(), id, n)
				if err != nil {
					return recurringError(id, err)
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), map[string]any{"runs": runs})
				}
				printRuns(cmd.OutOrStdout(), runs)
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 20, "how many runs")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the runs as JSON")
	return cmd
}

// printRuns writes runs, one a line, or "none yet".
func printRuns(w io.Writer, runs []*kiln.RecurringRun) {
	if len(runs) == 0 {
		fmt.Fprintln(w, "  none yet")
	}
	for _, r := range runs {
		at := r.At.UTC().Format(time.RFC3339)
		switch r.Skipped {
		case "":
			state := string(r.State)
			if state == "" {
				state = "deleted"
			}
			line := fmt.Sprintf("  %s  job %d  %s", at, r.JobID, state)
			if r.StartedAt != nil {
				line += "  started " + fmtDuration(r.Lateness) + " late"
			}
			if r.FinishedAt != nil && r.StartedAt != nil {
				line += ", took " + fmtDuration(r.Duration)
			}
			fmt.Fprintln(w, line)
		case kiln.RecurringSkipOverlap:
			fmt.Fprintf(w, "  %s  skipped: an earlier run was unfinished (overlap %s)\n", at, r.Policy)
		default:
			span := at
			if r.Count > 1 {
				span = fmt.Sprintf("%s to %s (%d)", at, r.Through.UTC().Format(time.RFC3339), r.Count)
			}
			fmt.Fprintf(w, "  %s  missed: no scheduler ran; no job (misfire %s)\n", span, r.Policy)
		}
	}
}
