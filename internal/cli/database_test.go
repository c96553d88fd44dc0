package cli

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/store/postgres/pgtest"
)

func TestParsePostgresDatabase(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in                 string
		url, schema, shown string
	}{
		{"postgres://u:p@h/db", "postgres://u:p@h/db", "kiln", "postgres://u:xxxxx@h/db"},
		{"postgresql://h/db?sslmode=disable", "postgresql://h/db?sslmode=disable", "kiln", "postgresql://h/db?sslmode=disable"},
		{"POSTGRES://h/db?kiln_schema=jobs&sslmode=disable", "postgres://h/db?sslmode=disable", "jobs",
			"postgres://h/db?sslmode=disable (schema jobs)"},
		{"postgres://h/db?kiln_schema=kiln", "postgres://h/db", "kiln", "postgres://h/db"},
	} {
		db, err := parseDatabase(tc.in)
		if err != nil {
			t.Errorf("parseDatabase(%q): %v", tc.in, err)
			continue
		}
		if db.path != "" || db.pgURL != tc.url || db.pgSchema != tc.schema || db.shown != tc.shown {
			t.Errorf("parseDatabase(%q) = %+v; want URL %q, schema %q, shown %q", tc.in, db, tc.url, tc.schema, tc.shown)
		}
	}
	for _, in := range []string{"postgres://h/db?kiln_schema=", "postgres://h/db?kiln_schema=a&kiln_schema=b",
		"postgres://u:s3cret@h:bad/db"} {
		_, err := parseDatabase(in)
		if err == nil {
			t.Errorf("parseDatabase(%q): no error", in)
		} else if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("parseDatabase(%q): the error shows the password: %v", in, err)
		}
	}
}

func TestParsePostgresDatabasePgBouncer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"postgres://h/db?kiln_pgbouncer=1&sslmode=disable":     true,
		"postgres://h/db?kiln_pgbouncer=true&kiln_schema=jobs": true,
		"postgres://h/db?kiln_pgbouncer=0":                     false,
		"postgres://h/db":                                      false,
	} {
		db, err := parseDatabase(in)
		if err != nil {
			t.Errorf("parseDatabase(%q): %v", in, err)
			continue
		}
		if db.pgBouncer != want || strings.Contains(db.pgURL, pgBouncerParam) {
			t.Errorf("parseDatabase(%q): pgBouncer %v, URL %q; want %v and no %s", in, db.pgBouncer, db.pgURL, want, pgBouncerParam)
		}
		if want && !strings.Contains(db.shown, "PgBouncer") {
			t.Errorf("parseDatabase(%q): shown as %q, which does not say PgBouncer", in, db.shown)
		}
	}
	for _, in := range []string{"postgres://h/db?kiln_pgbouncer=yes", "postgres://h/db?kiln_pgbouncer=1&kiln_pgbouncer=1"} {
		if _, err := parseDatabase(in); err == nil || !strings.Contains(err.Error(), pgBouncerParam) {
			t.Errorf("parseDatabase(%q): %v, want an error naming %s", in, err, pgBouncerParam)
		}
	}
}

// withParam adds the query parameter key=value to url.
func withParam(url, key, value string) string {
	return addQueryParam(url, key, value)
}

func TestMigratePostgres(t *testing.T) {
	t.Parallel()
	base := pgtest.URL(t)
	db := withParam(base, pgSchemaParam, pgtest.Schema(t))

	// Before migrate: the error says how to fix it.
	wantFail(t, runKiln(t, "jobs", "list", "--database", db), exitError, "has no Kiln schema", "kiln migrate --database")

	r := mustRun(t, "migrate", "--database", db)
	if !strings.Contains(r.stdout, "Migrated postgres") {
		t.Errorf("migrate printed %q", r.stdout)
	}
	r = mustRun(t, "migrate", "--database", db)
	if !strings.Contains(r.stdout, "up to date") {
		t.Errorf("second migrate printed %q", r.stdout)
	}
	if r := mustRun(t, "jobs", "list", "--database", db); !strings.Contains(r.stdout, "No jobs.") {
		t.Errorf("jobs list on a new schema printed %q", r.stdout)
	}
	mustRun(t, "enqueue", "--database", db, "http", "--args", `{"url":"http://127.0.0.1:1/"}`)
	if r := mustRun(t, "jobs", "list", "--database", db); !strings.Contains(r.stdout, "http") {
		t.Errorf("jobs list after an enqueue printed %q", r.stdout)
	}
}

// postgresURLForTest and postgresSchemaForTest give the CLI's PostgreSQL
// tests their database (see package pgtest).
func postgresURLForTest(t *testing.T) string { t.Helper(); return pgtest.URL(t) }

func postgresSchemaForTest(t *testing.T, _ string) string { t.Helper(); return pgtest.Schema(t) }
