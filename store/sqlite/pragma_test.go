package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
)

// TestPragmas checks the settings of the writer and reader connections.
func TestPragmas(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &Options{BusyTimeout: 1234e6})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		pragma         string
		writer, reader string
	}{
		{"journal_mode", "wal", "wal"},
		{"synchronous", "1", "1"}, // NORMAL
		{"foreign_keys", "1", "1"},
		{"busy_timeout", "1234", "1234"},
		{"temp_store", "2", "2"}, // MEMORY
		{"query_only", "0", "1"},
	} {
		var w, r string
		if err := s.w.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&w); err != nil {
			t.Fatal(err)
		}
		if err := s.r.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&r); err != nil {
			t.Fatal(err)
		}
		if w != tc.writer || r != tc.reader {
			t.Errorf("%s: writer %s, reader %s; want %s, %s", tc.pragma, w, r, tc.writer, tc.reader)
		}
	}
}

// TestSynchronousOption checks that Options.Synchronous reaches every
// connection, and that a value other than NORMAL or FULL is refused.
func TestSynchronousOption(t *testing.T) {
	t.Parallel()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &Options{Synchronous: SynchronousFull})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for name, db := range map[string]interface {
		QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	}{"writer": s.w, "reader": s.r} {
		var v string
		if err := db.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&v); err != nil {
			t.Fatal(err)
		}
		if v != "2" { // FULL
			t.Errorf("%s: synchronous = %s, want 2 (FULL)", name, v)
		}
	}
	_, err = Open(t.Context(), filepath.Join(t.TempDir(), "kiln.db"), &Options{Synchronous: "OFF"})
	if err == nil || !strings.Contains(err.Error(), `Options.Synchronous "OFF"`) {
		t.Fatalf("Open with Synchronous OFF: err = %v, want an error naming the option", err)
	}
}
