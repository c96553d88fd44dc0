package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
)

// unaudited lists the commands whose calls are not recorded in the audit
// log: the long-running ones, whose enqueues are a workload (demo, bench),
// and serve, whose dashboard records each request's own actor.
var unaudited = map[string]bool{"serve": true, "demo": true, "bench": true}

// auditContext makes cmd's calls recorded in the audit log as actor
// "local" (kiln.ActorLocal), unless cmd is one of unaudited.
func auditContext(cmd *cobra.Command) {
	c := cmd
	for c.HasParent() && c.Parent().HasParent() {
		c = c.Parent()
	}
	if unaudited[c.Name()] {
		return
	}
	cmd.SetContext(kiln.WithActor(cmd.Context(), kiln.Actor{Name: kiln.ActorLocal}))
}

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show the audit log: who changed what, when, from where",
		Long: `audit shows the audit log: every state-changing action made through the
dashboard, the JSON API or this CLI (enqueue, retry, cancel, delete, bulk
operations, queue pause and resume, recurring create, edit, pause, resume,
trigger and remove, retention changes), with who made it (the dashboard
user or token name; "local" for this CLI and for unauthenticated requests
from the dashboard's machine), when (UTC), the target, a JSON detail and
the client's address; and the state changes the dashboard refused to a
viewer (marked refused). The maintenance leader deletes entries older
than Config.AuditRetention (90 days by default).`,
		Example: `  kiln audit list
  kiln audit list --actor ops --since 2030-01-02T00:00:00Z
  kiln audit list --action job.delete --json`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newAuditListCmd(g))
	return cmd
}

func newAuditListCmd(g *globals) *cobra.Command {
	var (
		p            kiln.AuditListParams
		since, until string
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List audit entries, newest first",
		Long: `list prints audit entries, newest first: --limit of them (100 by default, at
most 1000), after --cursor (the ID of the last entry of the previous page,
which the command prints when more remain).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			for _, t := range []struct {
				flag, s string
				to      *time.Time
			}{{"since", since, &p.Since}, {"until", until, &p.Until}} {
				if t.s == "" {
					continue
				}
				if *t.to, err = time.Parse(time.RFC3339, t.s); err != nil {
					return usageErrorf("--%s %q: want an RFC 3339 time such as 2030-01-02T15:04:05Z", t.flag, t.s)
				}
			}
			if p.Limit < 1 || p.Limit > kiln.MaxAuditListLimit {
				return usageErrorf("--limit %d: want 1 to %d", p.Limit, kiln.MaxAuditListLimit)
			}
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				entries, err := c.AuditList(cmd.Context(), &p)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), entries)
				}
				if len(entries) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "No audit entry matches.")
					return nil
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tAT (UTC)\tACTOR\tADDR\tACTION\tTARGET\tDETAIL")
				for _, e := range entries {
					action := termText(e.Action, false)
					if e.Refused {
						action += " (refused)"
					}
					detail := oneLine(string(e.Detail), 120)
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Format("2006-01-02 15:04:05"), termText(e.Actor, false),
						orDefault(termText(e.Addr, false), "-"), action, orDefault(termText(e.Target, false), "-"), orDefault(detail, "-"))
				}
				if err := tw.Flush(); err != nil {
					return err
				}
				if len(entries) == p.Limit {
					fmt.Fprintf(cmd.OutOrStdout(), "More entries: --cursor %d\n", entries[len(entries)-1].ID)
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Actor, "actor", "", "only this actor's entries (a user or token name, or local)")
	f.StringVar(&p.Action, "action", "", "only entries of this action, such as job.retry or request.refused")
	f.StringVar(&since, "since", "", "only entries at or after this time (RFC 3339)")
	f.StringVar(&until, "until", "", "only entries before this time (RFC 3339)")
	f.Int64Var(&p.Cursor, "cursor", 0, "the ID of the last entry of the previous page")
	f.IntVar(&p.Limit, "limit", kiln.DefaultAuditListLimit, "how many entries at most")
	f.BoolVar(&asJSON, "json", false, "print the entries as JSON")
	return cmd
}
