// harness: the SQLite writer's work in a burn-down of Kiln's plain claim
// and finish, run with the system's libsqlite3 for callgrind (the
// inclusive cost of the ph_* functions) and sqlite3_stmt_status counts.
// The Go store runs the same SQLite code, translated to Go
// (modernc.org/sqlite), which callgrind cannot run.
//
// usage: harness DB N BATCH DIR [setup.sql]
//   DB is a migrated, empty Kiln database (run.sh copies one); the harness
//   inserts N available no-op jobs (ph_insert), then claims BATCH jobs at a
//   time (ph_select, ph_update, each claim one transaction) and completes
//   each claim's jobs two claims later (ph_finish), as BenchmarkBurnDown's
//   client does. DIR holds the statements, copied from store/sqlite
//   (sqlClaimCandidates(128, 1), sqlClaimUpdate, sqlFinishJobs(n) for each
//   batch size, and sqlCountMoves, which a claim and a finish run after
//   their UPDATE once per queue and state they moved jobs between, since
//   SQLite migration 026); CAND, UPD, FIN and COUNT name other files (COUNT=none:
//   no such statement, as before 026). FINARGS=3 FIN=fin_completed.sql runs
//   the completion as sqlCompleteJobs does (three arguments per job, the
//   lease holder and the server once per statement).
//   KEYS=K (K > 0) is a record of earlier sessions' measurements: the SQLite
//   store no longer claims by key in rotation (migration 035 replaced it by
//   the fair order, and 037 dropped kiln_job_claim_partition and
//   kiln_job_partition_key, which its statements read), so these modes need
//   TEMPLATE, a database migrated by a build at 036 or before, and measure
//   the store of that build, not this one's. This build's per-key claims are
//   counted by store/sqlite's pages-per-job tests and timed by
//   BenchmarkBurnDownPartitionLimit (docs/benchmarks.md, "SQLite keyed jobs
//   in the fair index alone"). The mode runs the per-key burn-down: the N jobs round robin
//   over K partition keys ("0" to "K-1", as BenchmarkBurnDownPartitionLimit
//   enqueues them), each claim by key under a limit of MAXRUN (1) running
//   jobs per key, as store.ClaimPartitioned runs it on the SQLite store
//   (rounds of a listing, ph_heads: keyslisted.sql, sqlPartitionKeysListed,
//   rows of (key, its first available job's ID or NULL, its running jobs,
//   that job's columns) from the previous claim's last key, stepped until
//   the claim has its keys, which reads each job the claim takes, as the
//   store does since it reads no job again by ID; TAKE=takeids.sql adds a
//   take, ph_take, sqlPartitionTakeIDs, of each listed key with room's
//   first job, as the store did before); then KEYUPD's UPDATE, claimupd.sql, with
//   COUNT's statement after it unless KEYCOUNT=none). The reads of jobs
//   without a key that the store runs once per rotation over the keys, and
//   the deletion of keys without available jobs (once per key, at the end),
//   are left out. KEYUPD=claimupd_trigger.sql KEYCOUNT=none is the take
//   before it counted its own moves. KEYSQL=keysrunning_walk.sql runs the
//   listing before migration 028 instead (ph_keys: the recursive walk of
//   kiln_job_claim_partition, sqlPartitionKeysRunning, on a database
//   migrated to 027). HEADS names another listing of ph_heads' columns
//   (more columns, read as the take reads them, with TAKE=none: a listing
//   that reads the jobs itself); HEADADV and HEADADV2, statements run after
//   each UPDATE (?1 queue, ?2 kind, ?3 JSON array of the keys taken, ?4 of
//   the IDs); PRE and POST, SQL run before and after the inserts (POST's
//   not counted). sql/proto holds the statements of the prototypes of
//   docs/benchmarks.md, "SQLite per-key claims: a table of keys", and of
//   its "SQLite per-key claims, 2026-12-06 sixth session" (cur_*: a cursor
//   per key in the table of keys, PRE=proto/cur_pre.sql
//   HEADS=proto/cur_list.sql HEADADV=proto/cur_adv.sql FIN=proto/fin_final.sql).
//   HYBRID names a hybrid claim's read (docs/benchmarks.md, "SQLite per-key
//   claims, 2026-12-06 seventh session"), ph_hybrid: the plain candidates
//   in claim order (?1 to ?5 as CAND's) with, last, the running jobs of
//   each row's key; each claim takes the rows whose key has room under
//   MAXRUN, counting the jobs it took, up to BATCH, moves them with KEYUPD's
//   UPDATE, and claims the rest by key as above only when that came back
//   short. HYBMEM=1 takes the running jobs per key from the harness's own
//   count (a Store's memory; the row's last column is ignored): proto/hyb_mem.sql.
//   With PRE=proto/cur_pre.sql HEADS=proto/cur_list.sql
//   HEADADV=proto/cur_adv.sql the fallback is the cursor listing over a
//   kiln_job_claim_partition without the state (hyb2). HOT=H (with KEYS)
//   inserts H more jobs of one more key (KEYS, "1000" for 1,000 keys), due
//   before the others, so that a hybrid's plain read comes back short (the
//   harness does not drop keys without available jobs, so the tail, where
//   the hot key's last jobs run one per claim, lists every key per claim).
//   PARK=1 (with KEYS and PRE=proto/park_pre.sql) runs the parking claim
//   instead (docs/benchmarks.md, "SQLite per-key claims, litekey3,
//   2026-12-07 ninth session"; claimPark below): claim order, a candidate
//   of a key at its limit moved to the state 'parked', a sweep that takes
//   parked keys' oldest jobs when they have room. With HOT, the harness
//   prints the claims at which the first and the last job of the other
//   keys were claimed (the fairness bound, counted in claims). CHECKLIMIT=1
//   (native runs) fails the run when a key has more than MAXRUN running
//   jobs after a claim.
//   KEYRUN=R (with KEYS) enqueues each key's jobs in runs of R in a row
//   (the key of job i is ((i - 1) / R) mod KEYS) instead of round robin.
//   WALCOPY=prefix keeps every page the burn-down writes: no checkpoint
//   during it, the database after the inserts copied to prefix.pre.db and
//   the WAL at the end to prefix.wal; walpages.py reads them and prints
//   the pages written per job by b-tree (table or index). The harness
//   runs with secure_delete off, as modernc's SQLite does (Debian's
//   libsqlite3 is built with SQLITE_SECURE_DELETE, which also zeroes every
//   temporary b-tree a statement clears: see docs/benchmarks.md, "SQLite
//   per-key claims (issue 13, 2026-12-06 fifth session)").
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static sqlite3 *db;
static char dir[512];

