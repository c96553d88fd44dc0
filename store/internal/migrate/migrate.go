// Package migrate is the migration runner of both stores: it reads a
// store's embedded migration files (NNN_name.sql, versions from 1 without
// gaps) in version order (Load, Files), applies those a database lacks,
// each once and recorded in its versions table (kiln_migration), with
// errors naming the migration (Run), runs the migrations marked
// NoTransactionMark statement by statement (NoTxDialect), holds back a
// contract migration (ContractMark) while processes of older builds are
// registered (GateDialect, Held, Pending), and checks that a database has
// every table and migration of this build (Check). Each store supplies its
// Dialect: its SQL for the versions table, how it runs a transaction under
// its migration lock (store/sqlite: BEGIN IMMEDIATE; store/postgres: an
// advisory lock), which builds its registered processes run, and, on
// PostgreSQL, when and how a migration runs outside a transaction.
//
// # Writing a contract migration
//
// A change that older builds cannot run beside (dropping a column default
// they rely on, an index their statements need, a value they cannot read)
// is made in two migrations of one release, expand then contract:
//
//   - An ordinary migration N makes the schema serve both builds (adds the
//     new index, drops NOT NULL, ...), and this build's code works with or
//     without the contract step (reads both forms, needs neither index).
//   - A migration M > N whose leading comment lines include the line
//     "-- kiln:contract N" removes what builds before version N need. Run
//     applies it only when no registered process (the server registry,
//     whose rows record each process's last migration, Latest) runs a build
//     whose last migration is before N; otherwise it records nothing,
//     applies the later ordinary migrations past it, and returns a
//     *HeldError that stores treat as success (Migrate returns nil).
//     Check does not require it. A later Run (the next Migrate: a start
//     with Options.Migrate, or `kiln migrate`) applies it once those
//     processes have stopped.
//
// Rules, each because of how Run orders them: an ordinary migration after a
// contract one must work whether the contract one has been applied or not
// (it may be held for days); contract migrations apply in version order (a
// held one holds every later one back: Held.Behind); each statement of a
// contract migration marked NoTransactionMark must be idempotent, and the
// schema between two of its statements must be one that both builds run
// on, since the gate is asked again before each statement and may stop it
// midway. The gate sees only processes that registered (a started Client;
// not an enqueue-only client, a dashboard without workers, or the CLI),
// not a process of a build before the tenth session's that checked the
// schema before the migration and registers after it (later builds
// register first, then check: the stores' SchemaCheck then reads what the
// migration left), nor one of a build before 030 started after it
// (nothing holds those: their Check accepts newer migrations); docs/upgrading.md,
// "Contract migrations", lists what the gate does not see. Say there what
// an older process that meets the contracted schema does.
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
	"testing/fstest"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// NoTransactionMark, as a migration's first line (spaces around it
// ignored), marks a migration that must not run in a transaction (CREATE
// INDEX CONCURRENTLY on PostgreSQL); see Migration.NoTx.
const NoTransactionMark = "-- kiln:no-transaction"

// ContractMark, followed by a version N, as one of a migration's leading
// comment lines ("-- kiln:contract 29"), marks a contract migration: one
// that removes what processes of builds whose last migration is before N
// still need, and that builds from N on do without. See Migration.Contract
// and the package documentation.
const ContractMark = "-- kiln:contract"

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
	// Contract is N for a migration marked ContractMark N, 0 for an
	// ordinary one: Run applies it only when no registered process runs a
	// build whose last migration is before N (GateDialect), and Check does
	// not require it.
	Contract int
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
		contract, err := contractOf(string(b))
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", base, err)
		}
		ms = append(ms, Migration{Version: version, Name: name, SQL: string(b),
			NoTx: strings.TrimSpace(first) == NoTransactionMark, Contract: contract})
	}
	slices.SortStableFunc(ms, func(a, b Migration) int { return a.Version - b.Version })
	for i, m := range ms {
		if m.Version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.Name, i+1)
		}
		if m.Contract >= m.Version {
			return nil, fmt.Errorf("migration %s: %s %d: want the version of an earlier migration (the expand step)",
				m.Name, ContractMark, m.Contract)
		}
	}
	return ms, nil
}

