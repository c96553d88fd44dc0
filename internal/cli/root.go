// Package cli implements the kiln command, one file per subcommand. It
// reaches the database only through the public kiln.Client and store API,
// as users' programs do.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of the kiln command.
const (
	exitOK    = 0 // success
	exitError = 1 // the command failed
	exitUsage = 2 // the command line is wrong
)

// envDatabase names the environment variable that gives --database its
// default.
const envDatabase = "KILN_DATABASE_URL"

// defaultDatabase is --database's default when envDatabase is not set.
const defaultDatabase = "./kiln.db"

// Execute runs the kiln command with the process's arguments, environment,
// standard input, output and error, and returns its exit code: 0 on
// success, 1 when the command failed, 2 for a usage error.
func Execute() int {
	return run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
}

// run runs the kiln command with args and returns its exit code. Commands
// read stdin only when told to (--args -). Errors are printed on stderr,
// in one line plus a hint for usage errors.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRootCmd(getenv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	return report(stderr, cmd, err)
}

// report prints err, if any, and returns the exit code it calls for.
func report(stderr io.Writer, cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "Error: %s\n", termText(err.Error(), true)) // errors quote names, errors and bodies of others
	var ue *usageError
	if errors.As(err, &ue) {
		path := "kiln"
		if cmd != nil {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", path)
		return exitUsage
	}
	return exitError
}

// usageError is an error in the command line: a bad flag, argument or
// value. It makes the command exit with code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErrorf returns a usageError with a formatted message.
func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// globals holds the global flags and what is derived from them. It is
// filled by the root command's PersistentPreRunE, before any subcommand
// runs.
type globals struct {
	getenv func(string) string

	// database is the --database value (or $KILN_DATABASE_URL).
	database string
	// databaseFlag reports whether --database was given on the command
	// line; demo and bench use their own database unless it was.
	databaseFlag bool
	logLevel     string
	// level is the --log-level value, and levelSet whether it was given
	// (the demo logs less by default).
	level    slog.Level
	levelSet bool
	// logger writes text logs on the command's stderr at --log-level.
	logger *slog.Logger
}

func newRootCmd(getenv func(string) string) *cobra.Command {
	g := &globals{getenv: getenv}
	root := &cobra.Command{
		Use:   "kiln",
		Short: "Kiln runs background jobs for Go programs",
		Long: `kiln manages Kiln background jobs: it migrates the database, runs workers
and the dashboard, enqueues jobs, lists, shows, cancels, retries and deletes
them, manages recurring jobs, queues, rate limits, servers and hosted
services, shows concurrency limits, and runs a live demo and a benchmark.

Jobs are kept in an embedded SQLite database, ./kiln.db unless --database
or $KILN_DATABASE_URL says otherwise; a postgres:// (or postgresql://) URL
selects PostgreSQL, which many kiln processes can share. Create its schema first with
'kiln migrate'; only migrate, demo and bench create or migrate a database.

New to Kiln? Run 'kiln demo' and watch jobs run, fail, retry and complete.`,
		Example: `  kiln migrate
  kiln serve --queues default=100
  kiln enqueue http --args '{"url":"https://example.com/hook","body":{"id":42}}'
  kiln jobs list --state retryable
  kiln demo --for 30s`,
		Args:          subcommandArgs,
		RunE:          showHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		// Flag errors are usage errors (exit code 2).
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return g.setup(cmd) },
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true

	pf := root.PersistentFlags()
	pf.StringVar(&g.database, "database", defaultDatabase,
		"the database: a SQLite file path, sqlite:PATH or file:PATH, or a postgres:// URL (env "+envDatabase+")")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level on stderr: debug, info, warn or error")

	root.AddCommand(
		newMigrateCmd(g),
		newServeCmd(g),
		newEnqueueCmd(g),
		newJobsCmd(g),
		newRecurringCmd(g),
		newCronCmd(g),
		newServicesCmd(g),
		newServersCmd(g),
		newQueuesCmd(g),
		newRetentionCmd(g),
		newRateLimitCmd(g),
		newConcurrencyCmd(g),
		newAuditCmd(g),
		newBulkCmd(g),
		newStatsCmd(g),
		newDemoCmd(g),
		newBenchCmd(g),
	)
	return root
}

// setup reads the global flags: it applies $KILN_DATABASE_URL and builds
// the logger; and it makes the command's calls recorded in the audit log
// as actor "local" (see auditContext).
func (g *globals) setup(cmd *cobra.Command) error {
	g.databaseFlag = cmd.Flags().Changed("database")
	if !g.databaseFlag {
		if v := g.getenv(envDatabase); v != "" {
			g.database = v
		}
	}
	level, err := parseLogLevel(g.logLevel)
	if err != nil {
		return err
	}
	g.level, g.levelSet = level, cmd.Flags().Changed("log-level")
	g.logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	auditContext(cmd)
	return nil
}

// parseLogLevel parses a --log-level value.
func parseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, usageErrorf("invalid --log-level %q: want debug, info, warn or error", s)
}

// showHelp is the RunE of commands that only group subcommands.
func showHelp(cmd *cobra.Command, _ []string) error { return cmd.Help() }

// subcommandArgs rejects arguments to a command that only groups
// subcommands: they name a subcommand that does not exist.
func subcommandArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &usageError{errors.New(msg)}
}

// noArgs rejects positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf("%s takes no arguments; got %q", cmd.CommandPath(), args[0])
	}
	return nil
}

// exactArgs requires n positional arguments, described by what (such as
// "a job ID").
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf("%s takes %s; got %d arguments", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}
