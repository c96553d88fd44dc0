package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newJobsShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job and its attempts",
		Long: `show prints everything about one job: its fields, its arguments, and every
attempt so far with when and where it ran, how it ended, its error and, for
attempts that panicked, the stack trace.`,
		Example: `  kiln jobs show 42
  kiln jobs show 42 --json`,
		Args: exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return withClient(ctx, g, func(c *kiln.Client) error {
				row, err := c.JobGet(ctx, id)
				if err != nil {
					return jobError(ctx, c, "show", id, err)
				}
				attempts, err := c.JobAttempts(ctx, id)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), struct {
						Job      *kiln.JobRow       `json:"job"`
						Attempts []*kiln.JobAttempt `json:"attempts"`
					}{row, nonNil(attempts)})
				}
				printJob(cmd.OutOrStdout(), row, attempts)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job and its attempts as JSON")
	return cmd
}

// printJob prints a job's fields and attempts for people.
func printJob(w io.Writer, j *kiln.JobRow, attempts []*kiln.JobAttempt) {
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(w, "  %-20s %s\n", name+":", value)
		}
	}
	fmt.Fprintf(w, "Job %d\n", j.ID)
	field("kind", j.Kind)
	field("queue", j.Queue)
	field("state", string(j.State))
	field("priority", fmt.Sprint(j.Priority))
	field("attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	field("created_at", fmtTime(&j.CreatedAt, detailTimeLayout))
	field("scheduled_at", fmtTime(&j.ScheduledAt, detailTimeLayout))
	if j.AttemptedAt != nil {
		field("attempted_at", fmtTime(j.AttemptedAt, detailTimeLayout))
	}
	if j.FinalizedAt != nil {
		field("finalized_at", fmtTime(j.FinalizedAt, detailTimeLayout))
	}
	field("leased_by", j.LeasedBy)
	if j.LeaseExpiresAt != nil {
		field("lease_expires_at", fmtTime(j.LeaseExpiresAt, detailTimeLayout))
	}
	if j.CancelRequestedAt != nil {
		field("cancel_requested_at", fmtTime(j.CancelRequestedAt, detailTimeLayout))
	}
	field("tags", strings.Join(j.Tags, ", "))
	if m := compactJSON(j.Metadata); m != "{}" {
		field("metadata", m)
	}
	field("unique_key", j.UniqueKey)
	field("args", indentJSON(j.Args, "  "+strings.Repeat(" ", 21)))
	field("last_error", indentText(j.LastError, 23))

	if len(attempts) == 0 {
		fmt.Fprintln(w, "\nNo attempts yet.")
		return
	}
	fmt.Fprintf(w, "\nAttempts (%d):\n", len(attempts))
	for _, a := range attempts {
		took := "still running"
		if a.FinishedAt != nil {
			took = "took " + fmtDuration(a.FinishedAt.Sub(a.StartedAt))
		}
		fmt.Fprintf(w, "  #%d  %-11s started %s, %s, on %s\n", a.Attempt, a.Outcome,
			fmtTime(&a.StartedAt, detailTimeLayout), took, a.Server)
		if a.Error != "" {
			fmt.Fprintf(w, "      error: %s\n", indentText(a.Error, 13))
		}
		if a.Trace != "" {
			fmt.Fprintf(w, "      trace:\n        %s\n", indentText(strings.TrimRight(a.Trace, "\n"), 8))
		}
	}
}

// indentText indents the lines of s after the first by n spaces.
func indentText(s string, n int) string {
	return strings.ReplaceAll(s, "\n", "\n"+strings.Repeat(" ", n))
}

// indentJSON returns raw pretty-printed, its lines after the first
// prefixed with prefix; raw itself if it is not valid JSON.
func indentJSON(raw json.RawMessage, prefix string) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, prefix, "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
