package cli

import (
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
)

func newRateLimitCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "ratelimit",
		Aliases: []string{"ratelimits", "rate-limit", "rate-limits"},
		Short:   "List, show, set and delete the rate limits of job kinds",
		Long: `ratelimit shows and changes the rate limits of job kinds: at most LIMIT jobs
of a kind start per PERIOD, plus BURST after an idle spell, across every
process sharing the database (see docs/flow-control.md).

With --per-key the limit is that of each partition key of the kind (its
tenant or account, kiln.EnqueueOpts.Partition): every key has a budget of
its own, the jobs without a key sharing that of the key "" (the worker's
default in code: kiln.WorkerWithPartitionRateLimit). A kind may have both
limits; both hold.

A limit set here is stored in the database and beats the default that the
kind's worker declares in code (kiln.RateLimiter) until it is deleted. Each
process obeys it from its next claim of the kind (within 10 s for a process
whose worker declares no default). The change is recorded in the audit log
under the actor "local".

This command runs no workers, so it knows no defaults in code: a kind shows
here only once a limit is set at run time or its budget is in use; the
dashboard and the HTTP API of a process that runs the kind show its
default too.`,
		Example: `  kiln ratelimit list
  kiln ratelimit set geocode --limit 10 --per 1m --burst 2
  kiln ratelimit show geocode
  kiln ratelimit delete geocode
  kiln ratelimit set sync --per-key --limit 1 --per 1m
  kiln ratelimit delete sync --per-key`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newRateLimitListCmd(g), newRateLimitShowCmd(g), newRateLimitSetCmd(g), newRateLimitDeleteCmd(g))
	return cmd
}

func newRateLimitListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the kinds' rate limits and their budgets' use",
		Long: `list prints one line per kind with a rate limit set at run time or a budget
in use, and one more for the kind's per-key limit (SCOPE "per key"): the
limit in force, where it comes from, how many of the budget's starts are
used (of BURST+1), and when the next job may start ("now" when one may);
for a per-key limit, the busiest key's use and next slot. The budgets are
read on the database's clock on PostgreSQL.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withClient(cmd.Context(), g, func(c *kiln.Client) error {
				list, err := c.RateLimitList(cmd.Context())
				if err != nil {
					return err
				}
				views := make([]*httpapi.RateLimitView, 0, len(list))
				for _, st := range list {
					views = append(views, httpapi.NewRateLimitView(st))
				}
				if asJSON {
					return writeJSON(cmd.OutOrStdout(), views)
				}
				return printRateLimits(cmd.OutOrStdout(), views)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rate limits as JSON, as the HTTP API does")
	return cmd
}

// printRateLimits prints views as a table.
func printRateLimits(w io.Writer, views []*httpapi.RateLimitView) error {
	if len(views) == 0 {
		fmt.Fprintln(w, "No rate limits are set at run time, and no budget is in use.")
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSCOPE\tLIMIT\tSOURCE\tUSED\tNEXT SLOT")
	for _, v := range views {
		used := "-"
		if v.Capacity > 0 {
			used = fmt.Sprintf("%d of %d", v.Used, v.Capacity)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", termText(v.Kind, false), scopeText(v.PerKey), budgetText(v.Limit), v.Source, used,
			nextSlotText(v))
	}
	return tw.Flush()
}

// scopeText is what a limit's budget counts: "kind" (all the kind's jobs)
// or "per key" (each partition key's).
func scopeText(perKey bool) string {
	if perKey {
		return "per key"
	}
	return "kind"
}

// limitName names the limit of kind in messages: "geocode", or "sync (per
// partition key)" for a per-key limit.
func limitName(kind string, perKey bool) string {
	if perKey {
		return termText(kind, false) + " (per partition key)"
	}
	return termText(kind, false)
}

// budgetText is a limit in words: "10 per 1m0s, burst 2", or "none".
func budgetText(b *httpapi.RateLimitBudget) string {
	if b == nil {
		return "none"
	}
	if b.Burst == 0 {
		return fmt.Sprintf("%d per %s", b.Limit, b.Period)
	}
	return fmt.Sprintf("%d per %s, burst %d", b.Limit, b.Period, b.Burst)
}

// nextSlotText is when v's next job may start: "now", or the time in UTC
// and how far off it is.
func nextSlotText(v *httpapi.RateLimitView) string {
	if v.Limit == nil || !v.NextSlot.After(v.At) {
		return "now"
	}
	return fmt.Sprintf("%s (in %s)", v.NextSlot.Format(time.RFC3339), fmtUntil(v.NextSlot.Sub(v.At)))
}

func newRateLimitShowCmd(g *globals) *cobra.Command {
	var asJSON, perKey bool
	cmd := &cobra.Command{
		Use:     "show KIND",
		Aliases: []string{"get"},
		Short:   "Show one kind's rate limit and its budget",
		Long: `show prints the rate limit of KIND (any kind, with or without a worker): the
