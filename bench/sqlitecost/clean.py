#!/usr/bin/env python3
"""clean.py DB PREFIX [BATCH]: the retention cleaner's deletes
(store/sqlite's sqlDeleteGroup, BATCH jobs a transaction, 1,000 by
default, oldest first) of every completed job of kind noop in DB (the
database a native run of the harness leaves after its burn-down: harness
DB N 100 sql, not run.sh, which deletes it), with the WAL kept (no checkpoint) for walpages.py PREFIX N;
prints the jobs deleted and the CPU microseconds per deleted job (this
process: Python's sqlite3 module on the system's libsqlite3). The pages a
kiln_job_claim_partition without the state (hyb2, cur) no longer writes at
the claim are written here instead: docs/benchmarks.md, "SQLite per-key
claims, 2026-12-06 seventh session"."""
import shutil, sqlite3, sys
db, prefix = sys.argv[1], sys.argv[2]
c = sqlite3.connect(db, isolation_level=None)
c.execute("PRAGMA journal_mode=WAL"); c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
c.close()
shutil.copy(db, prefix + ".pre.db")
c = sqlite3.connect(db, isolation_level=None)
for p in ("journal_mode=WAL", "synchronous=NORMAL", "secure_delete=0", "wal_autocheckpoint=0", "cache_size=-32768", "foreign_keys=1"):
    c.execute("PRAGMA " + p)
q = """DELETE FROM kiln_job WHERE id IN (
	SELECT id FROM kiln_job AS old INDEXED BY kiln_job_finalized_kind
	WHERE state = ?1 AND kind = ?2 AND finalized_at < ?3
		AND (queue IN (SELECT value FROM json_each(?4))) = ?5
		AND NOT EXISTS (SELECT 1 FROM kiln_job_parent AS d JOIN kiln_job AS c ON c.id = d.child_id
			WHERE d.parent_id = old.id AND c.state = 'pending')
	ORDER BY finalized_at LIMIT ?6)"""
import time
t0 = time.process_time()
total = 0
while True:
    c.execute("BEGIN IMMEDIATE")
    n = c.execute(q, ("completed", "noop", 1 << 62, "[]", 0, int(sys.argv[3]) if len(sys.argv) > 3 else 1000)).rowcount
    c.execute("COMMIT")
    if n <= 0: break
    total += n
shutil.copy(db + "-wal", prefix + ".wal")
print(total, "%.2f" % ((time.process_time() - t0) * 1e6 / max(total, 1)))
