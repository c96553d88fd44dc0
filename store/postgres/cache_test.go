package postgres

import (
	"testing"

	"github.com/jackc/pgx/v5"
)

// A connection's statement cache that its query mode does not use is made
// with unusedCacheCapacity, unless the connection string sets its capacity
// (as a URL parameter or a keyword; a password of that name sets nothing);
// the cache of its mode keeps pgx's 512 or the string's.
func TestUnusedStatementCacheShrunk(t *testing.T) {
	const base = "postgres://u@localhost:5432/db"
	for _, c := range []struct {
		url                string
		statements, descrs int
	}{
		{base, 512, unusedCacheCapacity},
		{base + "?default_query_exec_mode=cache_describe", unusedCacheCapacity, 512},
		{base + "?default_query_exec_mode=exec", unusedCacheCapacity, unusedCacheCapacity},
		{base + "?description_cache_capacity=100", 512, 100},
		{base + "?statement_cache_capacity=200&default_query_exec_mode=cache_describe", 200, 512},
		{base + "?description_cache_capacity=0", 512, 0},
		{"postgres://u:description_cache_capacity@localhost:5432/db", 512, unusedCacheCapacity}, // a password
		{"host=localhost user=u description_cache_capacity=100", 512, 100},
	} {
		cfg, err := pgx.ParseConfig(c.url)
		if err != nil {
			t.Fatal(err)
		}
		shrinkUnusedCache(cfg, urlSettings(c.url))
		if cfg.StatementCacheCapacity != c.statements || cfg.DescriptionCacheCapacity != c.descrs {
			t.Errorf("%s: capacities %d, %d; want %d, %d", c.url, cfg.StatementCacheCapacity, cfg.DescriptionCacheCapacity, c.statements, c.descrs)
		}
	}
}
