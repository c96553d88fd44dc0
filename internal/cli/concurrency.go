package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
)

func newConcurrencyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "concurrency",
		Aliases: []string{"concurrency-limits"},
		Short:   "List the kinds' concurrency limits and their use",
		Long: `concurrency shows the concurrency limits of job kinds and their use: at most
MaxConcurrency jobs of a kind run at once in each process,
ClusterMaxConcurrency across every process sharing the database, and
PartitionMaxConcurrency per partition key (see docs/flow-control.md).

These limits are declared in code by each kind's worker; they cannot be set
here. Every running Kiln process publishes the limits its workers declare in
the server registry (kiln servers), so by default this command shows the
limits of the kinds live processes run, with their use read from the
database ("max N" per process: this command runs none of the jobs). With
--api it asks one process that runs the workers, through its HTTP API, for
the limits it declares and their use in that process.`,
		Example: `  kiln concurrency list
  kiln concurrency list --api http://127.0.0.1:8080/api
  kiln concurrency list --api http://127.0.0.1:8080/api --json`,
		Args: subcommandArgs,
		RunE: showHelp,
	}
	cmd.AddCommand(newConcurrencyListCmd(g))
	return cmd
}

func newConcurrencyListCmd(g *globals) *cobra.Command {
	var (
		asJSON bool
		api    string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the kinds' concurrency limits and their use",
		Long: `list prints one line per kind with a concurrency limit: its running jobs in
every process (read from the database), the use of each limit ("3 of 5":
in the answering process for MaxConcurrency with --api, else "max 5"; in
every process for ClusterMaxConcurrency; "-" for none), and for a per-key
limit how many keys run and the busiest keys (at most 10).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var list []*httpapi.ConcurrencyLimitView
			if api != "" {
				var err error
				if list, err = fetchConcurrencyLimits(cmd.Context(), api); err != nil {
					return err
				}
			} else if err := withClientWorkers(cmd.Context(), g, knownWorkers(nil), func(c *kiln.Client) error {
				var err error
				list, err = c.ConcurrencyLimits(cmd.Context())
				return err
			}); err != nil {
				return err
			}
			if list == nil {
				list = []*httpapi.ConcurrencyLimitView{}
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), list)
			}
			return printConcurrencyLimits(cmd.OutOrStdout(), list, api != "")
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the limits as JSON, as the HTTP API does")
	cmd.Flags().StringVar(&api, "api", "", "the base URL of the HTTP API of a process that runs the workers (e.g. http://127.0.0.1:8080/api)")
	return cmd
}

// fetchConcurrencyLimits reads GET {base}/concurrency-limits.
func fetchConcurrencyLimits(ctx context.Context, base string) ([]*httpapi.ConcurrencyLimitView, error) {
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, usageErrorf("invalid --api %q: want an http:// or https:// URL", base)
	}
	url := strings.TrimRight(base, "/") + "/concurrency-limits"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, usageErrorf("invalid --api %q: %v", base, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s answered %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	var out httpapi.ConcurrencyLimitList
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("%s: not a list of concurrency limits: %w", url, err)
	}
	return out.ConcurrencyLimits, nil
}

// printConcurrencyLimits prints list as a table; remote says it came from
// another process's API.
func printConcurrencyLimits(w io.Writer, list []*httpapi.ConcurrencyLimitView, remote bool) error {
	if len(list) == 0 {
		if remote {
			fmt.Fprintln(w, "No kind has a concurrency limit in that process.")
		} else {
			fmt.Fprintln(w, "No live process declares a concurrency limit (kiln servers lists the processes).")
		}
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tRUNNING\tPER PROCESS\tCLUSTER\tPER KEY\tBUSIEST KEYS")
	for _, v := range list {
		process, cluster, key, busiest := "-", "-", "-", "-"
		if v.MaxConcurrency > 0 && remote {
			process = fmt.Sprintf("%d of %d", v.RunningHere, v.MaxConcurrency)
		} else if v.MaxConcurrency > 0 {
			process = fmt.Sprintf("max %d", v.MaxConcurrency)
		}
		if v.ClusterMaxConcurrency > 0 {
			cluster = fmt.Sprintf("%d of %d", v.Running, v.ClusterMaxConcurrency)
		}
		if v.PartitionMaxConcurrency > 0 {
			key = fmt.Sprintf("%d (%d keys running)", v.PartitionMaxConcurrency, v.Keys)
		}
		if len(v.BusiestKeys) > 0 {
			keys := make([]string, 0, len(v.BusiestKeys))
			for _, k := range v.BusiestKeys {
				keys = append(keys, fmt.Sprintf("%s %d", termText(k.Key, false), k.Running))
			}
			busiest = strings.Join(keys, ", ")
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", termText(v.Kind, false), v.Running, process, cluster, key, busiest)
	}
	return tw.Flush()
}
