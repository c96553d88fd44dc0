package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

// defaultShowLogLines is how many of a job's last log lines show prints.
const defaultShowLogLines = 20

// showArgsBytes is how much of a job's args show prints without --full.
const showArgsBytes = 4096

func newJobsShowCmd(g *globals) *cobra.Command {
	var (
		asJSON   bool
		full     bool
		logLines int
	)
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show a job, its attempts and its log",
		Long: `show prints everything about one job: its fields (with the progress its
latest attempt reported), its arguments, every attempt so far with when and
where it ran, how it ended, its error and, for attempts that panicked, the
stack trace, and the last lines its workers logged (--log-lines, 20 by
default; 0 prints none; a job keeps its 1,000 newest lines).

Args longer than ` + humanize.IBytes(showArgsBytes) + ` are cut there, with their size, unless --full is
given; with --json they are then null, with args_preview, args_truncated
and args_bytes, as in the HTTP API's lists.`,
		Example: `  kiln jobs show 42
  kiln jobs show 42 --log-lines 100
  kiln jobs show 42 --json --full`,
		Args: exactArgs(1, "one job ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseJobID(args[0])
			if err != nil {
				return err
			}
			if logLines < 0 || logLines > kiln.JobLogMaxLines {
				return usageErrorf("--log-lines %d: want 0 to %d", logLines, kiln.JobLogMaxLines)
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
				lines := []*kiln.JobLogLine{}
				if logLines > 0 {
					if lines, err = c.JobLogs(ctx, id, &kiln.JobLogsParams{Tail: true, Limit: logLines}); err != nil {
						return err
					}
				}
				if !full {
					cut := *row
					store.PreviewArgs(&cut, int64(len(row.Args)), showArgsBytes)
					row = &cut
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), struct {
						Job      *kiln.JobRow       `json:"job"`
						Attempts []*kiln.JobAttempt `json:"attempts"`
						Log      []*kiln.JobLogLine `json:"log"`
					}{row, nonNil(attempts), lines})
				}
				printJob(cmd.OutOrStdout(), row, attempts)
				printLog(cmd.OutOrStdout(), lines, logLines)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the job, its attempts and its last log lines as JSON")
	cmd.Flags().BoolVar(&full, "full", false, "print the whole args, however long (default: the first "+humanize.IBytes(showArgsBytes)+")")
	cmd.Flags().IntVar(&logLines, "log-lines", defaultShowLogLines, "how many of the job's last log lines to print (0 to 1000)")
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
	field("kind", termText(j.Kind, false))
	field("queue", termText(j.Queue, false))
	field("partition", termText(j.Partition, false))
	field("state", string(j.State))
	field("priority", fmt.Sprint(j.Priority))
	field("attempt", fmt.Sprintf("%d of %d", j.Attempt, j.MaxAttempts))
	if j.Progress != nil {
		field("progress", fmt.Sprintf("%d%%", *j.Progress))
	}
	field("created_at", fmtTime(&j.CreatedAt, detailTimeLayout))
	field("scheduled_at", fmtTime(&j.ScheduledAt, detailTimeLayout))
	if j.AttemptedAt != nil {
		field("attempted_at", fmtTime(j.AttemptedAt, detailTimeLayout))
	}
	if j.FinalizedAt != nil {
		field("finalized_at", fmtTime(j.FinalizedAt, detailTimeLayout))
	}
	field("leased_by", termText(j.LeasedBy, false))
	if j.LeaseExpiresAt != nil {
		field("lease_expires_at", fmtTime(j.LeaseExpiresAt, detailTimeLayout))
	}
	if j.CancelRequestedAt != nil {
		field("cancel_requested_at", fmtTime(j.CancelRequestedAt, detailTimeLayout))
	}
	tags := make([]string, len(j.Tags))
	for i, t := range j.Tags {
		tags[i] = termText(t, false)
	}
	field("tags", strings.Join(tags, ", "))
	if m := compactJSON(j.Metadata); m != "{}" {
		field("metadata", termText(m, false))
	}
	field("unique_key", termText(j.UniqueKey, false))
	if j.ArgsTruncated {
		field("args", fmt.Sprintf("%s\n%s... cut at %s of %s; --full prints them all",
			termText(j.ArgsPreview, true), strings.Repeat(" ", 23), humanize.IBytes(uint64(len(j.ArgsPreview))), humanize.IBytes(uint64(j.ArgsBytes))))
	} else {
		field("args", termText(indentJSON(j.Args, "  "+strings.Repeat(" ", 21)), true))
	}
	field("last_error", indentText(termText(j.LastError, true), 23))

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
			fmtTime(&a.StartedAt, detailTimeLayout), took, termText(a.Server, false))
		if a.Error != "" {
			fmt.Fprintf(w, "      error: %s\n", indentText(termText(a.Error, true), 13))
		}
		if a.Trace != "" {
			fmt.Fprintf(w, "      trace:\n        %s\n", indentText(termText(strings.TrimRight(a.Trace, "\n"), true), 8))
		}
	}
}

// printLog prints a job's last log lines, asked for with --log-lines
// wanted (0: print nothing).
func printLog(w io.Writer, lines []*kiln.JobLogLine, wanted int) {
	switch {
	case wanted == 0:
		return
	case len(lines) == 0:
		fmt.Fprintln(w, "\nNo log lines.")
		return
	case len(lines) < wanted:
		fmt.Fprintf(w, "\nLog (%s):\n", plural(len(lines), "line"))
	default:
		fmt.Fprintf(w, "\nLog (last %s; --log-lines for more):\n", plural(len(lines), "line"))
	}
	for _, l := range lines {
		// Lines are indented under the message's first column: "  " +
		// time (24) + "  #" + attempt + "  ".
		prefix := fmt.Sprintf("  %s  #%d  ", fmtTime(&l.At, detailTimeLayout), l.Attempt)
		fmt.Fprintf(w, "%s%s\n", prefix, indentText(termText(l.Message, true), len(prefix)))
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

// plural returns n and noun, with an s unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