limit in force and where it comes from, the one set at run time and when,
how many of the budget's starts are used, and when the next job may start.
With --per-key it shows the limit of each partition key of KIND instead,
with the busiest key's use and next slot.`,
		Args: exactArgs(1, "a kind"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				st, err := c.RateLimitGet(ctx, args[0], perKey)
				if err != nil {
					return rateLimitError(err)
				}
				v := httpapi.NewRateLimitView(st)
				if asJSON {
					return writeJSON(out, v)
				}
				tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
				fmt.Fprintf(tw, "Kind:\t%s\n", termText(v.Kind, false))
				if v.PerKey {
					fmt.Fprintf(tw, "Scope:\teach partition key (its own budget; the busiest key's use)\n")
				} else {
					fmt.Fprintf(tw, "Scope:\tthe kind (one budget)\n")
				}
				fmt.Fprintf(tw, "Limit:\t%s\n", budgetText(v.Limit))
				fmt.Fprintf(tw, "Source:\t%s\n", v.Source)
				if v.Override != nil && v.UpdatedAt != nil {
					fmt.Fprintf(tw, "Set at:\t%s\n", v.UpdatedAt.Format(time.RFC3339))
				}
				if v.Capacity > 0 {
					fmt.Fprintf(tw, "Used:\t%d of %d (%d may start now)\n", v.Used, v.Capacity, v.Remaining)
					fmt.Fprintf(tw, "Next slot:\t%s\n", nextSlotText(v))
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the rate limit as JSON, as the HTTP API does")
	cmd.Flags().BoolVar(&perKey, "per-key", false, "show the limit of each partition key of the kind")
	return cmd
}

func newRateLimitSetCmd(g *globals) *cobra.Command {
	var (
		limit, burst int
		per          time.Duration
		perKey       bool
	)
	cmd := &cobra.Command{
		Use:   "set KIND --limit N --per DURATION [--burst N] [--per-key]",
		Short: "Set a kind's rate limit for every process",
		Long: `set stores the rate limit of KIND for every process sharing the database: at
most --limit jobs start per --per (a duration such as 1s, 1m or 24h, from
1µs to 8784h, 366 days), plus --burst more at once after an idle spell
(0, the default, spaces the starts evenly, one per PERIOD/LIMIT). It beats
the worker's default in code until deleted. The starts already counted
in the kind's budget stay counted, up to the new limit's full bucket.
With --per-key the limit is that of each partition key of KIND (each key's
budget, the kind's own limit still holding too).`,
		Args: exactArgs(1, "a kind"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("limit") || !cmd.Flags().Changed("per") {
				return usageErrorf("set needs --limit and --per, such as --limit 10 --per 1m")
			}
			l := kiln.RateLimit{Limit: limit, Period: per, Burst: burst}
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				if err := c.RateLimitSet(ctx, args[0], perKey, l); err != nil {
					return rateLimitError(err)
				}
				fmt.Fprintf(out, "Rate limit of %s set to %s for every process.\n", limitName(args[0], perKey), budgetText(
					&httpapi.RateLimitBudget{Limit: l.Limit, Period: l.Period.String(), Burst: l.Burst}))
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&limit, "limit", 0, "how many jobs may start per --per (1 to 1073741824)")
	cmd.Flags().DurationVar(&per, "per", 0, "the period of --limit, such as 1s, 1m or 24h")
	cmd.Flags().IntVar(&burst, "burst", 0, "how many more may start at once after an idle spell (0 to 1073741824)")
	cmd.Flags().BoolVar(&perKey, "per-key", false, "set the limit of each partition key of the kind, not the kind's")
	return cmd
}

func newRateLimitDeleteCmd(g *globals) *cobra.Command {
	var perKey bool
	cmd := &cobra.Command{
		Use:     "delete KIND [--per-key]",
		Aliases: []string{"rm", "remove"},
		Short:   "Delete a kind's run-time rate limit",
		Long: `delete deletes the rate limit of KIND set at run time; the default its worker
declares in code, if any, applies again. With --per-key it deletes the
limit of each partition key of KIND instead.`,
		Args: exactArgs(1, "a kind"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, out := cmd.Context(), cmd.OutOrStdout()
			return withClient(ctx, g, func(c *kiln.Client) error {
				err := c.RateLimitRemove(ctx, args[0], perKey)
				if errors.Is(err, kiln.ErrNotFound) {
					return fmt.Errorf("no rate limit of %s is set at run time", limitName(args[0], perKey))
				}
				if err != nil {
					return rateLimitError(err)
				}
				fmt.Fprintf(out, "Rate limit of %s deleted; its worker's default, if any, applies again.\n",
					limitName(args[0], perKey))
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&perKey, "per-key", false, "delete the limit of each partition key of the kind, not the kind's")
	return cmd
}

// rateLimitError makes a refused kind or limit a usage error (exit 2).
func rateLimitError(err error) error {
	var ve *kiln.ValidationError
	if errors.As(err, &ve) {
		return usageErrorf("%v", err)
	}
	return err
}
