package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newServersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "servers",
		Short: "List the Kiln processes sharing the database",
		Long: `servers shows the server registry: every Kiln process (a started client,
such as 'kiln serve') that shares the database, with the queues it runs and
how busy its workers are. Processes refresh their row every 5 s and remove
it when they stop; the maintenance leader removes the rows of processes
that died after 1 min without a refresh.`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newServersListCmd(g))
	return cmd
}

func newServersListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List registered processes, their queues and busy workers",
		Long: `list prints one line per registered process: its ID, host and PID, busy and
total workers, its queues (NAME busy/workers), when it started and when it
last refreshed its row. A refresh older than 15 s comes from a process that
is probably gone.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				rows, err := c.ServerList(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				if len(rows) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No Kiln process is registered: none is running on this database.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tHOST\tPID\tBUSY\tQUEUES\tSTARTED\tREFRESHED")
				now := time.Now()
				for _, r := range rows {
					busy, total := r.Busy()
					queues := make([]string, len(r.Queues))
					for i, q := range r.Queues {
						queues[i] = fmt.Sprintf("%s %d/%d", termText(q.Name, false), q.Busy, q.MaxWorkers)
					}
					beat := fmtDuration(now.Sub(r.RefreshedAt).Round(time.Second)) + " ago"
					if now.Sub(r.RefreshedAt) > staleAfter {
						beat += " (gone?)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%s\t%s ago\t%s\n", termText(r.ID, false), termText(r.Host, false), r.PID, busy, total,
						orDefault(strings.Join(queues, ", "), "-"), fmtDuration(now.Sub(r.StartedAt).Round(time.Second)), beat)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rows as JSON")
	return cmd
}
