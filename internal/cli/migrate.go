package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/kilnjobs/kiln"
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
upgrading Kiln.`,
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
			checkErr := st.SchemaCheck(ctx)
			if checkErr == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Database %s is up to date; nothing to do.\n", path)
				return nil
			}
			if !errors.Is(checkErr, kiln.ErrSchemaMissing) {
				return fmt.Errorf("database %s: %w", path, checkErr)
			}
			if err := st.Migrate(ctx); err != nil {
				return fmt.Errorf("migrate %s: %w", path, err)
			}
			if err := st.SchemaCheck(ctx); err != nil {
				return fmt.Errorf("migrate %s: schema still not current after migrating: %w", path, err)
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
