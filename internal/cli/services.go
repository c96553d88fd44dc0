package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

func newServicesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "services",
		Short: "List the hosted services of the processes sharing the database",
		Long: `services shows the hosted services (long-running loops supervised by Kiln)
that the processes sharing the database run, as each process last reported
them.`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newServicesListCmd(g))
	return cmd
}

// staleAfter is how old a report may be before its process is shown as
// gone: processes report every 5 s.
const staleAfter = 15 * time.Second

func newServicesListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List hosted services and their states",
		Long: `list prints one line per hosted service and process: its state (waiting,
running, restarting, stopped), whether it is a singleton (run by one process
only), how many times it was restarted, its last error, and when the process
last reported. A report older than 15 s comes from a process that is gone.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				rows, err := c.HostedServiceReports(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rows)
				}
				if len(rows) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No hosted services have reported.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tPROCESS\tSTATE\tSINGLETON\tRESTARTS\tLAST ERROR\tREPORTED")
				now := time.Now()
				for _, r := range rows {
					state := r.State
					if now.Sub(r.UpdatedAt) > staleAfter && r.State != "stopped" {
						state += " (process gone?)"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%d\t%s\t%s ago\n", termText(r.Name, false), termText(r.ProcessID, false), termText(state, false), r.Singleton,
						r.Restarts, orDefault(oneLine(r.LastError, 60), "-"), fmtDuration(now.Sub(r.UpdatedAt).Round(time.Second)))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the reports as JSON")
	return cmd
}
