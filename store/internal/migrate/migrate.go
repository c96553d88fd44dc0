// Package migrate holds what the stores' migration runners share: reading
// a store's embedded migration files (NNN_name.sql, versions from 1
// without gaps) in version order, and the loop that hands each one, up to
// a version, to the store to apply unless its database recorded it. Each
// store keeps its own SQL, transactions and locking (store/sqlite: one
// IMMEDIATE transaction each; store/postgres: advisory locks, and
// migrations marked NoTransactionMark run statement by statement).
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// NoTransactionMark, as a migration's first line (spaces around it
// ignored), marks a migration that must not run in a transaction (CREATE
// INDEX CONCURRENTLY on PostgreSQL); see Migration.NoTx.
const NoTransactionMark = "-- kiln:no-transaction"

// Migration is one versioned schema change, read from a file NNN_name.sql.
type Migration struct {
	// Version is NNN, the number before the first "_": 1 for the first
	// migration, one more for each next.
	Version int
	// Name is the file's name without ".sql", e.g. "001_init"; stores
	// record it with the version.
	Name string
	// SQL is the file's text, as written.
	SQL string
	// NoTx is true when the file's first line is NoTransactionMark. What
	// it means is the store's: PostgreSQL runs such a migration outside a
	// transaction on a large table; a store that has no use for it runs
	// the migration as any other.
	NoTx bool
}

// Load reads the files dir/*.sql of fsys (a store's embedded migrations)
// and returns them in version order. It fails when a file's name does not
// start with a version number, or when the versions do not run from 1
// without a gap or a repeat; the error names the file.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
	if err != nil {
		return nil, err
	}
	ms := make([]Migration, 0, len(files))
	for _, file := range files {
		base := path.Base(file)
		name := strings.TrimSuffix(base, ".sql")
		prefix, _, _ := strings.Cut(name, "_")
		version, err := strconv.Atoi(prefix)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version: %w", base, err)
		}
		b, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, err
		}
		first, _, _ := strings.Cut(string(b), "\n")
		ms = append(ms, Migration{Version: version, Name: name, SQL: string(b),
			NoTx: strings.TrimSpace(first) == NoTransactionMark})
	}
	slices.SortStableFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.Name, i+1)
		}
	}
	return ms, nil
}

// Latest returns the version of the last of ms, as Load returns them: the
// version a database migrated by this build has. It is 0 when ms is empty.
func Latest(ms []Migration) int {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Run calls apply for each of ms in order, up to version upTo (0 or less:
// all of them), and stops at the first error, which it returns prefixed
// with the migration's name ("010_claim_by_kind: ..."). apply is the
// store's: it applies m, and records it as applied, unless the database
// says it was (so that a migration is applied once when several processes
// migrate at once, and Run is a no-op on an up-to-date database). Upgrade
// tests pass an earlier upTo to build a database of that version.
func Run(ctx context.Context, ms []Migration, upTo int, apply func(context.Context, Migration) error) error {
	for _, m := range ms {
		if upTo > 0 && m.Version > upTo {
			break
		}
		if err := apply(ctx, m); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}
