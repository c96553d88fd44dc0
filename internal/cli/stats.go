package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newStatsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "stats",
		Short: "Maintain the job counters of the dashboard and Stats",
		Long: `stats maintains the counters of jobs by queue and state that the dashboard,
the HTTP API, the metrics and Client.Stats read instead of counting the jobs.`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newStatsRebuildCmd(g))
	return cmd
}

func newStatsRebuildCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "rebuild",
		Short: "Recount the jobs and correct the job counters",
		Long: `rebuild counts the jobs by queue and state and corrects the counters to
match, then prints the corrections it made (none when they were right).

The counters need it only after they missed changes: on PostgreSQL, after
processes of a Kiln version before schema migration 021 kept running after
it was applied (see docs/upgrading.md), or after an UPDATE of the jobs table
by hand. It reads every job once and is safe while jobs run: on PostgreSQL
it locks no job and changes made meanwhile are counted as usual; on SQLite
other writers wait for the scan. The counts of finished attempts are left
as they are.`,
		Example: `  kiln stats rebuild --database postgres://kiln@db/app`,
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				fixed, err := c.StatsRebuild(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), fixed)
				}
				if len(fixed) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "The job counters were right: nothing to correct.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "QUEUE\tSTATE\tCORRECTION")
				for _, f := range fixed {
					fmt.Fprintf(tw, "%s\t%s\t%+d\n", termText(f.Queue, false), f.State, f.Jobs)
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Corrected the counters of %d queue and state pairs.\n", len(fixed))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the corrections as JSON")
	return cmd
}
