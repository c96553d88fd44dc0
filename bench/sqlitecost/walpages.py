#!/usr/bin/env python3
"""walpages.py PREFIX N: the pages that a harness run with WALCOPY=PREFIX
wrote, per job of its N, by b-tree (table or index).

PREFIX.wal holds every frame the burn-down's commits wrote (the harness
turns checkpoints off); each frame names a page, which PREFIX.pre.db (the
database before the burn-down, read with the dbstat table) maps to its
b-tree. Pages allocated during the burn-down show as "new page" (an
index that grows, such as kiln_job_finalized_kind), page 1 as
sqlite_schema (the file header, written when the free list changes)."""
import collections
import sqlite3
import struct
import sys

prefix, n = sys.argv[1], int(sys.argv[2])
names = dict((p, name) for name, p in sqlite3.connect(prefix + ".pre.db").execute("SELECT name, pageno FROM dbstat"))
wal = open(prefix + ".wal", "rb").read()
size = struct.unpack(">I", wal[8:12])[0]
frames, commits = collections.Counter(), 0
for off in range(32, len(wal) - 24 - size + 1, 24 + size):
    page, commit = struct.unpack(">II", wal[off:off + 8])
    frames[names.get(page, "new page")] += 1
    commits += commit != 0
print("pages written per job %.3f (%d commits)" % (sum(frames.values()) / n, commits))
for name, count in frames.most_common():
    print("  %-32s %.4f" % (name, count / n))
