package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
	"github.com/kilnjobs/kiln/store/postgres"
	"github.com/kilnjobs/kiln/store/sqlite"
)

// urlScheme matches a URL that starts with a scheme and "://".
var urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// pgSchemaParam is the query parameter of a PostgreSQL --database URL that
// names the schema of Kiln's tables (default postgres.DefaultSchema). It is
// removed before the URL goes to pgx, and search_path is not used, so the
// URL's other parameters keep their meaning.
const pgSchemaParam = "kiln_schema"

// pgBouncerParam is the query parameter of a PostgreSQL --database URL that
// says the URL reaches PostgreSQL through a pooler in transaction mode
// (postgres.Options.PgBouncer): kiln_pgbouncer=1 (or true); 0 or false, or
// leaving it out, means a direct connection. It is removed before the URL
// goes to pgx.
const pgBouncerParam = "kiln_pgbouncer"

// database is what a --database value names: a SQLite file, or a schema of
// a PostgreSQL database.
type database struct {
	path     string // the SQLite file; "" for PostgreSQL
	pgURL    string // the PostgreSQL URL without pgSchemaParam
	pgSchema string
	// pgBouncer is pgBouncerParam: postgres.Options.PgBouncer.
	pgBouncer bool
	// shown names the database in messages: the file path, or the URL
	// without its password.
	shown string
}

