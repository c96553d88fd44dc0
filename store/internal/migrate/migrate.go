// Package migrate is the migration runner of both stores: it reads a
// store's embedded migration files (NNN_name.sql, versions from 1 without
// gaps) in version order (Load, Files), applies those a database lacks,
// each once and recorded in its versions table (kiln_migration), with
// errors naming the migration (Run), runs the migrations marked
// NoTransactionMark statement by statement (NoTxDialect), and checks that a
// database has every table and migration of this build (Check). Each store
// supplies its Dialect: its SQL for the versions table, how it runs a
// transaction under its migration lock (store/sqlite: BEGIN IMMEDIATE;
// store/postgres: an advisory lock), and, on PostgreSQL, when and how a
// migration runs outside a transaction.
package migrate

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/kilnjobs/kiln/kilntype"
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

// Files is a store's embedded migrations, read on first use and kept.
// Its methods are safe for concurrent use.
type Files struct {
	load func() ([]Migration, error)
}

// NewFiles returns the migrations dir/*.sql of fsys (see Load), read once,
// when a method first needs them.
func NewFiles(fsys fs.FS, dir string) *Files {
	return &Files{load: sync.OnceValues(func() ([]Migration, error) { return Load(fsys, dir) })}
}

// Load returns the migrations in version order, or Load's error.
func (f *Files) Load() ([]Migration, error) {
	return f.load()
}

// Run applies the migrations up to version upTo (0 or less: all of them)
// with d; see the function Run.
func (f *Files) Run(ctx context.Context, d Dialect, upTo int) error {
	ms, err := f.load()
	if err != nil {
		return err
	}
	return Run(ctx, d, ms, upTo)
}

// Check says whether a database has every table and migration of this
// build; see the function Check.
func (f *Files) Check(db Database) error {
	ms, err := f.load()
	if err != nil {
		return err
	}
	return Check(db, ms)
}

// Conn is where a store runs a migration's statements: a transaction that
// holds the store's migration lock or, for a migration that runs outside a
// transaction, a connection that holds that lock for its session, each
// statement committed on its own.
type Conn interface {
	// Applied reports whether the versions table records version.
	Applied(ctx context.Context, version int) (bool, error)
	// Exec runs sql: a migration's whole text, or one of its statements.
	Exec(ctx context.Context, sql string) error
	// Record adds m's version and name to the versions table.
	Record(ctx context.Context, m Migration) error
}

// Dialect is what a store supplies to Run.
type Dialect interface {
	// Init creates the versions table, and what holds it (a schema), when
	// absent. Its error says what it was creating.
	Init(ctx context.Context) error
	// InTx runs fn in one transaction that holds the store's migration
	// lock, so that one migrator at a time reads and writes the versions
	// table; it commits when fn returns nil and rolls back otherwise.
	InTx(ctx context.Context, fn func(Conn) error) error
}

// NoTxDialect is a Dialect that runs the migrations marked
// NoTransactionMark statement by statement: in the migration's transaction
// (InTx), or, when OutsideTx says so, each committed on its own on a
// session (InSession). A Dialect without it runs them as any other, the
// whole text in one transaction.
type NoTxDialect interface {
	Dialect
	// OutsideTx is called in the transaction of InTx once m is known to be
	// pending; it reports whether m is to run outside a transaction
	// instead (PostgreSQL: when kiln_job is large).
	OutsideTx(ctx context.Context, c Conn, m Migration) (bool, error)
	// Statements returns the statements to run for m on c, in order: m's
	// own (see Statements) and any the store runs before them. inTx says
	// whether c is a transaction (else a session).
	Statements(ctx context.Context, c Conn, m Migration, inTx bool) ([]string, error)
	// InSession runs fn on one connection that holds the migration lock
	// for its session; each statement commits on its own.
	InSession(ctx context.Context, fn func(Conn) error) error
}

// Run creates d's versions table (Dialect.Init), then applies each of ms
// in order, up to version upTo (0 or less: all of them), unless the
// versions table records it, and records it in the same transaction (or,
// outside a transaction, after its last statement). It stops at the first
// error, which it returns prefixed with the migration's name
// ("010_claim_by_kind: ..."), and with the statement's first line when the
// migration runs statement by statement. A migration is applied once when
// several processes migrate at once (each takes d's lock and checks the
// versions table), and Run is a no-op on an up-to-date database. Upgrade
// tests pass an earlier upTo to build a database of that version.
func Run(ctx context.Context, d Dialect, ms []Migration, upTo int) error {
	if err := d.Init(ctx); err != nil {
		return err
	}
	for _, m := range ms {
		if upTo > 0 && m.Version > upTo {
			break
		}
		if err := apply(ctx, d, m); err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
	}
	return nil
}

