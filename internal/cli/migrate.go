package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

// minRemoveStale is the shortest --remove-stale: twice kiln.Config's
// default ServerTTL, after which the maintenance leader removes a silent
// row.
const minRemoveStale = 2 * time.Minute

func newMigrateCmd(g *globals) *cobra.Command {
	var removeStale time.Duration
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Create or update the database schema",
		Long: `migrate creates the Kiln tables in the database, or brings an older schema
up to date, creating the database file if it does not exist (SQLite) or the
schema in an existing database (PostgreSQL). It is safe to run on an
up-to-date database and from several processes at once.

Run it once before 'kiln serve', 'kiln enqueue' or 'kiln jobs', and after
upgrading Kiln.

A contract migration, which removes what processes of older Kiln versions
still need, is applied only when no process of such a version is registered
(a started server). While one is, migrate applies the other migrations,
names the held migrations and the processes that hold them, and exits 0:
the new version runs without them. Run it again once the older processes
have stopped (after a rolling deploy); a server started with automatic
migration applies them too when it starts.

A process that crashed keeps its registry row, and so holds the contract
migrations, until the maintenance leader removes it (ServerTTL after its
last refresh; never when every process runs with maintenance disabled).
--remove-stale D first removes the registry rows not refreshed for D, as
the leader would (by the database's clock on PostgreSQL, this host's on
SQLite), then migrates. Choose D longer than every process's ServerTTL
(at least 2m, twice the default ServerTTL): a live process whose row is removed is not seen by the
gate until its next refresh writes the row again.`,
		Example: `  kiln migrate
  kiln migrate --database /var/lib/myapp/jobs.db
  kiln migrate --remove-stale 10m`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if removeStale != 0 && removeStale < minRemoveStale {
				return usageErrorf("--remove-stale %s: want %s or more (and more than every process's ServerTTL)", removeStale, minRemoveStale)
			}
			db, err := parseDatabase(g.database)
			if err != nil {
				return err
			}
			path := db.shown
			created := false
			if db.pgURL == "" { // SQLite: openDatabase creates a missing file
				_, statErr := os.Stat(db.path)
				created = errors.Is(statErr, fs.ErrNotExist)
			}
			st, err := openDatabase(ctx, g.database, createFile)
			if err != nil {
				return err
			}
			defer st.Close()
			out := cmd.OutOrStdout()
			if removeStale > 0 {
				if err := removeStaleServers(ctx, out, st, removeStale); err != nil {
					return fmt.Errorf("database %s: %w", path, err)
				}
			}
			checkErr := st.SchemaCheck(ctx)
			if checkErr != nil && !errors.Is(checkErr, kiln.ErrSchemaMissing) {
				return fmt.Errorf("database %s: %w", path, checkErr)
			}
			var heldBefore []store.HeldMigration
			if checkErr == nil {
				held, err := st.MigrationsHeld(ctx)
				if err != nil {
					return fmt.Errorf("database %s: %w", path, err)
				}
				if len(held) == 0 {
					fmt.Fprintf(out, "Database %s is up to date; nothing to do.\n", path)
					return nil
				}
				heldBefore = held
			}
			if err := st.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate %s: %w", path, err)
			}
			if err := st.SchemaCheck(ctx); err != nil {
				return fmt.Errorf("migrate %s: schema still not current after migrating: %w", path, err)
			}
			held, err := st.MigrationsHeld(ctx)
			if err != nil {
				return fmt.Errorf("migrate %s: %w", path, err)
			}
			defer printHeld(out, held)
			if checkErr == nil {
				if applied := len(heldBefore) - len(held); applied > 0 {
					fmt.Fprintf(out, "Migrated %s: applied %d held contract migration(s).\n", path, applied)
				} else {
					fmt.Fprintf(out, "Database %s has every migration this version needs; nothing applied.\n", path)
				}
				return nil
			}
			what := "applied the Kiln migrations"
			switch {
			case db.pgURL != "":
				// No file: the database existed (Open connected to it), and
				// Migrate created the schema if it was missing. path names
				// a schema other than the default already.
				if db.pgSchema == postgres.DefaultSchema {
					what = fmt.Sprintf("applied the Kiln migrations in schema %s", db.pgSchema)
				}
			case created:
				what = "created the file and applied the Kiln migrations"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Migrated %s: %s. It is ready for 'kiln serve'.\n", path, what)
			return nil
		},
	}
	cmd.Flags().DurationVar(&removeStale, "remove-stale", 0,
		"first remove the registry rows of processes not refreshed for this long (at least 2m, and longer than every process's ServerTTL), which hold contract migrations back")
	return cmd
}

// removeStaleServers removes the registry rows not refreshed for d (by the
// database's clock on PostgreSQL), as the maintenance leader does after
// ServerTTL, and says which. A database without the registry has none.
func removeStaleServers(ctx context.Context, out io.Writer, st store.Store, d time.Duration) error {
	ids, err := st.ServerDeleteStale(ctx, &store.ServerDeleteStaleParams{Before: time.Now().Add(-d), TTL: d})
	if errors.Is(err, kiln.ErrSchemaMissing) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove stale registry rows: %w", err)
	}
	if len(ids) == 0 {
		fmt.Fprintf(out, "No registered process went without a refresh for %s.\n", d)
		return nil
	}
	fmt.Fprintf(out, "Removed the registry rows of %d process(es) not refreshed for %s: %s.\n", len(ids), d, strings.Join(ids, ", "))
	return nil
}

// printHeld tells, after migrating, which contract migrations are held
// back and by which processes, and what to do; nothing when held is empty.
func printHeld(w io.Writer, held []store.HeldMigration) {
	if len(held) == 0 {
		return
	}
	fmt.Fprintf(w, "Held back %d contract migration(s), which processes of an older Kiln version still need; "+
		"this version runs without them. Run 'kiln migrate' again once these processes have stopped:\n", len(held))
	for _, h := range held {
		fmt.Fprintf(w, "  %s\n", h)
	}
}