static void die(const char *what) {
	fprintf(stderr, "%s: %s\n", what, sqlite3_errmsg(db));
	exit(1);
}

// finText returns the finish statement for n jobs: tmpl with its marker
// /*ROWS*/ replaced by n rows of parameters, as the store's statement for
// a batch of n (store/sqlite/batch.go).
static int finArgs = 10;

static char *finText(const char *tmpl, int n) {
	const char *mark = strstr(tmpl, "/*ROWS*/");
	if (!mark) die("fin.sql: no /*ROWS*/ marker");
	const char *row = finArgs == 3 ? "(?, ?, ?)" : "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
	size_t rl = strlen(row), pre = (size_t)(mark - tmpl), post = strlen(mark + 8);
	char *s = malloc(pre + (size_t)n * (rl + 2) + post + 1), *p = s;
	if (!s) die("malloc");
	memcpy(p, tmpl, pre), p += pre;
	for (int i = 0; i < n; i++) {
		if (i) memcpy(p, ", ", 2), p += 2;
		memcpy(p, row, rl), p += rl;
	}
	memcpy(p, mark + 8, post + 1);
	return s;
}

static char *slurp(const char *name) {
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	if (!f) { perror(path); exit(1); }
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *s = malloc(n + 1);
	fread(s, 1, n, f);
	s[n] = 0;
	fclose(f);
	return s;
}

static sqlite3_stmt *prep(const char *sql) {
	sqlite3_stmt *s;
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, 0) != SQLITE_OK) die(sql);
	return s;
}

static void exec(const char *sql) {
	char *err = 0;
	if (sqlite3_exec(db, sql, 0, 0, &err) != SQLITE_OK) { fprintf(stderr, "%s: %s\n", sql, err); exit(1); }
}

static sqlite3_stmt *sBegin, *sCommit, *sCand, *sUpd, *sFin[5], *sCount;
static sqlite3_stmt *sKeys, *sTake, *sKeyUpd, *sHeads, *sHeadAdv[2], *sHyb;
static int hybMem; // HYBMEM=1: the running jobs per key kept in memory (hybMemRun), not read
static int nKeys, maxRun = 1, keyCount = 1, nHot; // nHot: HOT, jobs of a hot key at the front
static const int sizes[5] = {256, 64, 16, 4, 1};
static long long now0 = 1796507153648919LL;

__attribute__((noinline)) void ph_begin(void) {
	if (sqlite3_step(sBegin) != SQLITE_DONE) die("begin");
	sqlite3_reset(sBegin);
}

__attribute__((noinline)) void ph_commit(void) {
	if (sqlite3_step(sCommit) != SQLITE_DONE) die("commit");
	sqlite3_reset(sCommit);
}

// reads up to want candidates into ids, as the driver does (every column)
__attribute__((noinline)) int ph_select(long long now, int want, long long *ids) {
	sqlite3_bind_text(sCand, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sCand, 2, now);
	sqlite3_bind_text(sCand, 3, "[\"noop\"]", -1, SQLITE_STATIC);
	sqlite3_bind_null(sCand, 4);
	sqlite3_bind_text(sCand, 5, "noop", -1, SQLITE_STATIC);
	int n = 0;
	while (n < want && sqlite3_step(sCand) == SQLITE_ROW) {
		ids[n++] = sqlite3_column_int64(sCand, 0);
		for (int c = 1; c < sqlite3_column_count(sCand); c++) {
			switch (sqlite3_column_type(sCand, c)) {
			case SQLITE_TEXT: sqlite3_column_text(sCand, c); sqlite3_column_bytes(sCand, c); break;
			case SQLITE_INTEGER: sqlite3_column_int64(sCand, c); break;
			}
		}
	}
	sqlite3_reset(sCand);
	return n;
}

static char idbuf[1 << 20];