// contractOf returns N of the line "ContractMark N" among sql's leading
// comment lines (blank lines included), 0 when there is none, and an error
// when N is not a positive number.
func contractOf(sql string) (int, error) {
	for line := range strings.Lines(sql) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, "--") {
			break
		}
		rest, ok := strings.CutPrefix(line, ContractMark)
		if !ok || rest != "" && rest[0] != ' ' && rest[0] != '\t' {
			continue
		}
		v, err := strconv.Atoi(strings.TrimSpace(rest))
		if err != nil || v < 1 {
			return 0, fmt.Errorf("%q: want a version after %q", line, ContractMark)
		}
		return v, nil
	}
	return 0, nil
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

// NewFilesWith returns the migrations dir/*.sql of fsys followed by extra
// (file name, "NNN_name.sql", to text), read once: a store's own and the
// migrations of a test (see Load).
func NewFilesWith(fsys fs.FS, dir string, extra map[string]string) *Files {
	return &Files{load: sync.OnceValues(func() ([]Migration, error) {
		all := fstest.MapFS{}
		files, err := fs.Glob(fsys, path.Join(dir, "*.sql"))
		if err != nil {
			return nil, err
		}
		for _, file := range files {
			b, err := fs.ReadFile(fsys, file)
			if err != nil {
				return nil, err
			}
			all[path.Join("m", path.Base(file))] = &fstest.MapFile{Data: b}
		}
		for name, text := range extra {
			all[path.Join("m", name)] = &fstest.MapFile{Data: []byte(text)}
		}
		return Load(all, "m")
	})}
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

// Pending returns the contract migrations that d's database lacks; see the
// function Pending.
func (f *Files) Pending(ctx context.Context, d GateDialect) ([]Held, error) {
	ms, err := f.load()
	if err != nil {
		return nil, err
	}
	return Pending(ctx, d, ms)
}

// Held returns the contract migrations that d's database lacks, as the
// stores' MigrationsHeld return them; see the function Pending.
func (f *Files) Held(ctx context.Context, d GateDialect) ([]store.HeldMigration, error) {
	held, err := f.Pending(ctx, d)
	if err != nil || len(held) == 0 {
		return nil, err
	}
	out := make([]store.HeldMigration, len(held))
	for i, h := range held {
		out[i] = h.Store()
	}
	return out, nil
}

// Latest returns the version of the last migration (see the function
// Latest), or Load's error.
func (f *Files) Latest() (int, error) {
	ms, err := f.load()
	return Latest(ms), err
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
	// Record adds m's version and name to the versions table, and, for a
	// contract migration, its Contract (which Database.Contract reads).
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

// GateDialect is a Dialect whose database knows the last migration of the
// build each registered process runs (the server registry): Run asks it
// before applying a contract migration (in the migration's transaction,
// and before each statement run outside one). Run refuses to apply a
// contract migration with a Dialect that is not one.
type GateDialect interface {
	Dialect
	// Older describes the registered processes whose build's last
	// migration is before version, one line each ("server ID (host H, pid
	// P, last migration L, refreshed at T)"), nil when there are none. It
	// runs on c: the migration's transaction, or its session.
	Older(ctx context.Context, c Conn, version int) ([]string, error)
}

// Held is a contract migration that a database lacks and Run did not
// apply, and why.
type Held struct {
	Migration Migration
	// Older are the registered processes of builds before
	// Migration.Contract, one line each (GateDialect.Older). Pending
	// returns a Held with no Older and no Behind for a contract migration
	// that the next Run applies.
	Older []string
	// Behind is the name of the earlier contract migration, held too,
	// that this one waits for (contract migrations apply in version
	// order), "" when none.
	Behind string
}

// Store returns h as the stores' MigrationsHeld return it.
func (h Held) Store() store.HeldMigration {
	return store.HeldMigration{Name: h.Migration.Name, Contract: h.Migration.Contract, Older: h.Older, Behind: h.Behind}
}

// String says what holds h's migration back (store.HeldMigration.String).
func (h Held) String() string { return h.Store().String() }

// OlderProcess is how a GateDialect describes a registered process in
// Held.Older: its server ID, host, pid, its build's last migration and
// when it last refreshed its row.
func OlderProcess(id, host string, pid, last int, refreshedAt time.Time) string {
	return fmt.Sprintf("server %s (host %s, pid %d, last migration %d, refreshed at %s)",
		id, host, pid, last, refreshedAt.UTC().Format(time.RFC3339))
}

// HeldError is Run's error when it applied every migration it could and
// held back the contract migrations Held (see Migration.Contract). The
// database then has what this build needs (Check passes, unless something
// else is missing): a store's Migrate treats it as success.
type HeldError struct {
	Held []Held
}

func (e *HeldError) Error() string {
	parts := make([]string, len(e.Held))
	for i, h := range e.Held {
		parts[i] = h.String()
	}
	return "contract migrations held back: " + strings.Join(parts, "; ")
}

// gate returns a non-nil *Held when m is a contract migration that is not
// to be applied now: one behind the held migration named behind (when not
// ""), or one that d finds registered processes of older builds for, on
// c. It fails when m is a contract migration and d is not a GateDialect.
func gate(ctx context.Context, d Dialect, c Conn, m Migration, behind string) (*Held, error) {
	if m.Contract == 0 {
		return nil, nil
	}
	if behind != "" {
		return &Held{Migration: m, Behind: behind}, nil
	}
	g, ok := d.(GateDialect)
	if !ok {
		return nil, fmt.Errorf("a contract migration (%s %d), and this store cannot tell which builds its processes run",
			ContractMark, m.Contract)
	}
	older, err := g.Older(ctx, c, m.Contract)
	if err != nil {
		return nil, fmt.Errorf("list the processes of builds before migration %d: %w", m.Contract, err)
	}
	if len(older) > 0 {
		return &Held{Migration: m, Older: older}, nil
	}
	return nil, nil
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
//
// A contract migration (Migration.Contract) is applied only when d, a
// GateDialect, finds no registered process of a build before its Contract,
// and no earlier contract migration is held; otherwise Run records nothing
// for it and goes on with the next migrations. When it held any back and
// met no error, it returns a *HeldError that lists them. A contract
// migration run statement by statement outside a transaction asks the gate
// before each statement, so it may stop midway, unrecorded: a later Run
// completes it, as after an error.
func Run(ctx context.Context, d Dialect, ms []Migration, upTo int) error {
	if err := d.Init(ctx); err != nil {
		return err
	}
	var held []Held
	for _, m := range ms {
		if upTo > 0 && m.Version > upTo {
			break
		}
		behind := ""
		if len(held) > 0 {
			behind = held[0].Migration.Name
		}
		h, err := apply(ctx, d, m, behind)
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name, err)
		}
		if h != nil {
			held = append(held, *h)
		}
	}
	if len(held) > 0 {
		return &HeldError{Held: held}
	}
	return nil
}

// apply applies m with d unless d's versions table records it or the gate
// holds it back (then it returns the *Held; see gate for behind).
func apply(ctx context.Context, d Dialect, m Migration, behind string) (*Held, error) {
	var held *Held
	nd, ok := d.(NoTxDialect)
	if !m.NoTx || !ok {
		err := d.InTx(ctx, func(c Conn) error {
			applied, err := c.Applied(ctx, m.Version)
			if err != nil || applied {
				return err
			}
			if held, err = gate(ctx, d, c, m, behind); err != nil || held != nil {
				return err
			}
			if err := c.Exec(ctx, m.SQL); err != nil {
				return err
			}
			return c.Record(ctx, m)
		})
		return held, err
	}
	outside := false
	err := d.InTx(ctx, func(c Conn) error {
		applied, err := c.Applied(ctx, m.Version)
		if err != nil || applied {
			return err
		}
		if held, err = gate(ctx, d, c, m, behind); err != nil || held != nil {
			return err
		}
		if outside, err = nd.OutsideTx(ctx, c, m); err != nil || outside {
			return err
		}
		_, err = applyStatements(ctx, nd, c, m, true)
		return err
	})
	if err != nil || held != nil || !outside {
		return held, err
	}
	err = nd.InSession(ctx, func(c Conn) error {
		applied, err := c.Applied(ctx, m.Version)
		if err != nil || applied {
			return err
		}
		held, err = applyStatements(ctx, nd, c, m, false)
		return err
	})
	return held, err
}

// applyStatements runs the statements of nd.Statements for m on c, one at
// a time, then records m. Outside a transaction (inTx false), the gate is
// asked before each statement of a contract migration, so that a process
// of an older build that registered since the last statement stops it
// there, unrecorded (the returned *Held).
func applyStatements(ctx context.Context, nd NoTxDialect, c Conn, m Migration, inTx bool) (*Held, error) {
	stmts, err := nd.Statements(ctx, c, m, inTx)
	if err != nil {
		return nil, err
	}
	for _, stmt := range stmts {
		if !inTx {
			if held, err := gate(ctx, nd, c, m, ""); err != nil || held != nil {
				return held, err
			}
		}
		if err := c.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", firstLine(stmt), err)
		}
	}
	return nil, c.Record(ctx, m)
}