// apply applies m with d unless d's versions table records it.
func apply(ctx context.Context, d Dialect, m Migration) error {
	nd, ok := d.(NoTxDialect)
	if !m.NoTx || !ok {
		return d.InTx(ctx, func(c Conn) error {
			if applied, err := c.Applied(ctx, m.Version); err != nil || applied {
				return err
			}
			if err := c.Exec(ctx, m.SQL); err != nil {
				return err
			}
			return c.Record(ctx, m)
		})
	}
	outside := false
	err := d.InTx(ctx, func(c Conn) error {
		applied, err := c.Applied(ctx, m.Version)
		if err != nil || applied {
			return err
		}
		if outside, err = nd.OutsideTx(ctx, c, m); err != nil || outside {
			return err
		}
		return applyStatements(ctx, nd, c, m, true)
	})
	if err != nil || !outside {
		return err
	}
	return nd.InSession(ctx, func(c Conn) error {
		if applied, err := c.Applied(ctx, m.Version); err != nil || applied {
			return err
		}
		return applyStatements(ctx, nd, c, m, false)
	})
}

// applyStatements runs the statements of nd.Statements for m on c, one at
// a time, then records m.
func applyStatements(ctx context.Context, nd NoTxDialect, c Conn, m Migration, inTx bool) error {
	stmts, err := nd.Statements(ctx, c, m, inTx)
	if err != nil {
		return err
	}
	for _, stmt := range stmts {
		if err := c.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return c.Record(ctx, m)
}

// Statements splits sql, the text of a migration marked NoTransactionMark,
// into its statements: each ends with ";" at the end of a line. Lines that
// are only comments are left out, and so are the chunks they leave empty.
func Statements(sql string) []string {
	var (
		out []string
		cur strings.Builder
	)
	for line := range strings.Lines(sql) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(trimmed, ";") {
			out = append(out, strings.TrimSpace(cur.String()))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		out = append(out, rest)
	}
	return out
}

// firstLine returns stmt's first line, to name it in an error.
func firstLine(stmt string) string {
	line, _, _ := strings.Cut(stmt, "\n")
	return line
}

// Tables are the tables that a database migrated by this build has, in
// either store.
var Tables = []string{"kiln_migration", "kiln_job", "kiln_job_attempt", "kiln_leader",
	"kiln_recurring", "kiln_recurring_occurrence", "kiln_service",
	"kiln_job_parent", "kiln_batch", "kiln_batch_job", "kiln_queue"}

// Database is what Check reads of a store's database.
type Database struct {
	// Name names the database in errors: `schema "kiln"`, "database".
	Name string
	// TablePrefix comes before a table's name in errors: `"kiln".`, or
	// nothing.
	TablePrefix string
	// Tables are the database's tables whose names start with "kiln_".
	Tables []string
	// Version returns the highest version the versions table records (0
	// when it has none). Check calls it only when every table is there.
	Version func() (int, error)
}

// Check returns nil when db has every table of Tables and a version at
// least that of the last of ms (newer ones, of a later build, are
// accepted), and otherwise an error that says what is missing and wraps
// kilntype.ErrSchemaMissing (whose message says to run `kiln migrate`),
// or Version's error.
func Check(db Database, ms []Migration) error {
	if len(db.Tables) == 0 {
		return fmt.Errorf("%s has no Kiln tables: %w", db.Name, kilntype.ErrSchemaMissing)
	}
	for _, t := range Tables {
		if !slices.Contains(db.Tables, t) {
			return fmt.Errorf("table %s%s is missing: %w", db.TablePrefix, t, kilntype.ErrSchemaMissing)
		}
	}
	have, err := db.Version()
	if err != nil {
		return err
	}
	if want := Latest(ms); have < want {
		return fmt.Errorf("%s is at version %d, want %d: %w", db.Name, have, want, kilntype.ErrSchemaMissing)
	}
	return nil
}
