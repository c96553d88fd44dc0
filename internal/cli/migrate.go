package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
)

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
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
migration applies them too when it starts.`,
		Example: `  kiln migrate
  kiln migrate --database /var/lib/myapp/jobs.db`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
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