// countPair runs COUNT's statement, if any, for one queue and state.
static void countPair(const char *state, int jobs, int finished) {
	sqlite3_bind_text(sCount, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(sCount, 2, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sCount, 3, jobs);
	sqlite3_bind_int64(sCount, 4, finished);
	if (sqlite3_step(sCount) != SQLITE_DONE) die("count");
	sqlite3_reset(sCount);
}

// count runs COUNT's statement, if any, for n jobs of queue "default"
// moved from state from to state to, once per pair as the store does.
static void count(const char *from, const char *to, int n, int finished) {
	if (!sCount) return;
	countPair(from, -n, 0);
	countPair(to, n, finished ? n : 0);
}

__attribute__((noinline)) void ph_update(long long now, int n, long long *ids) {
	char *p = idbuf;
	*p++ = '[';
	for (int i = 0; i < n; i++) p += sprintf(p, i ? ",%lld" : "%lld", ids[i]);
	*p++ = ']';
	*p = 0;
	sqlite3_bind_int64(sUpd, 1, now);
	sqlite3_bind_text(sUpd, 2, "vm-1234-abcdef", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sUpd, 3, now + 60000000);
	sqlite3_bind_text(sUpd, 4, idbuf, -1, SQLITE_STATIC);
	if (sqlite3_step(sUpd) != SQLITE_DONE) die("update");
	if (sqlite3_changes(db) != n) { fprintf(stderr, "update: %d of %d\n", sqlite3_changes(db), n); exit(1); }
	sqlite3_reset(sUpd);
	count("available", "running", n, 0);
}

__attribute__((noinline)) void ph_finish(long long now, int n, long long *ids, long long attemptedAt) {
	int start = 0;
	for (int k = 0; k < 5; k++) {
		while (n - start >= sizes[k]) {
			sqlite3_stmt *s = sFin[k];
			if (finArgs == 3) {
				// FINARGS=3 (fin_completed.sql): ?1 the lease holder
				// and ?2 the server, once; then each job's ID,
				// attempted_at and time of the finish.
				sqlite3_bind_text(s, 1, "vm-1234-abcdef", -1, SQLITE_STATIC);
				sqlite3_bind_text(s, 2, "vm-1234-abcdef", -1, SQLITE_STATIC);
				for (int i = 0; i < sizes[k]; i++) {
					sqlite3_bind_int64(s, 3 + 3 * i, ids[start + i]);
					sqlite3_bind_int64(s, 4 + 3 * i, attemptedAt);
					sqlite3_bind_int64(s, 5 + 3 * i, now);
				}
			} else for (int i = 0; i < sizes[k]; i++) {
				int b = i * 10;
				sqlite3_bind_int64(s, b + 1, ids[start + i]);
				sqlite3_bind_text(s, b + 2, "vm-1234-abcdef", -1, SQLITE_STATIC);
				sqlite3_bind_text(s, b + 3, "completed", -1, SQLITE_STATIC);
				sqlite3_bind_null(s, b + 4);
				sqlite3_bind_int64(s, b + 5, 0);
				sqlite3_bind_int64(s, b + 6, now);
				sqlite3_bind_null(s, b + 7);
				sqlite3_bind_int64(s, b + 8, attemptedAt);
				sqlite3_bind_int64(s, b + 9, now);
				sqlite3_bind_text(s, b + 10, "vm-1234-abcdef", -1, SQLITE_STATIC);
			}
			int got = 0, rc;
			while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
				sqlite3_column_int64(s, 0);
				for (int c = 1; c < sqlite3_column_count(s); c++) { sqlite3_column_text(s, c); sqlite3_column_bytes(s, c); }
				got++;
			}
			if (rc != SQLITE_DONE) die("finish");
			if (got != sizes[k]) { fprintf(stderr, "finish: %d of %d\n", got, sizes[k]); exit(1); }
			sqlite3_reset(s);
			start += sizes[k];
		}
	}
	count("running", "completed", n, 1);
}

// the per-key claim's state: the key after which the next listing starts
// ("" before the first key) and whether the claim visits the jobs without
// a key (left out here) at the start of a rotation.
static char cursor[256];

