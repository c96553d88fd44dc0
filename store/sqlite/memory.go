package sqlite

import (
	"context"
	"database/sql"
	"errors"

	driver "modernc.org/sqlite"
)

// MemoryUse is the memory that SQLite holds for a Store's connections, in
// bytes, as SQLite counts it (sqlite3_db_status), summed over the writer
// and the open reader connections. It lives outside the Go heap (the
// driver's C memory, allocated by modernc.org/libc), so it is part of the
// process's resident set but not of runtime/metrics' heap figures.
type MemoryUse struct {
	// PageCache is the pages the connections' page caches hold
	// (SQLITE_DBSTATUS_CACHE_USED). Each cache is bounded by its
	// cache_size: 32 MiB for the writer, 8 MiB for each reader.
	PageCache int64
	// Schema is the parsed schema (SQLITE_DBSTATUS_SCHEMA_USED).
	Schema int64
	// Statements is the prepared statements (SQLITE_DBSTATUS_STMT_USED).
	Statements int64
	// Connections is how many connections were counted: the writer and
	// the readers that were open.
	Connections int
}

// MemoryUse returns the memory that SQLite holds for the Store's
// connections. It takes every connection of both pools for a moment (it
// waits for those in use), so it is for diagnostics, not for a hot path.
// Reader connections that the pool had not opened yet are opened, and
// count as empty.
func (s *Store) MemoryUse(ctx context.Context) (MemoryUse, error) {
	var m MemoryUse
	for _, db := range []*sql.DB{s.w, s.r} {
		conns := make([]*sql.Conn, 0, db.Stats().MaxOpenConnections)
		var err error
		for range cap(conns) {
			var c *sql.Conn
			if c, err = db.Conn(ctx); err != nil {
				break
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			if err == nil {
				err = c.Raw(func(dc any) error {
					st, ok := dc.(driver.DBStatus)
					if !ok {
						return errors.New("the driver's connection has no sqlite3_db_status")
					}
					for _, f := range []struct {
						op  driver.DBStatusOp
						sum *int64
					}{
						{driver.DBStatusCacheUsed, &m.PageCache},
						{driver.DBStatusSchemaUsed, &m.Schema},
						{driver.DBStatusStmtUsed, &m.Statements},
					} {
						cur, _, err := st.Status(f.op, false)
						if err != nil {
							return err
						}
						*f.sum += int64(cur)
					}
					return nil
				})
				m.Connections++
			}
			c.Close()
		}
		if err != nil {
			return MemoryUse{}, fail("memory use", err)
		}
	}
	return m, nil
}