// parseDatabase returns the database that a --database value names: a
// plain path, sqlite:PATH, sqlite://PATH, file:PATH or file://PATH for
// SQLite; a postgres:// or postgresql:// URL, with optional kiln_schema and
// kiln_pgbouncer query parameters, for PostgreSQL. Another scheme, query parameters on a
// file path and ":memory:" are errors.
func parseDatabase(value string) (database, error) {
	lower := strings.ToLower(value)
	var path string
	switch {
	case value == "":
		return database{}, usageErrorf("--database is empty: give a SQLite file path such as %s or a postgres:// URL", defaultDatabase)
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		return parsePostgresURL(value)
	case strings.HasPrefix(lower, "sqlite://"):
		path = value[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		path = value[len("sqlite:"):]
	case strings.HasPrefix(lower, "file://"):
		path = value[len("file://"):]
	case strings.HasPrefix(lower, "file:"):
		path = value[len("file:"):]
	case urlScheme.MatchString(value):
		return database{}, usageErrorf("--database %s: unsupported kind of database; give a SQLite file path, sqlite:PATH, file:PATH or a postgres:// URL", redactURL(value))
	default:
		path = value
	}
	switch {
	case path == "":
		return database{}, usageErrorf("--database %s: no file path", value)
	case strings.ContainsRune(path, '?'):
		return database{}, usageErrorf("--database %s: query parameters are not supported; give a plain file path", value)
	case path == ":memory:":
		return database{}, usageErrorf("--database %s: an in-memory database would vanish when kiln exits; give a file path", value)
	}
	return database{path: path, shown: path}, nil
}

// parsePostgresURL parses a postgres:// or postgresql:// --database value.
func parsePostgresURL(value string) (database, error) {
	u, err := url.Parse(value)
	if err != nil {
		// url's error quotes the URL, password included.
		return database{}, usageErrorf("--database %s: not a valid URL", redactURL(value))
	}
	q := u.Query()
	schema := postgres.DefaultSchema
	if vs, ok := q[pgSchemaParam]; ok {
		if len(vs) != 1 || vs[0] == "" {
			return database{}, usageErrorf("--database %s: %s must be given once, and not empty", u.Redacted(), pgSchemaParam)
		}
		schema = vs[0]
		q.Del(pgSchemaParam)
		u.RawQuery = q.Encode()
	}
	pgBouncer := false
	if vs, ok := q[pgBouncerParam]; ok {
		if len(vs) != 1 {
			return database{}, usageErrorf("--database %s: %s must be given once", u.Redacted(), pgBouncerParam)
		}
		switch strings.ToLower(vs[0]) {
		case "1", "true":
			pgBouncer = true
		case "0", "false":
		default:
			return database{}, usageErrorf("--database %s: %s=%q: want 1 (behind PgBouncer in transaction mode) or 0", u.Redacted(), pgBouncerParam, vs[0])
		}
		q.Del(pgBouncerParam)
		u.RawQuery = q.Encode()
	}
	shown := u.Redacted()
	if schema != postgres.DefaultSchema {
		shown += " (schema " + schema + ")"
	}
	if pgBouncer {
		shown += " (through PgBouncer)"
	}
	return database{pgURL: u.String(), pgSchema: schema, pgBouncer: pgBouncer, shown: shown}, nil
}

// redactURL returns value with the password of a URL's user info replaced,
// also when value does not parse as a URL.
func redactURL(value string) string {
	if u, err := url.Parse(value); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(value, "://")
	if !ok {
		return value
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return value
	}
	if user, _, hasPassword := strings.Cut(userinfo, ":"); hasPassword {
		return scheme + "://" + user + ":xxxxx@" + host
	}
	return value
}

// databasePath returns the SQLite file path that a --database value names
// or, for a PostgreSQL URL, the URL without its password (there is no file
// to create: the database must exist, and migrate creates the schema).
func databasePath(value string) (string, error) {
	db, err := parseDatabase(value)
	if err != nil {
		return "", err
	}
	return db.shown, nil
}

// openMode says what openDatabase does with a missing file or schema.
type openMode int

const (
	// mustExist requires an existing database with the current schema.
	mustExist openMode = iota
	// createFile creates a missing file but leaves the schema alone.
	createFile
	// createAndMigrate creates a missing file and migrates the schema.
	createAndMigrate
)

// openDatabase opens the store that the --database value names. With
// mustExist, a missing file, a file that is not a SQLite database, an
// unreachable PostgreSQL server or a database without the current Kiln
// schema is an error that says how to fix it. The caller must close the
// store.
func openDatabase(ctx context.Context, value string, mode openMode) (store.Store, error) {
	db, err := parseDatabase(value)
	if err != nil {
		return nil, err
	}
	if db.pgURL != "" {
		return openPostgres(ctx, db, mode)
	}
	path := db.path
	migrateHint := "kiln migrate --database " + shellQuote(value)
	info, err := os.Stat(path)
	switch {
	case err == nil && info.IsDir():
		return nil, fmt.Errorf("database %s is a directory; give the path of a database file", path)
	case errors.Is(err, fs.ErrNotExist) && mode == mustExist:
		return nil, fmt.Errorf("database %s does not exist: create it with `%s`", path, migrateHint)
	case errors.Is(err, fs.ErrNotExist):
		if dir := filepath.Dir(path); !isDir(dir) {
			return nil, fmt.Errorf("cannot create database %s: directory %s does not exist", path, dir)
		}
	case err != nil:
		return nil, fmt.Errorf("database %s: %w", path, err)
	}

	st, err := sqlite.Open(ctx, path, &sqlite.Options{Migrate: mode == createAndMigrate})
	if err != nil {
		if strings.Contains(err.Error(), "not a database") {
			return nil, fmt.Errorf("%s is not a SQLite database (%w)", path, err)
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	if err := checkSchema(ctx, st, mode, path, migrateHint); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// openPostgres opens the PostgreSQL store db names; see openDatabase. The
// database itself must exist in every mode: createFile leaves the schema
// alone, createAndMigrate creates or updates it.
func openPostgres(ctx context.Context, db database, mode openMode) (store.Store, error) {
	st, err := postgres.Open(ctx, db.pgURL, &postgres.Options{Schema: db.pgSchema, Migrate: mode == createAndMigrate, PgBouncer: db.pgBouncer})
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", db.shown, err)
	}
	// The hint must not show the password: the user adds it back.
	u, _ := url.Parse(db.pgURL)
	hint := u.Redacted()
	if db.pgSchema != postgres.DefaultSchema {
		hint = addQueryParam(hint, pgSchemaParam, db.pgSchema)
	}
	if db.pgBouncer {
		hint = addQueryParam(hint, pgBouncerParam, "1")
	}
	if err := checkSchema(ctx, st, mode, db.shown, "kiln migrate --database "+shellQuote(hint)); err != nil {
		st.Close()
		return nil, err
	}
	return st, nil
}

// addQueryParam returns the URL rawURL with the query parameter key=value
// added.
func addQueryParam(rawURL, key, value string) string {
	sep := "?"
	if strings.ContainsRune(rawURL, '?') {
		sep = "&"
	}
	return rawURL + sep + url.QueryEscape(key) + "=" + url.QueryEscape(value)
}

// checkSchema checks, with mustExist, that st has the current Kiln schema.
func checkSchema(ctx context.Context, st store.Store, mode openMode, shown, migrateHint string) error {
	if mode != mustExist {
		return nil
	}
	if err := st.SchemaCheck(ctx); err != nil {
		if errors.Is(err, kiln.ErrSchemaMissing) {
			return fmt.Errorf("database %s has no Kiln schema, or an older one: run `%s`", shown, migrateHint)
		}
		return fmt.Errorf("database %s: %w", shown, err)
	}
	return nil
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// shellQuote quotes s for a POSIX shell if it needs it.
func shellQuote(s string) string {
	safe := func(r rune) bool {
		return r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-_./:=+@%,", r))
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool { return !safe(r) }) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
