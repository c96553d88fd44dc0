package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

type jobsListOptions struct {
	states []string
	kinds  []string
	queues []string
	tag    string
	args   string // --args-contains
	limit  int
	cursor int64
	json   bool
}

// lastErrorWidth is how much of a job's last error the table shows.
const lastErrorWidth = 60

func newJobsListCmd(g *globals) *cobra.Command {
	o := &jobsListOptions{}
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List jobs, newest first",
		Long: `list prints jobs, newest first, as a table: ID, kind, queue, state, attempts
used of those allowed, when the job is due (or when it finished, for
finished jobs) and the start of its last error.

Filter with --state, --kind and --queue (each repeatable: a job matches if
it has any of the values given), --tag (jobs with this tag, an exact,
case-sensitive match) and --args-contains (jobs whose args, as JSON text,
contain this text, case-sensitive; search for values such as an ID or an
e-mail, not for JSON punctuation, which PostgreSQL spaces differently).
Pages hold --limit jobs; when more follow, the command prints the --cursor
that gets the next page.

With --json, args longer than 1 KiB are cut as in the HTTP API's lists
(args null, args_preview, args_truncated, args_bytes); 'kiln jobs show ID
--full' prints them whole.

--args-contains is not served by an index: each page examines at most the
` + comma(kiln.JobListScanWindow) + ` job IDs below its cursor, so a page may hold fewer than
--limit jobs, even none, and still print a --cursor that searches on.

States: ` + strings.Join(stateNames(), ", ") + `.`,
		Example: `  kiln jobs list
  kiln jobs list --state retryable --state discarded --kind http
  kiln jobs list --tag billing --args-contains c-1234
  kiln jobs list --limit 50 --cursor 1200 --json`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			params, err := o.params(cmd.Flags().Changed)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return withClient(ctx, g, func(c *kiln.Client) error {
				res, err := c.JobList(ctx, params)
				if err != nil {
					return err
				}
				out := cmd.OutOrStdout()
				if o.json {
					return writeJSON(out, struct {
						Jobs       []*kiln.JobRow `json:"jobs"`
						NextCursor int64          `json:"next_cursor,omitempty"`
					}{Jobs: nonNil(res.Jobs), NextCursor: res.NextCursor})
				}
				if len(res.Jobs) == 0 {
					if res.NextCursor == 0 {
						fmt.Fprintln(out, "No jobs.")
						return nil
					}
					fmt.Fprintf(out, "No jobs among the %s job IDs searched.\n", comma(kiln.JobListScanWindow))
					printNextPage(out, res, params)
					return nil
				}
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tKIND\tQUEUE\tSTATE\tATTEMPT\tSCHEDULED/FINALIZED\tLAST ERROR")
				for _, j := range res.Jobs {
					when := fmtTime(&j.ScheduledAt, timeLayout)
					if j.State.Finalized() {
						when = fmtTime(j.FinalizedAt, timeLayout)
					}
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, termText(j.Kind, false), termText(j.Queue, false), j.State,
						attemptOf(j), when, oneLine(j.LastError, lastErrorWidth))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				printNextPage(out, res, params)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.states, "state", nil, "only jobs in this state (repeatable)")
	f.StringArrayVar(&o.kinds, "kind", nil, "only jobs of this kind (repeatable)")
	f.StringArrayVar(&o.queues, "queue", nil, "only jobs in this queue (repeatable)")
	f.StringVar(&o.tag, "tag", "", "only jobs with this tag")
	f.StringVar(&o.args, "args-contains", "", "only jobs whose args (JSON) contain this text")
	f.IntVar(&o.limit, "limit", kiln.DefaultJobListLimit, fmt.Sprintf("jobs per page, 1 to %d", kiln.MaxJobListLimit))
	f.Int64Var(&o.cursor, "cursor", 0, "list jobs older than this job ID (the cursor a previous page printed)")
	f.BoolVar(&o.json, "json", false, "print the jobs as JSON")
	return cmd
}

// params checks the flags and returns the list parameters they give;
// changed tells whether a flag was given.
func (o *jobsListOptions) params(changed func(flag string) bool) (*kiln.JobListParams, error) {
	for _, f := range []struct{ flag, value string }{{"tag", o.tag}, {"args-contains", o.args}} {
		if f.value == "" && changed(f.flag) {
			return nil, usageErrorf("--%s is empty: give the text to match, or leave the flag out", f.flag)
		}
	}
	p := &kiln.JobListParams{Kinds: o.kinds, Queues: o.queues, Tag: o.tag, ArgsContains: o.args, Cursor: o.cursor, Limit: o.limit,
		ArgsPreview: kiln.JobListArgsPreview}
	for _, s := range o.states {
		state := kilntype.JobState(strings.ToLower(strings.TrimSpace(s)))
		if !state.Valid() {
			return nil, usageErrorf("invalid --state %q: want one of %s", s, strings.Join(stateNames(), ", "))
		}
		if !slices.Contains(p.States, state) {
			p.States = append(p.States, state)
		}
	}
	if o.limit < 1 || o.limit > kiln.MaxJobListLimit {
		return nil, usageErrorf("--limit %d: want 1 to %d", o.limit, kiln.MaxJobListLimit)
	}
	if o.cursor < 0 {
		return nil, usageErrorf("--cursor %d: want a job ID", o.cursor)
	}
	return p, nil
}

// printNextPage prints, when res has a NextCursor, the --cursor that gets
// the next page of params' listing. A short page with a cursor is one
// whose search in args stopped at the end of its window of IDs: it says so.
func printNextPage(out io.Writer, res *kiln.JobListResult, params *kiln.JobListParams) {
	switch {
	case res.NextCursor == 0:
	case params.ArgsContains != "" && len(res.Jobs) < params.Limit:
		fmt.Fprintf(out, "The search in args stopped after %s job IDs; older jobs may match: add --cursor %d to search on.\n",
			comma(kiln.JobListScanWindow), res.NextCursor)
	default:
		fmt.Fprintf(out, "More jobs follow: add --cursor %d for the next page.\n", res.NextCursor)
	}
}

func stateNames() []string {
	var names []string
	for _, s := range kilntype.JobStates() {
		names = append(names, string(s))
	}
	return names
}

// nonNil returns s, or an empty slice for nil, so that JSON shows [].
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
