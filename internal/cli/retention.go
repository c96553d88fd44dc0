package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

func newRetentionCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "List and set how long finished jobs are kept, per kind and queue",
		Long: `retention shows and changes how long finished jobs (completed, cancelled,
discarded) are kept before the cleaner deletes them: per state, and per
kind, queue, or kind and queue. A job follows the most specific rule that
matches it: kind and queue, then kind, then queue, then its state's rule.

Rules set here are stored in the database: the cleaner of whichever process
leads obeys them from its next pass (every minute by default), and they win
over the rules of the processes' Config (listed with source "config").`,
		Example: `  kiln retention list
  kiln retention set completed 1h --kind email
  kiln retention set discarded forever --kind invoice
  kiln retention set discarded 90d --queue billing
  kiln retention delete completed --kind email`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newRetentionListCmd(g), newRetentionSetCmd(g), newRetentionDeleteCmd(g))
	return cmd
}

func newRetentionListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the retention rules in effect",
		Long: `list prints the retention rules in effect: the per-state defaults of this
command's configuration (24 h for completed jobs, 7 days for cancelled
and discarded ones, unless stored rules replace them) and every rule
stored in the database.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				rules, err := c.RetentionList(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), rules)
				}
				return printRetention(cmd.OutOrStdout(), rules)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rules as JSON")
	return cmd
}

// printRetention prints rules as a table.
func printRetention(w io.Writer, rules []*kiln.RetentionRule) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tKIND\tQUEUE\tKEEP\tSOURCE")
	for _, r := range rules {
		kind, queue := termText(r.Kind, false), termText(r.Queue, false)
		if kind == "" {
			kind = "*"
		}
		if queue == "" {
			queue = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.State, kind, queue, r.KeepText(), r.Source)
	}
	return tw.Flush()
}

func newRetentionSetCmd(g *globals) *cobra.Command {
	var kind, queue string
	cmd := &cobra.Command{
		Use:   "set STATE KEEP",
		Short: "Store a retention rule for every process",
		Long: `set stores how long finished jobs of STATE (completed, cancelled or
discarded) are kept: KEEP is "forever", a duration such as 1h or 90m, or
days such as 90d. With --kind and/or --queue the rule applies only to
those jobs; without, it replaces the state's default. It replaces the
stored rule of the same state, kind and queue.`,
		Args: exactArgs(2, "a state and a keep time"),
		RunE: func(cmd *cobra.Command, args []string) error {
			keep, err := kilntype.ParseKeep(args[1])
			if err != nil {
				return usageErrorf("%v", err)
			}
			rule := kiln.RetentionRule{State: kilntype.JobState(args[0]), Kind: kind, Queue: queue, Keep: keep}
			if err := rule.Validate(); err != nil {
				return usageErrorf("%v", err)
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				if err := c.RetentionSet(ctx, rule); err != nil {
					return err
				}
				fmt.Fprintf(out, "Retention set: %s jobs%s kept %s; the cleaner applies it from its next pass.\n",
					rule.State, termText(kilntype.RetentionScope(kind, queue), false), rule.KeepText())
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "only jobs of this kind")
	cmd.Flags().StringVar(&queue, "queue", "", "only jobs of this queue")
	return cmd
}

func newRetentionDeleteCmd(g *globals) *cobra.Command {
	var kind, queue string
	cmd := &cobra.Command{
		Use:   "delete STATE",
		Short: "Delete a stored retention rule",
		Long: `delete deletes the stored rule of STATE, --kind and --queue; the rule of the
processes' Config for that key, if any, applies again.`,
		Args: exactArgs(1, "a state"),
		RunE: func(cmd *cobra.Command, args []string) error {
			state := kilntype.JobState(args[0])
			if !state.Finalized() {
				return usageErrorf("state %q: want completed, cancelled or discarded", state)
			}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				ok, err := c.RetentionDelete(ctx, state, kind, queue)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no stored retention rule for %s jobs%s", state, termText(kilntype.RetentionScope(kind, queue), false))
				}
				fmt.Fprintf(out, "Retention rule deleted: %s jobs%s.\n", state, termText(kilntype.RetentionScope(kind, queue), false))
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&kind, "kind", "", "the rule's kind")
	cmd.Flags().StringVar(&queue, "queue", "", "the rule's queue")
	return cmd
}
