package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
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
		{"wal_autocheckpoint", "4000", "1000"}, // writerCheckpointFrames; SQLite's default
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

// TestWriterCheckpointInterval checks that the writer lets the WAL grow
// past SQLite's default checkpoint interval (1,000 frames) without copying
// it to the database file: after commits that wrote 2,000 pages, the WAL
// still holds them all (a checkpoint at 1,000 frames would have let the
// next commit start the log again from its beginning). Each job's args
// fill most of a page, so that 1,600 jobs write the 2,000 pages (with
// args {} it took twice as long under -race).
func TestWriterCheckpointInterval(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := openMigrated(t)
	pageCounts(t, s.w)
	written, jobs := 0, 0
	args := []byte(`{"pad":"` + strings.Repeat("x", 3000) + `"}`)
	defer func() { t.Logf("%d jobs wrote %d pages", jobs, written) }()
	for i := 0; written < 2000; i++ {
		var params []*store.JobInsertParams
		for j := range 50 {
			jobs++
			params = append(params, &store.JobInsertParams{Kind: "k", Queue: "q", Args: args, Priority: 1, MaxAttempts: 1,
				State: kilntype.JobStateAvailable, Partition: strconv.Itoa(i*50 + j)})
		}
		if _, err := s.JobInsertMany(ctx, params); err != nil {
			t.Fatal(err)
		}
		_, w := pageCounts(t, s.w)
		written += w
	}
	var busy, log, copied int
	if err := s.w.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &copied); err != nil {
		t.Fatal(err)
	}
	if log < written {
		t.Errorf("the WAL holds %d frames after commits that wrote %d pages: the writer checkpointed before %d frames", log, written, writerCheckpointFrames)
	}
	if written >= writerCheckpointFrames {
		t.Fatalf("the test wrote %d pages, want fewer than %d", written, writerCheckpointFrames)
	}
}