// Pending returns the contract migrations of ms that d's versions table
// does not record, in order, each with what holds it back now (Held.Older,
// Held.Behind; neither when the next Run applies it), nil when there are
// none. It reads in a transaction under d's lock (none when ms has no
// contract migration: it returns nil at once), and changes nothing; it
// does not create the versions table (Init): on a database without one it
// fails as d's queries do.
func Pending(ctx context.Context, d GateDialect, ms []Migration) ([]Held, error) {
	if !slices.ContainsFunc(ms, func(m Migration) bool { return m.Contract > 0 }) {
		return nil, nil // no lock taken: a client asks at each start
	}
	var out []Held
	err := d.InTx(ctx, func(c Conn) error {
		out = out[:0]
		behind := ""
		for _, m := range ms {
			if m.Contract == 0 {
				continue
			}
			applied, err := c.Applied(ctx, m.Version)
			if err != nil {
				return err
			}
			if applied {
				continue
			}
			held, err := gate(ctx, d, c, m, behind)
			if err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			if held == nil {
				held = &Held{Migration: m}
			}
			out = append(out, *held)
			if behind == "" && len(held.Older) > 0 {
				behind = m.Name
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
	// Versions returns the versions that the versions table records, in
	// any order. Check calls it only when every table is there.
	Versions func() ([]int, error)
	// Contract returns the highest Contract of the contract migrations
	// that the versions table records (0: none). Check calls it only when
	// the database has every migration of this build. Nil: not read.
	Contract func() (int, error)
}

// Check returns nil when db has every table of Tables and every migration
// of ms that is not a contract migration (those of later builds, and this
// build's contract migrations, applied or not, do not matter: this build
// runs with or without them), and otherwise an error that says what is
// missing and wraps kilntype.ErrSchemaMissing (whose message says to run
// `kiln migrate`), or Versions' error. It also fails, without wrapping
// ErrSchemaMissing, when a contract migration applied to db (a later
// build's) is for builds from a migration after the last of ms
// (db.Contract): this build's statements may fail on what it removed.
func Check(db Database, ms []Migration) error {
	if len(db.Tables) == 0 {
		return fmt.Errorf("%s has no Kiln tables: %w", db.Name, kilntype.ErrSchemaMissing)
	}
	for _, t := range Tables {
		if !slices.Contains(db.Tables, t) {
			return fmt.Errorf("table %s%s is missing: %w", db.TablePrefix, t, kilntype.ErrSchemaMissing)
		}
	}
	have, err := db.Versions()
	if err != nil {
		return err
	}
	var missing []string
	for _, m := range ms {
		if m.Contract == 0 && !slices.Contains(have, m.Version) {
			missing = append(missing, m.Name)
		}
	}
	switch {
	case len(missing) == 1:
		return fmt.Errorf("%s lacks migration %s: %w", db.Name, missing[0], kilntype.ErrSchemaMissing)
	case len(missing) > 3:
		return fmt.Errorf("%s lacks %d migrations (%s, %s, ..., %s): %w", db.Name, len(missing),
			missing[0], missing[1], missing[len(missing)-1], kilntype.ErrSchemaMissing)
	case len(missing) > 1:
		return fmt.Errorf("%s lacks migrations %s: %w", db.Name, strings.Join(missing, ", "), kilntype.ErrSchemaMissing)
	}
	if db.Contract == nil {
		return nil
	}
	contract, err := db.Contract()
	if err != nil {
		return err
	}
	if last := Latest(ms); contract > last {
		return fmt.Errorf("%s has a contract migration applied for builds from migration %d on, "+
			"which removed what builds before it need; this build's last migration is %d: run a newer build",
			db.Name, contract, last)
	}
	return nil
}