// ph_keys runs the listing (keysrunning.sql) of up to n keys with room
// after cursor, and fills ids with the first job of each key the claim
// takes (room under maxRun, up to n), as store.ClaimPartitioned reads it;
// it returns how many, sets *end when the keys ran out past the last key
// visited, and sets last to that key (cursor if none).
__attribute__((noinline)) int ph_keys(int n, long long *ids, char *last, int *end) {
	sqlite3_bind_text(sKeys, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(sKeys, 2, "noop", -1, SQLITE_STATIC);
	sqlite3_bind_text(sKeys, 3, cursor, -1, SQLITE_STATIC);
	sqlite3_bind_int64(sKeys, 4, n);
	sqlite3_bind_int64(sKeys, 5, 1000);
	sqlite3_bind_int64(sKeys, 6, maxRun);
	if (sqlite3_step(sKeys) != SQLITE_ROW) die("keys");
	const char *list = (const char *)sqlite3_column_text(sKeys, 0);
	int len = sqlite3_column_bytes(sKeys, 0);
	// rows: v NUL prev, rows separated by NUL; v is "ID key" or empty
	// (the keys ran out), prev the running jobs of the row before's key.
	const char *p = list, *stop = list ? list + len : list;
	const char *prevKey = 0;
	int prevLen = 0, taken = 0, listed = 0, lastListed = 0;
	long long prevID = 0;
	strcpy(last, cursor);
	*end = 0;
	int endRow = 0;
	while (p && p < stop) {
		const char *v = p;
		const char *nul = memchr(p, 0, stop - p);
		int vl = nul ? (int)(nul - p) : (int)(stop - p);
		p = nul ? nul + 1 : stop;
		const char *r = p;
		nul = memchr(p, 0, stop - p);
		int rl = nul ? (int)(nul - p) : (int)(stop - p);
		p = nul ? nul + 1 : stop;
		if (prevKey) {
			int running = rl ? atoi(r) : 0;
			if (taken < n) {
				memcpy(last, prevKey, prevLen);
				last[prevLen] = 0;
				lastListed = 1;
				if (running < maxRun) ids[taken++] = prevID;
			} else lastListed = 0;
			listed++;
		}
		if (vl == 0) { endRow = 1; prevKey = 0; break; }
		char *sp = memchr(v, ' ', vl);
		prevID = atoll(v);
		prevKey = sp + 1;
		prevLen = vl - (int)(sp + 1 - v);
	}
	*end = endRow && (listed == 0 || lastListed);
	sqlite3_reset(sKeys);
	return taken;
}

// ph_take reads the jobs of ids by ID (takeids.sql), every column, and
// returns how many are still due and available.
__attribute__((noinline)) int ph_take(long long now, int n, long long *ids) {
	char *p = idbuf;
	*p++ = '[';
	for (int i = 0; i < n; i++) p += sprintf(p, i ? ",%lld" : "%lld", ids[i]);
	*p++ = ']';
	*p = 0;
	sqlite3_bind_text(sTake, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(sTake, 2, "noop", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sTake, 3, now);
	sqlite3_bind_text(sTake, 4, idbuf, -1, SQLITE_STATIC);
	int got = 0;
	while (sqlite3_step(sTake) == SQLITE_ROW) {
		ids[got++] = sqlite3_column_int64(sTake, 0);
		for (int c = 1; c < sqlite3_column_count(sTake); c++) {
			switch (sqlite3_column_type(sTake, c)) {
			case SQLITE_TEXT: sqlite3_column_text(sTake, c); sqlite3_column_bytes(sTake, c); break;
			case SQLITE_INTEGER: sqlite3_column_int64(sTake, c); break;
			}
		}
	}
	sqlite3_reset(sTake);
	return got;
}

__attribute__((noinline)) void ph_keyupdate(long long now, int n, long long *ids) {
	char *p = idbuf;
	*p++ = '[';
	for (int i = 0; i < n; i++) p += sprintf(p, i ? ",%lld" : "%lld", ids[i]);
	*p++ = ']';
	*p = 0;
	sqlite3_bind_int64(sKeyUpd, 1, now);
	sqlite3_bind_text(sKeyUpd, 2, "vm-1234-abcdef", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sKeyUpd, 3, now + 60000000);
	sqlite3_bind_text(sKeyUpd, 4, idbuf, -1, SQLITE_STATIC);
	if (sqlite3_step(sKeyUpd) != SQLITE_DONE) die("key update");
	if (sqlite3_changes(db) != n) { fprintf(stderr, "key update: %d of %d\n", sqlite3_changes(db), n); exit(1); }
	sqlite3_reset(sKeyUpd);
}

__attribute__((noinline)) void ph_keycount(int n) { count("available", "running", n, 0); }

// keybuf holds the keys of the jobs a heads listing took, as a JSON array.
static char keybuf[1 << 20];

// ph_heads is ph_keys for a listing that reads a table of each key's
// first available job (HEADS: rows of (id, key, running) in key order
// after ?3, for queue ?1 and kind ?2): it takes the first job of each key
// with room, up to n, visits at most 1000 rows, and appends each taken
// key to keybuf.
__attribute__((noinline)) int ph_heads(int n, long long *ids, char *last, int *end) {
	sqlite3_bind_text(sHeads, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(sHeads, 2, "noop", -1, SQLITE_STATIC);
	sqlite3_bind_text(sHeads, 3, cursor, -1, SQLITE_STATIC);
	if (sqlite3_bind_parameter_count(sHeads) >= 4) sqlite3_bind_int64(sHeads, 4, maxRun);
	int taken = 0, visited = 0, rc;
	char *kp = keybuf + strlen(keybuf);
	strcpy(last, cursor);
	*end = 1;
	while (taken < n && visited < 1000 && (rc = sqlite3_step(sHeads)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(sHeads, 0);
		if (sqlite3_column_type(sHeads, 1) == SQLITE_NULL) continue; // a key without available jobs
		long long id = sqlite3_column_int64(sHeads, 1);
		int running = sqlite3_column_int(sHeads, 2);
		for (int c = 3; c < sqlite3_column_count(sHeads); c++) {
			switch (sqlite3_column_type(sHeads, c)) {
			case SQLITE_TEXT: sqlite3_column_text(sHeads, c); sqlite3_column_bytes(sHeads, c); break;
			case SQLITE_INTEGER: sqlite3_column_int64(sHeads, c); break;
			}
		}
		visited++;
		strcpy(last, key);
		if (running < maxRun) {
			ids[taken++] = id;
			kp += sprintf(kp, kp[-1] == '[' ? "\"%s\"" : ",\"%s\"", key);
		}
	}
	if (taken == n || visited == 1000) *end = sqlite3_step(sHeads) != SQLITE_ROW;
	sqlite3_reset(sHeads);
	return taken;
}

// ph_headadv runs HEADADV's statements after a claim's UPDATE: ?1 queue,
// ?2 kind, ?3 the JSON array of the keys taken, ?4 that of the IDs taken.
__attribute__((noinline)) void ph_headadv(void) {
	for (int k = 0; k < 2 && sHeadAdv[k]; k++) {
		sqlite3_stmt *s = sHeadAdv[k];
		sqlite3_bind_text(s, 1, "default", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, "noop", -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, keybuf, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, idbuf, -1, SQLITE_STATIC);
		if (sqlite3_step(s) != SQLITE_DONE) die("head advance");
		sqlite3_reset(s);
	}
}

// claimByKey claims up to want jobs by key into ids, in rounds of a
// listing and a take as store.ClaimPartitioned (one job per key: the
// limit is at most 1 here), and counts the moves once per claim when
// keyCount is set.
static int claimByKey(long long now, int want, long long *ids) {
	int claimed = 0, took = 0, whole = cursor[0] == 0;
	for (int round = 0; round < 8 && claimed < want; round++) {
		char last[256];
		int end;
		int n;
		if (sHeads) {
			strcpy(keybuf, "[");
			n = ph_heads(want - claimed < 1000 ? want - claimed : 1000, ids + claimed, last, &end);
			strcat(keybuf, "]");
		} else n = ph_keys(want - claimed < 1000 ? want - claimed : 1000, ids + claimed, last, &end);
		if (n > 0 && sTake) n = ph_take(now, n, ids + claimed);
		if (n > 0) ph_keyupdate(now, n, ids + claimed);
		if (n > 0 && sHeads) ph_headadv();
		claimed += n;
		took += n;
		strcpy(cursor, last);
		if (end) {
			if (took == 0 && whole) break;
			cursor[0] = 0;
			whole = 1;
			took = 0;
		}
	}
	if (claimed > 0 && keyCount) ph_keycount(claimed);
	return claimed;
}

// the hybrid claim's state: jobs of each key taken by the claim under way
// (hybTaken) and, with HYBMEM=1, running per key as a Store would keep
// them in memory (hybMemRun: the harness is the file's only writer, and the
// job of ID i has the key (i - 1) mod KEYS, as ph_insert makes them on an
// empty template).
static int hybTaken[1 << 16], hybMemRun[1 << 16], hybFallbacks, hybFallbackJobs;

// ph_hybrid reads the plain candidates of HYBRID (sqlClaimCandidates of
// its LIMIT, 128 in proto/hyb_run.sql, and, last, each row's running jobs
// of its key, or 0 with HYBMEM=1), in claim order, and takes each whose key has room under
// maxRun (running + taken by this claim), up to want; it returns how many.
__attribute__((noinline)) int ph_hybrid(long long now, int want, long long *ids) {
	sqlite3_bind_text(sHyb, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sHyb, 2, now);
	sqlite3_bind_text(sHyb, 3, "[\"noop\"]", -1, SQLITE_STATIC);
	sqlite3_bind_null(sHyb, 4);
	sqlite3_bind_text(sHyb, 5, "noop", -1, SQLITE_STATIC);
	int n = 0, cols = sqlite3_column_count(sHyb);
	int keys[1024], nk = 0;
	while (n < want && sqlite3_step(sHyb) == SQLITE_ROW) {
		long long id = sqlite3_column_int64(sHyb, 0);
		for (int c = 1; c < cols - 2; c++) {
			switch (sqlite3_column_type(sHyb, c)) {
			case SQLITE_TEXT: sqlite3_column_text(sHyb, c); sqlite3_column_bytes(sHyb, c); break;
			case SQLITE_INTEGER: sqlite3_column_int64(sHyb, c); break;
			}
		}
		int k = atoi((const char *)sqlite3_column_text(sHyb, cols - 2));
		int running = hybMem ? hybMemRun[k] : sqlite3_column_int(sHyb, cols - 1);
		if (running + hybTaken[k] >= maxRun) continue;
		if (hybTaken[k]++ == 0 && nk < 1024) keys[nk++] = k;
		ids[n++] = id;
	}
	sqlite3_reset(sHyb);
	for (int i = 0; i < nk; i++) hybTaken[keys[i]] = 0;
	return n;
}

// claimHybrid claims as a hybrid: the plain candidates first (ph_hybrid),
// then, when they come back short of want, by key (claimByKey) for the
// rest, as today's claim.
static int claimHybrid(long long now, int want, long long *ids) {
	int n = ph_hybrid(now, want, ids);
	if (n > 0) {
		ph_keyupdate(now, n, ids);
		if (keyCount) ph_keycount(n);
	}
	if (n < want) {
		int m = claimByKey(now, want - n, ids + n);
		hybFallbacks++, hybFallbackJobs += m, n += m;
	}
	if (hybMem)
		for (int i = 0; i < n; i++) hybMemRun[(ids[i] - 1) % nKeys]++;
	return n;
}

// the parking claim (PARK=1, with KEYS; docs/benchmarks.md, "SQLite
// per-key claims, litekey3, 2026-12-07 ninth session"): a kind capped per
// key claimed in claim order, a candidate of a key at its limit parked
// (PARKPARK, proto/park_park.sql: out of kiln_job_claim_kind, into
// kiln_job_parked, which PRE=proto/park_pre.sql makes, dropping
// kiln_job_claim_partition). Each claim reads the kind's running jobs per
// key once (PARKRUN, proto/park_running.sql; PARKRUN=none with
// HYBRID=proto/hyb_run.sql reads them per candidate instead, the row's
// last column), takes the oldest parked job of each parked key with room
// (PARKSWEEP, proto/park_sweep.sql, which counts each parked key's running
// jobs itself, then PARKTAKE, proto/park_take.sql),
// then reads the candidates (CAND, or HYBRID), takes each of a key with
// room (running + taken by this claim < MAXRUN) and no parked job up to
// BATCH, parks each other one with a key among those it examined, and reads again while it
// is short, the read was full and it parked some (at most PARKROUNDS
// reads a claim, 0: no bound). The finish is the store's (FIN), and
// unparks nothing: a parked job waits for a claim's sweep to find room.
static sqlite3_stmt *sParkRun, *sSweep, *sPark, *sParkTake;
static int parkMode, parkRounds, parkRun[1 << 16], parkTaken[1 << 16], parkHas[1 << 16];
static long long parkParked, parkSwept, parkReads, parkClaims, parkMaxRead, parkMaxParked;
static long long coldFirst = -1, coldLast = -1; // claims at which the first and last job of a key other than HOT's was claimed
static int coldLeft;
static long long allClaims; // every claim, empty ones too
static sqlite3_stmt *sCheck; // CHECKLIMIT=1: the most running jobs of a key, after each claim
static double parkMaxUs; // the longest claim (wall time, before its COMMIT)

static char parkbuf[1 << 20];

static void jsonIDs(char *buf, int n, const long long *ids) {
	char *p = buf;
	*p++ = '[';
	for (int i = 0; i < n; i++) p += sprintf(p, i ? ",%lld" : "%lld", ids[i]);
	*p++ = ']';
	*p = 0;
}

// ph_parkrun reads the kind's running jobs per key into parkRun, listing
// the keys it set in keys; it returns how many.
__attribute__((noinline)) int ph_parkrun(int *keys) {
	int nk = 0;
	sqlite3_bind_text(sParkRun, 1, "noop", -1, SQLITE_STATIC);
	while (sqlite3_step(sParkRun) == SQLITE_ROW) {
		int k = atoi((const char *)sqlite3_column_text(sParkRun, 0));
		parkRun[k] = sqlite3_column_int(sParkRun, 1);
		if (nk < 4096) keys[nk++] = k;
	}
	sqlite3_reset(sParkRun);
	return nk;
}

// ph_sweep reads every parked key, each with its oldest parked job and its
// running jobs (the statement's last column), marks it in parkHas (so that
// the candidates of a key with parked jobs are parked behind them, in
// claim order), and puts in ids that job of each key with room, up to
// want (one job per key and claim: with a limit above 1, a key gets one
// more job per claim); it returns how many.
__attribute__((noinline)) int ph_sweep(int want, long long *ids, int *keys, int *nk) {
	sqlite3_bind_text(sSweep, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_text(sSweep, 2, "noop", -1, SQLITE_STATIC);
	int n = 0;
	while (sqlite3_step(sSweep) == SQLITE_ROW) {
		int k = atoi((const char *)sqlite3_column_text(sSweep, 0));
		if (!parkHas[k]++ && *nk < 4096) keys[(*nk)++] = k;
		long long id = sqlite3_column_int64(sSweep, 1);
		int cols = sqlite3_column_count(sSweep), running = sqlite3_column_int(sSweep, cols - 1);
		for (int c = 2; c < cols - 1; c++) {
			switch (sqlite3_column_type(sSweep, c)) {
			case SQLITE_TEXT: sqlite3_column_text(sSweep, c); sqlite3_column_bytes(sSweep, c); break;
			case SQLITE_INTEGER: sqlite3_column_int64(sSweep, c); break;
			}
		}
		if (n == want || running + parkTaken[k] >= maxRun) continue;
		parkTaken[k]++;
		ids[n++] = id;
	}
	sqlite3_reset(sSweep);
	return n;
}

__attribute__((noinline)) void ph_parktake(long long now, int n, long long *ids) {
	jsonIDs(idbuf, n, ids);
	sqlite3_bind_int64(sParkTake, 1, now);
	sqlite3_bind_text(sParkTake, 2, "vm-1234-abcdef", -1, SQLITE_STATIC);
	sqlite3_bind_int64(sParkTake, 3, now + 60000000);
	sqlite3_bind_text(sParkTake, 4, idbuf, -1, SQLITE_STATIC);
	if (sqlite3_step(sParkTake) != SQLITE_DONE) die("park take");
	if (sqlite3_changes(db) != n) { fprintf(stderr, "park take: %d of %d\n", sqlite3_changes(db), n); exit(1); }
	sqlite3_reset(sParkTake);
	count("parked", "running", n, 0);
}

// ph_parkselect reads the candidates (sCand, or sHyb with the running
// jobs per row) in claim order and takes each of a key with room, up to
// want, into ids; the candidates of keys without room that it examined go
// to park (*np of them). It returns how many it took and sets *rows to
// the rows read.
__attribute__((noinline)) int ph_parkselect(long long now, int want, long long *ids, long long *park, int *np, int *rows, int *keys, int *nk) {
	sqlite3_stmt *s = sHyb ? sHyb : sCand;
	sqlite3_bind_text(s, 1, "default", -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now);
	sqlite3_bind_text(s, 3, "[\"noop\"]", -1, SQLITE_STATIC);
	sqlite3_bind_null(s, 4);
	sqlite3_bind_text(s, 5, "noop", -1, SQLITE_STATIC);
	int n = 0, cols = sqlite3_column_count(s), kcol = sHyb ? cols - 2 : cols - 1;
	*rows = 0, *np = 0;
	while (n < want && sqlite3_step(s) == SQLITE_ROW) {
		(*rows)++;
		long long id = sqlite3_column_int64(s, 0);
		for (int c = 1; c < kcol; c++) {
			switch (sqlite3_column_type(s, c)) {
			case SQLITE_TEXT: sqlite3_column_text(s, c); sqlite3_column_bytes(s, c); break;
			case SQLITE_INTEGER: sqlite3_column_int64(s, c); break;
			}
		}
		const char *key = (const char *)sqlite3_column_text(s, kcol);
		if (!key || !key[0]) { ids[n++] = id; continue; }
		int k = atoi(key);
		int running = sHyb ? sqlite3_column_int(s, cols - 1) : parkRun[k];
		if (parkHas[k] || running + parkTaken[k] >= maxRun) { park[(*np)++] = id; continue; }
		if (!parkTaken[k]++ && !parkHas[k] && *nk < 4096) keys[(*nk)++] = k;
		ids[n++] = id;
	}
	sqlite3_reset(s);
	return n;
}

__attribute__((noinline)) void ph_park(int n, long long *ids) {
	jsonIDs(parkbuf, n, ids);
	sqlite3_bind_text(sPark, 1, parkbuf, -1, SQLITE_STATIC);
	if (sqlite3_step(sPark) != SQLITE_DONE) die("park");
	if (sqlite3_changes(db) != n) { fprintf(stderr, "park: %d of %d\n", sqlite3_changes(db), n); exit(1); }
	sqlite3_reset(sPark);
	count("available", "parked", n, 0);
}

static long long parkList[1 << 16];

// claimPark claims up to want jobs as the parking claim does (above).
static int claimPark(long long now, int want, long long *ids) {
	int runKeys[4096], takenKeys[4096], nr = 0, nt = 0, n = 0;
	if (sParkRun) nr = ph_parkrun(runKeys);
	int m = ph_sweep(want, ids, takenKeys, &nt);
	if (m > 0) ph_parktake(now, m, ids);
	n += m, parkSwept += m;
	int read = 0, parkedNow = 0;
	for (int round = 0; n < want && (parkRounds == 0 || round < parkRounds); round++) {
		int np, rows;
		m = ph_parkselect(now, want - n, ids + n, parkList, &np, &rows, takenKeys, &nt);
		parkReads++, read += rows;
		if (np > 0) ph_park(np, parkList);
		if (m > 0) ph_update(now, m, ids + n);
		n += m, parkParked += np, parkedNow += np;
		if (np == 0 || rows < 128) break;
	}
	for (int i = 0; i < nr; i++) parkRun[runKeys[i]] = 0;
	for (int i = 0; i < nt; i++) parkTaken[takenKeys[i]] = 0, parkHas[takenKeys[i]] = 0;
	if (read > parkMaxRead) parkMaxRead = read;
	if (parkedNow > parkMaxParked) parkMaxParked = parkedNow;
	parkClaims++;
	return n;
}

#define MAXQ 4096 // claims not yet finished, at most (a ring: finished + 2 >= claims)
static long long batchIDs[MAXQ][256];
static int batchN[MAXQ];
static long long batchAt[MAXQ];

__attribute__((noinline)) void run_burn(int N, int B) {
	int claims = 0, finished = 0, total = 0;
	long long now = now0 + 1000000;
	for (;;) {
		now += 1000;
		ph_begin();
		int n;
		if (nKeys && parkMode) {
			struct timespec a, b;
			clock_gettime(CLOCK_MONOTONIC, &a);
			n = claimPark(now, B, batchIDs[claims % MAXQ]);
			clock_gettime(CLOCK_MONOTONIC, &b);
			double us = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
			if (us > parkMaxUs) parkMaxUs = us;
		}
		else if (nKeys && sHyb) n = claimHybrid(now, B, batchIDs[claims % MAXQ]);
		else if (nKeys) n = claimByKey(now, B, batchIDs[claims % MAXQ]);
		else {
			n = ph_select(now, B, batchIDs[claims % MAXQ]);
			if (n > 0) ph_update(now, n, batchIDs[claims % MAXQ]);
		}
		ph_commit();
		if (sCheck) {
			// CHECKLIMIT=1: no key has more than MAXRUN running jobs
			if (sqlite3_step(sCheck) != SQLITE_ROW) die("check");
			if (sqlite3_column_int(sCheck, 0) > maxRun) {
				fprintf(stderr, "claim %lld: a key has %d running jobs; limit %d\n", allClaims + 1, sqlite3_column_int(sCheck, 0), maxRun);
				exit(1);
			}
			sqlite3_reset(sCheck);
		}
		allClaims++;
		if (nHot)
			for (int i = 0; i < n; i++)
				if (batchIDs[claims % MAXQ][i] > nHot) {
					if (coldFirst < 0) coldFirst = allClaims;
					if (--coldLeft == 0) coldLast = allClaims;
				}
		batchN[claims % MAXQ] = n;
		batchAt[claims % MAXQ] = now;
		total += n;
		if (n > 0) claims++;
		// finish the claim of two claims ago (or all at the end)
		while (finished < claims && (finished + 2 <= claims || n == 0)) {
			now += 1000;
			ph_begin();
			ph_finish(now, batchN[finished % MAXQ], batchIDs[finished % MAXQ], batchAt[finished % MAXQ]);
			ph_commit();
			if (hybMem)
				for (int i = 0; i < batchN[finished % MAXQ]; i++) hybMemRun[(batchIDs[finished % MAXQ][i] - 1) % nKeys]--;
			finished++;
		}
		if (n == 0 && (total == N + nHot || !nKeys)) break;
	}
	if (total != N + nHot) { fprintf(stderr, "claimed %d of %d\n", total, N + nHot); exit(1); }
}

// ph_insert inserts N available jobs in one statement; with COUNT (the
// default since SQLite migration 027) as the store does, counted by the
// statement (counted = 1, then one UPSERT of the deltas), else through
// the INSERT trigger.
__attribute__((noinline)) void ph_insert(int N, sqlite3_stmt *cnt) {
	exec("BEGIN IMMEDIATE");
	char sql[1024], key[64] = "''";
	int run = getenv("KEYRUN") ? atoi(getenv("KEYRUN")) : 0;
	if (nKeys && run > 1) snprintf(key, sizeof key, "CAST(((i - 1) / %d) %% %d AS TEXT)", run, nKeys);
	else if (nKeys) snprintf(key, sizeof key, "CAST((i - 1) %% %d AS TEXT)", nKeys);
	if (nHot) {
		// HOT=H: H jobs of one more key (KEYS, "1000" for 1,000 keys) due
		// before all the others, so at the front of the claim order
		snprintf(sql, sizeof sql,
		         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d) "
		         "INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, tags, metadata, unique_key, partition_key%s) "
		         "SELECT 'noop', 'default', '{}', 'available', 1, 25, %lld - %d + i, %lld - %d + i, '[]', '{}', NULL, '%d'%s FROM n",
		         nHot, cnt ? ", counted" : "", now0, nHot, now0, nHot, nKeys, cnt ? ", 1" : "");
		exec(sql);
		if (cnt) countPair("available", nHot, 0);
	}
	snprintf(sql, sizeof sql,
	         "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d) "
	         "INSERT INTO kiln_job (kind, queue, args, state, priority, max_attempts, created_at, scheduled_at, tags, metadata, unique_key, partition_key%s) "
	         "SELECT 'noop', 'default', '{}', 'available', 1, 25, %lld + i, %lld + i, '[]', '{}', NULL, %s%s FROM n",
	         N, cnt ? ", counted" : "", now0, now0, key, cnt ? ", 1" : "");
	exec(sql);
	if (cnt) countPair("available", N, 0);
	exec("COMMIT");
}

int main(int argc, char **argv) {
	if (argc < 5) { fprintf(stderr, "usage\n"); return 2; }
	const char *path = argv[1];
	int N = atoi(argv[2]), B = atoi(argv[3]);
	snprintf(dir, sizeof dir, "%s", argv[4]);
	if (getenv("KEYS")) nKeys = atoi(getenv("KEYS"));
	if (nKeys && getenv("HOT")) nHot = atoi(getenv("HOT"));
	if (sqlite3_open(path, &db) != SQLITE_OK) die("open");
	exec("PRAGMA busy_timeout=10000; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=1; PRAGMA temp_store=MEMORY; PRAGMA cache_size=-32768; PRAGMA secure_delete=0;");
	if (argc > 5) { char *s = slurp(argv[5]); exec(s); }
	const char *cnt = getenv("COUNT") ? getenv("COUNT") : "count.sql";
	if (strcmp(cnt, "none")) sCount = prep(slurp(cnt));
	if (getenv("PRE")) exec(slurp(getenv("PRE")));
	ph_insert(N, sCount);
	if (getenv("POST")) exec(slurp(getenv("POST")));
	exec("PRAGMA wal_checkpoint(TRUNCATE)");
	const char *walcopy = getenv("WALCOPY");
	if (walcopy) {
		// keep every page the burn-down writes in the WAL (no checkpoint)
		// and the database as it was before them, for walpages.py
		exec("PRAGMA wal_autocheckpoint=0");
		char c[2048];
		snprintf(c, sizeof c, "cp '%s' '%s.pre.db'", path, walcopy);
		if (system(c) != 0) die("WALCOPY");
	}
	sBegin = prep("BEGIN IMMEDIATE");

	sCommit = prep("COMMIT");
	sCand = prep(slurp(getenv("CAND") ? getenv("CAND") : "cand128.sql"));
	sUpd = prep(slurp(getenv("UPD") ? getenv("UPD") : "claimupd.sql"));
	if (nKeys) {
		// SQLite before 3.44 has no ORDER BY in an aggregate's arguments:
		// the listing's group_concat goes without it there (the walk's rows
		// come in its order without one; 3.44 and later sort them, which
		// this count then leaves out).
		char *keys = slurp(getenv("KEYSQL") ? getenv("KEYSQL") : "keysrunning_walk.sql"), *ob;
		if (sqlite3_libversion_number() < 3044000 && (ob = strstr(keys, " ORDER BY i)")))
			memmove(ob, ob + 11, strlen(ob + 11) + 1);
		if (getenv("KEYSQL")) sKeys = prep(keys);
		if (getenv("TAKE") && strcmp(getenv("TAKE"), "none")) sTake = prep(slurp(getenv("TAKE")));
		if (!sKeys && !(getenv("PARK") && atoi(getenv("PARK")))) {
			sHeads = prep(slurp(getenv("HEADS") ? getenv("HEADS") : "keyslisted.sql"));
			if (getenv("HEADADV")) sHeadAdv[0] = prep(slurp(getenv("HEADADV")));
			if (getenv("HEADADV2")) sHeadAdv[1] = prep(slurp(getenv("HEADADV2")));
		}
		sKeyUpd = prep(slurp(getenv("KEYUPD") ? getenv("KEYUPD") : "claimupd.sql"));
		keyCount = !(getenv("KEYCOUNT") && !strcmp(getenv("KEYCOUNT"), "none"));
		if (getenv("MAXRUN")) maxRun = atoi(getenv("MAXRUN"));
		if (getenv("HYBRID")) sHyb = prep(slurp(getenv("HYBRID")));
		hybMem = getenv("HYBMEM") && atoi(getenv("HYBMEM"));
		parkMode = getenv("PARK") && atoi(getenv("PARK"));
		if (parkMode) {
			const char *pr = getenv("PARKRUN") ? getenv("PARKRUN") : "proto/park_running.sql";
			if (strcmp(pr, "none")) sParkRun = prep(slurp(pr));
			else if (!sHyb) { fprintf(stderr, "PARKRUN=none needs HYBRID (the running jobs per candidate)\n"); exit(2); }
			sSweep = prep(slurp(getenv("PARKSWEEP") ? getenv("PARKSWEEP") : "proto/park_sweep.sql"));
			sPark = prep(slurp(getenv("PARKPARK") ? getenv("PARKPARK") : "proto/park_park.sql"));
			sParkTake = prep(slurp(getenv("PARKTAKE") ? getenv("PARKTAKE") : "proto/park_take.sql"));
			if (getenv("PARKROUNDS")) parkRounds = atoi(getenv("PARKROUNDS"));
		}
		if (hybMem && getenv("KEYRUN")) { fprintf(stderr, "KEYRUN and HYBMEM: the memory maps IDs to keys round robin\n"); exit(2); }
		if (nHot && hybMem) { fprintf(stderr, "HOT and HYBMEM: the memory maps IDs to keys round robin\n"); exit(2); }
	}
	coldLeft = N;
	if (nKeys && getenv("CHECKLIMIT") && atoi(getenv("CHECKLIMIT")))
		sCheck = prep("SELECT coalesce(max(c), 0) FROM (SELECT count(*) AS c FROM kiln_job WHERE state = 'running' AND partition_key <> '' GROUP BY kind, partition_key)");
	if (getenv("FINARGS")) finArgs = atoi(getenv("FINARGS"));
	char *finTmpl = slurp(getenv("FIN") ? getenv("FIN") : "fin.sql");
	for (int k = 0; k < 5; k++) sFin[k] = prep(finText(finTmpl, sizes[k]));
	int cw0, hi;
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &cw0, &hi, 1);
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_HIT, &cw0, &hi, 1);
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_MISS, &cw0, &hi, 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
	run_burn(N, B);
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
	int cw, hit, miss;
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_WRITE, &cw, &hi, 0);
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_HIT, &hit, &hi, 0);
	sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_MISS, &miss, &hi, 0);
	if (nKeys && (sHeads || sKeys))
		printf("per-key (%d keys, limit %d): vmsteps/job keys %.1f take %.1f update %.1f\n", nKeys, maxRun,
		       (double)sqlite3_stmt_status(sHeads ? sHeads : sKeys, SQLITE_STMTSTATUS_VM_STEP, 0) / N,
		       sTake ? (double)sqlite3_stmt_status(sTake, SQLITE_STMTSTATUS_VM_STEP, 0) / N : 0.0,
		       (double)sqlite3_stmt_status(sKeyUpd, SQLITE_STMTSTATUS_VM_STEP, 0) / N);
	if (nHot)
		printf("hot key: %d jobs at the front; the first and last job of the other keys claimed in claims %lld and %lld of %lld\n",
		       nHot, coldFirst, coldLast, allClaims);
	if (parkMode)
		printf("park: %lld claims, %lld reads, %lld jobs parked, %lld taken by the sweep; per claim at most %lld candidates read, %lld parked; longest claim %.0f us\n",
		       parkClaims, parkReads, parkParked, parkSwept, parkMaxRead, parkMaxParked, parkMaxUs);
	else if (sHyb) printf("hybrid: %d claims fell back to the claim by key, which took %d jobs\n", hybFallbacks, hybFallbackJobs);
	long long finSteps = 0;
	for (int k = 0; k < 5; k++) finSteps += sqlite3_stmt_status(sFin[k], SQLITE_STMTSTATUS_VM_STEP, 0);
	printf("jobs %d cpu-us/job %.2f | vmsteps/job select %.1f update %.1f finish %.1f commit %.1f | pages written/job %.3f fetched/job %.2f\n",
	       N, ((t1.tv_sec - t0.tv_sec) * 1e6 + (t1.tv_nsec - t0.tv_nsec) / 1e3) / N,
	       (double)sqlite3_stmt_status(sCand, SQLITE_STMTSTATUS_VM_STEP, 0) / N,
	       (double)sqlite3_stmt_status(sUpd, SQLITE_STMTSTATUS_VM_STEP, 0) / N,
	       (double)finSteps / N,
	       (double)sqlite3_stmt_status(sCommit, SQLITE_STMTSTATUS_VM_STEP, 0) / N,
	       (double)cw / N, (double)(hit + miss) / N);
	if (walcopy) {
		char c[2048];
		snprintf(c, sizeof c, "cp '%s-wal' '%s.wal'", path, walcopy);
		if (system(c) != 0) die("WALCOPY");
	}
	sqlite3_close(db);
	return 0;
}
