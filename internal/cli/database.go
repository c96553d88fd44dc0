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
	"github.com/kilnjobs/kiln/store/sqlite"
)

// urlScheme matches a URL that starts with a scheme and "://".
var urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://`)

// databasePath returns the SQLite file path that a --database value names:
// a plain path, sqlite:PATH, sqlite://PATH, file:PATH or file://PATH. A
// PostgreSQL URL, another scheme, query parameters and ":memory:" are
// errors.
func databasePath(value string) (string, error) {
	lower := strings.ToLower(value)
	var path string
	switch {
	case value == "":
		return "", usageErrorf("--database is empty: give a SQLite file path such as %s", defaultDatabase)
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		shown := value
		if u, err := url.Parse(value); err == nil {
			shown = u.Redacted()
		}
		return "", fmt.Errorf("--database %s: the PostgreSQL store is not available in this build yet; use a SQLite file path such as %s", shown, defaultDatabase)
	case strings.HasPrefix(lower, "sqlite://"):
		path = value[len("sqlite://"):]
	case strings.HasPrefix(lower, "sqlite:"):
		path = value[len("sqlite:"):]
	case strings.HasPrefix(lower, "file://"):
		path = value[len("file://"):]
	case strings.HasPrefix(lower, "file:"):
		path = value[len("file:"):]
	case urlScheme.MatchString(value):
		return "", usageErrorf("--database %s: unsupported kind of database; give a SQLite file path, sqlite:PATH or file:PATH", value)
	default:
		path = value
	}
	switch {
	case path == "":
		return "", usageErrorf("--database %s: no file path", value)
	case strings.ContainsRune(path, '?'):
		return "", usageErrorf("--database %s: query parameters are not supported; give a plain file path", value)
	case path == ":memory:":
		return "", usageErrorf("--database %s: an in-memory database would vanish when kiln exits; give a file path", value)
	}
	return path, nil
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

// openDatabase opens the SQLite store that the --database value names. With
// mustExist, a missing file, a file that is not a SQLite database or a
// database without the current Kiln schema is an error that says how to
// fix it. The caller must close the store.
func openDatabase(ctx context.Context, value string, mode openMode) (*sqlite.Store, error) {
	path, err := databasePath(value)
	if err != nil {
		return nil, err
	}
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
	if mode == mustExist {
		if err := st.SchemaCheck(ctx); err != nil {
			st.Close()
			if errors.Is(err, kiln.ErrSchemaMissing) {
				return nil, fmt.Errorf("database %s has no Kiln schema, or an older one: run `%s`", path, migrateHint)
			}
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	return st, nil
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
