package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln/schedule"
)

func newCronCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cron",
		Short: "Check schedule expressions",
		Long:  `cron checks schedule expressions before you use them in a recurring job.`,
		Args:  subcommandArgs,
		RunE:  showHelp,
	}
	cmd.AddCommand(newCronNextCmd(g))
	return cmd
}

func newCronNextCmd(_ *globals) *cobra.Command {
	var (
		tz    string
		n     int
		after string
	)
	cmd := &cobra.Command{
		Use:   "next EXPR",
		Short: "Print the next fire times of a schedule and what it means",
		Long: `next parses a schedule expression as a recurring job would (a 5-field cron
expression, 6 fields with leading seconds, @hourly/@daily/@weekly/@monthly/
@yearly, or "@every DURATION [from RFC3339]"), and prints a description and
its next fire times in the zone and in UTC. An invalid expression or zone
gives an error naming the field at fault.`,
		Example: `  kiln cron next "30 9 * * 1-5" --tz Europe/Berlin
  kiln cron next "@every 90m" -n 3
  kiln cron next "0 2 * * *" --tz America/New_York --after 2026-03-07T00:00:00Z`,
		Args: exactArgs(1, "EXPR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			sched, err := schedule.Parse(args[0], tz)
			if err != nil {
				return &usageError{err}
			}
			from := time.Now()
			if after != "" {
				if from, err = time.Parse(time.RFC3339, after); err != nil {
					return usageErrorf("invalid --after %q: want RFC 3339, e.g. 2026-03-07T00:00:00Z", after)
				}
			}
			if n < 1 || n > 1000 {
				return usageErrorf("-n %d: want 1 to 1000", n)
			}
			loc := time.UTC
			if tz != "" {
				loc, _ = time.LoadLocation(tz) // Parse checked it
			}
			out := cmd.OutOrStdout()
			zone := tz
			if zone == "" {
				zone = "UTC"
			}
			fmt.Fprintf(out, "%s  (%s, %s)\n\n", sched.String(), schedule.Describe(sched.String()), zone)
			printFireTimes(out, schedule.NextN(sched, from, n), loc)
			return nil
		},
	}
	cmd.Flags().StringVar(&tz, "tz", "", "IANA time zone the cron fields are read in (default UTC)")
	cmd.Flags().IntVarP(&n, "n", "n", 10, "how many fire times to print")
	cmd.Flags().StringVar(&after, "after", "", "print fire times after this RFC 3339 time (default now)")
	return cmd
}

// lastFireTime is the last instant printFireTimes prints: RFC 3339 has four
// digits for the year.
var lastFireTime = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)

// printFireTimes prints fire times, one a line: in loc, with the weekday,
// and in UTC as RFC 3339, both with the fraction of a second when
// there is one ("@every 1.5s"). Times after year 9999, which RFC 3339
// cannot write, are left out with a line saying so.
func printFireTimes(w io.Writer, times []time.Time, loc *time.Location) {
	for _, t := range times {
		if t.After(lastFireTime) {
			fmt.Fprintln(w, "  (no later fire times: RFC 3339 ends with year 9999)")
			return
		}
		fmt.Fprintf(w, "  %s   %s\n", t.In(loc).Format("Mon 2006-01-02 15:04:05.999999999 MST"), t.UTC().Format(time.RFC3339Nano))
	}
	if len(times) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
}
