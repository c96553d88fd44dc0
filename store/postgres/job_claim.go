package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// sqlClaimFormat is the statement of one round of JobClaim, with %[1]s for
// the body of its available CTE, which depends on the number of kinds
// whose available jobs it reads (claimAvailable), %[2]s for its
// RETURNING list (claimReturning), %[3]s for the CTE that writes rate
// budgets (claimBudget, or nothing) and %[4]s for its picked CTE, with
// kind limits or without (claimPickLimited, claimPick); claimSQL.text
// fills them in.
//
// It moves to running, and returns, up to $6 due jobs of queue $1 at time
// $2, in claim order: available jobs of the k kinds of $12, and scheduled
// or retryable jobs whose kind is in $3 (NULL: any) and not in $4; taking
// at most $8[i] jobs of kind $7[i]. The jobs are leased by $9 until $10,
// or, when $10 is NULL, for $11 from now() (the database's clock: see
// Clocks in the package documentation). Each row also says whether a
// candidate source was full (more due jobs may exist past the window). A
// paused queue has no due jobs.
//
//   - paused is a row when kiln_queue says queue $1 is paused: one
//     primary-key lookup per statement (a materialized CTE). available and
//     the first step of prio test it with NOT EXISTS, which does not depend
//     on their rows and so runs as a one-time filter: a paused queue's
//     index scans are never executed, and waiting, which reads the
//     priorities that prio found, reads nothing either.
//   - available reads and locks the first $5 available jobs of the kinds
//     of $12 from kiln_job_claim_kind (queue, kind, priority,
//     scheduled_at, id), skipping those that other claims hold (SKIP
//     LOCKED: claims never wait for each other); see claimAvailable. Jobs
//     of other kinds are never read, however many wait in the queue. A job
//     another claim took after this statement's snapshot is re-checked
//     once locked and dropped, since it is no longer available.
//   - prio walks the priorities of the queue's scheduled and retryable jobs
//     (one index seek each), and waiting reads and locks, for each, its
//     first $5 due jobs from kiln_job_claim_waiting, seeking the range
//     scheduled_at <= $2: jobs due in the future are never read. (Due
//     scheduled and retryable jobs of kinds not claimed are read and
//     filtered out: the promoter makes them available within a second.)
//   - picked keeps the first $6 locked jobs in claim order that are
//     within their kind's limit (claimPickLimited, when some kind has one)
//     or all of them (claimPick): each one's ID, kind and the state it was
//     locked in. The locked jobs that are not picked stay locked only until
//     the statement's transaction ends.
//   - counted appends the claim's counter deltas to kiln_job_count_delta
//     (migrations 019 and 021: no trigger counts an UPDATE of kiln_job):
//     one more running job per picked job, and one fewer in the state it
//     was picked from (available, or the state waiting locked it in). It
//     counts picked, not the UPDATE's rows: every picked job is locked by
//     this statement (FOR UPDATE, re-checked once locked), so nothing can
//     change or delete it before the UPDATE, which finds every one. The
//     WHERE drops a state whose delta is 0, so a claim that takes nothing
//     (an idle poll) appends no row. picked, read by counted and the
//     UPDATE, is materialized: a few narrow rows.
//   - The UPDATE, the statement's own (not a CTE), finds the picked jobs
//     by primary key (id = ANY(ARRAY(...)) makes that the plan whatever the
//     planner estimates of the picked rows) and returns their rows
//     straight to the client. As a CTE whose rows the statement selected
//     and counted, it stored each wide row in a tuplestore and read it
//     three times: about 16,000 database instructions more per claimed job
//     (docs/benchmarks.md, "PostgreSQL claim per job").
//   - async turns synchronous_commit off for the statement's transaction
//     only (set_config's is_local), so that its commit does not wait for
//     the WAL to reach disk; the UPDATE's one-time filter makes it run
//     first. See JobClaim for why that is safe.
var sqlClaimFormat = `WITH RECURSIVE paused AS MATERIALIZED (
	SELECT FROM {s}.kiln_queue WHERE name = $1 AND paused
),
async AS MATERIALIZED (
	SELECT set_config('synchronous_commit', 'off', true)
),
prio(p) AS (
	SELECT min(priority) FROM {s}.kiln_job
	WHERE state IN ('scheduled', 'retryable') AND queue = $1 AND NOT EXISTS (SELECT FROM paused)
	UNION ALL
	SELECT (SELECT min(priority) FROM {s}.kiln_job
		WHERE state IN ('scheduled', 'retryable') AND queue = $1 AND priority > prio.p)
	FROM prio WHERE prio.p IS NOT NULL
),
available AS MATERIALIZED (
%[1]s
),
waiting AS MATERIALIZED (
	SELECT w.id, w.kind, w.priority, w.scheduled_at, w.state
	FROM prio CROSS JOIN LATERAL (
		SELECT id, kind, priority, scheduled_at, state FROM {s}.kiln_job
		WHERE state IN ('scheduled', 'retryable') AND queue = $1 AND priority = prio.p
			AND scheduled_at <= $2
			AND ($3::text[] IS NULL OR kind = ANY($3::text[])) AND kind <> ALL($4::text[])
		ORDER BY scheduled_at, id
		LIMIT $5
		FOR UPDATE SKIP LOCKED
	) AS w
	WHERE prio.p IS NOT NULL
),
%[4]s,
counted AS (
	INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT $1, d.state, d.jobs, 0
	FROM (
		SELECT 'running' AS state, count(*) AS jobs FROM picked
		UNION ALL SELECT state, -count(*) FROM picked GROUP BY state
	) AS d
	WHERE d.jobs <> 0
)%[3]s
UPDATE {s}.kiln_job AS j SET ` + claimSet("$2", "$9", "$10", "$11") + `
WHERE EXISTS (SELECT FROM async) AND j.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING %[2]s`

// claimDueScan is how many due scheduled and retryable jobs of its queue
// sqlClaimPrelude reads, at most, to find one of a kind the claim takes.
// When that many are all of other kinds, it takes the queue to have one
// (sqlClaim then reads them, and filters them out as it always did): the
// test reads a bounded number of rows however many jobs of other kinds
// are due, which the promoter makes available within a second anyway.
const claimDueScan = 16

// claimPriorities is every priority a job may have (kilntype.PriorityHighest
// to PriorityLowest, which every path into a store checks), as the rows of
// a VALUES list: sqlClaimPrelude seeks each.
var claimPriorities = func() string {
	p := make([]string, 0, kilntype.PriorityLowest-kilntype.PriorityHighest+1)
	for i := kilntype.PriorityHighest; i <= kilntype.PriorityLowest; i++ {
		p = append(p, strconv.Itoa(i))
	}
	return "(" + strings.Join(p, "), (") + ")"
}()

// sqlClaimPrelude is sent before sqlClaimPlain, in its batch (one round
// trip, and one transaction on the pool: see claim.query), after
// sqlLookupSettings: both are then planned once per connection (planned for
// its parameters at each claim, as PostgreSQL's plan cache may keep doing,
// a prelude cost about 220,000 database instructions more per claim), and
// with index scans only. For the transaction only (set_config's
// is_local) it sets synchronous_commit off (as sqlClaim's async CTE) and
// kiln.claim_plain, which sqlClaimPlain reads and which it returns:
// 'paused' when queue $1 is paused; 'due' when the queue has a scheduled
// or retryable job due at $2 of a kind that the claim takes ($3: its
// kinds, NULL for any; $4: kinds it excludes), which may come before the
// available jobs in claim order and which only sqlClaim reads; else
// 'take'. sqlClaimPlain takes jobs only on 'take', and the claim sends
// sqlClaim after it on 'due' (claim.runPlain). The CASE reads the pause
// first, so a paused queue's jobs are not read.
//
// The due test is the queue's and its kinds', not the table's: a due job
// of a paused queue, or of a kind that no process serves, does not send
// other queues' claims to sqlClaim (until 2026-12-06 one seek of
// kiln_job_due to the table's first due job did; docs/benchmarks.md,
// "PostgreSQL per-queue due test (issue 11, 2026-12-06)"). For each
// priority of claimPriorities (four), in order, it seeks the queue's due
// range in kiln_job_claim_waiting (queue, priority, scheduled_at, id;
// scheduled_at <= $2 ends it: jobs due later are never read), and it reads
// the kinds of the first claimDueScan due jobs in all. A queue with nothing
// due costs four seeks that find nothing. The ORDER BY of each range
// keeps it an index scan of that range: one scan with priority = ANY(...)
// was planned as a bitmap scan, or as a scan with the priorities in a
// filter, of the queue's whole range, the jobs due later included. A walk
// of the queue's priorities (sqlClaim's prio) initialized more plan nodes.
// (A job of a priority out of that range, which no path into the store
// writes, is claimed by sqlClaim, or once the promoter makes it available.)
var sqlClaimPrelude = claimPrelude("")

// claimPrelude returns sqlClaimPrelude's text with rate, if not "", as a
// WHEN of its CASE between the pause and the due test (sqlClaimPreludeRate).
func claimPrelude(rate string) string { return claimPreludeWith(rate, "") }

// claimPreludeWith is claimPrelude with more, if not "", after its
// settings: more items of its SELECT list and its FROM clause
// (sqlClaimPreludeRateOne).
func claimPreludeWith(rate, more string) string {
	return `SELECT set_config('synchronous_commit', 'off', true),
	set_config('kiln.claim_plain', CASE
		WHEN EXISTS (SELECT FROM {s}.kiln_queue WHERE name = $1 AND paused) THEN 'paused'` + rate + `
		WHEN (SELECT count(*) >= ` + strconv.Itoa(claimDueScan) + `
				OR coalesce(bool_or(($3::text[] IS NULL OR kind = ANY($3::text[])) AND kind <> ALL($4::text[])), false)
			FROM (SELECT d.kind FROM (VALUES ` + claimPriorities + `) AS p(priority) CROSS JOIN LATERAL (
					SELECT kind FROM {s}.kiln_job
					WHERE state IN ('scheduled', 'retryable') AND queue = $1 AND priority = p.priority
						AND scheduled_at <= $2
					ORDER BY scheduled_at, id
					LIMIT ` + strconv.Itoa(claimDueScan) + `) AS d
				LIMIT ` + strconv.Itoa(claimDueScan) + `) AS d) THEN 'due'
		ELSE 'take' END, true)` + more
}

// sqlClaimPlainFormat is the plain claim: the claim of a process without
// kind limits, rate budgets or claims by key (every claim of a burn-down)
// while no scheduled or retryable job is due. It takes what sqlClaim
// would take then, the first $4 available jobs of queue $1 due at $2 of
// the kinds of $3 in claim order (sqlClaimPlain: those after ($8, $9,
// $10), the Store's mark of its last claim of the queue and kinds, or
// after nothing when it reads from the front; see claimMarks and
// claimPastMark), leased by $5 until $6, or when $6 is NULL for $7 from
// now(), with a plan of a third of sqlClaim's nodes
// (PostgreSQL initializes every node of a plan at each run, whether it
// reads rows or not): no CTEs of waiting jobs (prio, waiting), no sort
// of the candidates (the available jobs come in claim order, and all of
// them are taken), no flag of a full window (a claim without limits has
// one round), and no async CTE (sqlClaimPrelude sets it). %[1]s is the
// available jobs' body (claimAvailableWith), %[2]s the job's columns and
// %[3]s the CTE that writes rate budgets (claimRateBudget, in
// sqlClaimPlainBudget; else nothing).
//
// picked reads nothing unless sqlClaimPrelude, earlier in its transaction,
// set kiln.claim_plain to 'take': not when queue $1 is paused, nor when a
// scheduled or retryable job of a kind the claim takes is due. Its test is
// a one-time filter on current_setting, one call, where the pause and the
// due jobs were each a seek in this statement too. The claim sends sqlClaim
// after it when the prelude found a due job (claim.runPlain). Run without
// the prelude (the setting unset, or ” once a transaction that set it has
// ended), it takes nothing. counted
// appends the deltas of the available jobs picked, as sqlClaim's counted.
// sqlCountPicked is a claim's CTE that moves the jobs of its picked CTE,
// every one available (its read takes no other), to running in the
// counters of queue $1.
const sqlCountPicked = `counted AS (
	INSERT INTO {s}.kiln_job_count_delta (queue, state, jobs, finished)
	SELECT $1, d.state, d.jobs, 0
	FROM (SELECT count(*) AS n FROM picked) AS c,
		LATERAL (VALUES ('running', c.n), ('available', -c.n)) AS d(state, jobs)
	WHERE c.n > 0
)`

var sqlClaimPlainFormat = `WITH picked AS MATERIALIZED (
%[1]s
),
` + sqlCountPicked + `%[3]s
UPDATE {s}.kiln_job AS j SET ` + claimSet("$2", "$5", "$6", "$7") + `
WHERE j.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING %[2]s`

// claimPickLimited is sqlClaim's picked CTE when some kind has a limit
// ($7[i] is a kind, $8[i] how many more of its jobs the claim may take):
// candidates ranks the locked jobs within their kind (a window function),
// and picked keeps those within their kind's limit, the first $6 in claim
// order.
const claimPickLimited = `candidates AS (
	SELECT c.id, c.kind, c.state, c.priority, c.scheduled_at, l.remaining,
		row_number() OVER (PARTITION BY c.kind ORDER BY c.priority, c.scheduled_at, c.id) AS kind_rank
	FROM (SELECT id, kind, 'available' AS state, priority, scheduled_at FROM available
		UNION ALL SELECT id, kind, state, priority, scheduled_at FROM waiting) AS c
	LEFT JOIN unnest($7::text[], $8::integer[]) AS l(kind, remaining) ON l.kind = c.kind
),
picked AS (
	SELECT id, kind, state FROM candidates
	WHERE remaining IS NULL OR kind_rank <= remaining
	ORDER BY priority, scheduled_at, id
	LIMIT $6
)`

// claimPick is sqlClaim's picked CTE when no kind has a limit: the first $6
// locked jobs in claim order, with no sort by kind, window function or join
// with the limits (about 6,400 database instructions fewer per claimed job:
// docs/benchmarks.md, "Database instructions per job"). Its condition on
// $7 and $8, which must be empty, is a one-time filter: a claim sent with
// limits by mistake takes nothing rather than ignore them.
const claimPick = `picked AS (
	SELECT id, kind, state FROM (
		SELECT id, kind, 'available' AS state, priority, scheduled_at FROM available
		UNION ALL SELECT id, kind, state, priority, scheduled_at FROM waiting
	) AS c
	WHERE cardinality($7::text[]) = 0 AND cardinality($8::integer[]) = 0
	ORDER BY priority, scheduled_at, id
	LIMIT $6
)`

// claimBudget is the CTE that sqlClaimBudget appends to sqlClaim: for a
// claim of rate-limited kinds whose limits cannot bind (claim.budget), it
// writes the theoretical arrival time of each kind $13[i] of which the
// claim took n jobs (picked n: each is claimed, see sqlClaimFormat), $14[i] + n × $15[i] microseconds (store.KindBudget:
// the budget's base and GCRA interval), in the claim's own statement.
const claimBudget = `,
budget AS (
	INSERT INTO {s}.kiln_rate_limit_state (kind, per_key, key, tat)
	SELECT b.kind, false, '', b.base + (n.n * b.interval_us) * interval '1 microsecond'
	FROM unnest($13::text[], $14::timestamptz[], $15::bigint[]) AS b(kind, base, interval_us)
	JOIN (SELECT kind, count(*) AS n FROM picked GROUP BY kind) AS n ON n.kind = b.kind
	ON CONFLICT (kind, per_key, key) DO UPDATE SET tat = excluded.tat
)`

// claimSQL says which text of the claim statement: for how many kinds of
// available jobs, with or without kind limits, with or without budgets.
type claimSQL struct {
	kinds           int
	limited, budget bool
	plain           bool // sqlClaimPlain's text (limited false; with budget, sqlClaimPlainBudget's)
	rateOne         bool // with plain and budget, sqlClaimPlainBudgetOne's
	anyKind         bool // with plain, sqlClaimPlainAny's
}

// claimSQLs caches the texts of sqlClaim and sqlClaimBudget: pgx prepares
// (and caches) one statement per text.
var claimSQLs sync.Map // claimSQL -> string

// text returns the statement that v says, built once.
func (v claimSQL) text() string {
	if q, ok := claimSQLs.Load(v); ok {
		return q.(string)
	}
	if v.plain {
		kinds, ready := "$3", "current_setting('kiln.claim_plain', true) = 'take'"
		if v.anyKind {
			kinds, ready = claimKindsSetting, ready+" AND cardinality("+claimKindsSetting+") = $3::integer"
		}
		budget := ""
		if v.budget {
			budget = claimRateBudget
			if v.rateOne {
				budget = claimRateBudgetOne
			}
		}
		past := ""
		if !v.anyKind {
			past = claimPastMark
		}
		q := fmt.Sprintf(sqlClaimPlainFormat, claimAvailableWith(v.kinds, kinds, "$4", ready, past),
			qualified("j", jobColumns), budget)
		claimSQLs.Store(v, q)
		return q
	}
	pick, budget := claimPick, ""
	if v.limited {
		pick = claimPickLimited
	}
	if v.budget {
		budget = claimBudget
	}
	q := fmt.Sprintf(sqlClaimFormat, claimAvailable(v.kinds), claimReturning, budget, pick)
	claimSQLs.Store(v, q)
	return q
}

// sqlClaim returns the claim statement for k kinds of available jobs (see
// sqlClaimFormat), with the kind limits of $7 and $8 if limited (else they
// must be empty).
func sqlClaim(k int, limited bool) string { return claimSQL{kinds: k, limited: limited}.text() }

// sqlClaimPlain returns the plain claim statement for k ≥ 1 kinds of
// available jobs (see sqlClaimPlainFormat).
func sqlClaimPlain(k int) string { return claimSQL{kinds: k, plain: true}.text() }

// sqlClaimPlainAny is sqlClaimPlain for the k ≥ 1 kinds that
// sqlAvailableKindsSet wrote to kiln.claim_kinds earlier in its batch,
// where sqlClaimPlain has them in $3: it takes jobs only if they are k
// ($3 is k). Any other number of kinds listed takes nothing (the claim
// then sends sqlClaimPlain for them: claim.runPlainAny), so that a kind
// the statement has no branch for never waits behind the others' jobs.
func sqlClaimPlainAny(k int) string { return claimSQL{kinds: k, plain: true, anyKind: true}.text() }

// sqlClaimBudget is sqlClaim(k, false) that also writes the budgets of
// $13, $14 and $15 (claimBudget). Only a claim that no kind limit binds
// writes its budgets in its statement (claim.budget), so it picks its jobs
// unranked (claimPick), as the claim without limits does: it ranked them
// with claimPickLimited, over empty limits, until 2026-12-05.
func sqlClaimBudget(k int) string { return claimSQL{kinds: k, budget: true}.text() }

// claimAvailable returns the body of sqlClaim's available CTE for the k
// kinds of $12: it returns (id, kind, priority, scheduled_at) of up to $5
// available jobs of queue $1 due at $2, of those kinds, in claim order, and
// locks them, skipping locked ones.
//
// claimPastMark, when the claim is sqlClaimPlain's, follows each range's
// scheduled_at <= $2 (claimAvailableWith's past): the range then starts
// past the claim's mark, not at its front (see claimMarks).
//
//   - k = 0 returns nothing (every kind excluded, or none available).
//   - k = 1 reads the one range of kiln_job_claim_kind from its front (or
//     its mark) and locks as it goes, until $5 rows are locked.
//   - k > 1 merges k ranges: a UNION ALL of one branch per kind, each
//     reading its range in claim order, which PostgreSQL plans as a Merge
//     Append that pulls an entry from a branch only when it is the next in
//     claim order, so about $5 entries are read in all however long each
//     range is (the LIMIT stops it). Each entry's row is then looked up by
//     primary key and locked, in a LATERAL subquery with FOR UPDATE SKIP
//     LOCKED: a subquery with a locking clause is never merged into the
//     outer query, so the lookup is a nested loop driven by the merged
//     entries in their order, whatever the planner estimates of the
//     ranges, and only the rows taken are locked. A row that another
//     claim holds is skipped, and one that another claim took since the
//     statement's snapshot fails the re-check of state once locked; either
//     way the merge goes on to the next entry.
func claimAvailable(k int) string {
	return claimAvailableWith(k, "$12", "$5", "NOT EXISTS (SELECT FROM paused)", "")
}

// claimAvailableWith is claimAvailable with the kinds in the text array
// parameter kinds, up to window jobs, and the one-time condition ready in
// place of sqlClaim's test of paused; past, if not "", is one more
// condition of each range (claimPastMark).
func claimAvailableWith(k int, kinds, window, ready, past string) string {
	r := strings.NewReplacer("$12", kinds, "$5", window, "NOT EXISTS (SELECT FROM paused)", ready)
	q := r.Replace(claimAvailableText(k))
	if past != "" {
		q = strings.ReplaceAll(q, claimDueTest, claimDueTest+"\n\t\tAND "+past)
	}
	return q
}

// claimDueTest is the condition of claimAvailableText's ranges that
// claimAvailableWith's past follows.
const claimDueTest = "AND scheduled_at <= $2"

// claimPastMark is the condition that starts sqlClaimPlain's ranges past
// its mark, ($8, $9, $10): a row comparison of the index's columns after
// (queue, kind) in kiln_job_claim_kind, which PostgreSQL 15 makes the
// start key of the index scan (Index Cond: ROW(priority, scheduled_at, id)
// > ROW($8, $9, $10), checked by TestClaimPlainPlan), so that the
// entries before the mark, the dead entries of the jobs claimed before it
// among them, are never read. A claim from the front passes
// (math.MinInt32, any time, 0): every job's priority is above it.
const claimPastMark = "(priority, scheduled_at, id) > ($8::integer, $9::timestamptz, $10::bigint)"

// claimAvailableText is claimAvailable's text, for sqlClaim's parameters.
func claimAvailableText(k int) string {
	switch k {
	case 0:
		return `	SELECT NULL::bigint AS id, NULL::text AS kind, NULL::integer AS priority,
		NULL::timestamptz AS scheduled_at
	WHERE $12::text[] IS NULL AND false`
	case 1:
		return `	SELECT id, kind, priority, scheduled_at FROM {s}.kiln_job
	WHERE state = 'available' AND queue = $1 AND kind = ($12::text[])[1] AND scheduled_at <= $2
		AND NOT EXISTS (SELECT FROM paused)
	ORDER BY priority, scheduled_at, id
	LIMIT $5
	FOR UPDATE SKIP LOCKED`
	}
	branches := make([]string, k)
	for i := range k {
		branches[i] = fmt.Sprintf(`		(SELECT id, priority, scheduled_at FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind = ($12::text[])[%d] AND scheduled_at <= $2
		ORDER BY priority, scheduled_at, id)`, i+1)
	}
	return `	SELECT j.id, j.kind, j.priority, j.scheduled_at
	FROM (
` + strings.Join(branches, "\n\t\tUNION ALL\n") + `
	) AS c
	CROSS JOIN LATERAL (
		SELECT id, kind, priority, scheduled_at FROM {s}.kiln_job
		WHERE id = c.id AND state = 'available'
		FOR UPDATE SKIP LOCKED
	) AS j
	WHERE NOT EXISTS (SELECT FROM paused)
	ORDER BY c.priority, c.scheduled_at, c.id
	LIMIT $5`
}

// sqlAvailableKinds returns the kinds of queue $1's available jobs, in
// order, by a loose index scan of kiln_job_claim_kind: one seek per kind
// for the first entry after the previous kind, and one more that finds
// none. Claims with AnyKind that do not take the plain path (kind limits,
// rate budgets, a transaction) run it first; the others list the kinds
// with sqlAvailableKindsSet.
const sqlAvailableKinds = `WITH RECURSIVE kinds(kind) AS (
	(SELECT kind FROM {s}.kiln_job WHERE state = 'available' AND queue = $1 ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT kind FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind > kinds.kind ORDER BY kind LIMIT 1)
	FROM kinds WHERE kinds.kind IS NOT NULL
)
SELECT kind FROM kinds WHERE kind IS NOT NULL`

// sqlAvailableKindsSet is sqlAvailableKinds for the plain claim of any
// kind (claim.runPlainAny): the kinds of queue $1's available jobs less
// those of $2 (excluded), as one array, which it also writes to the
// transaction-local setting kiln.claim_kinds, where sqlClaimPlainAny, later
// in the same batch, reads them. No kind gives '{}'.
const sqlAvailableKindsSet = `WITH RECURSIVE kinds(kind) AS (
	(SELECT kind FROM {s}.kiln_job WHERE state = 'available' AND queue = $1 ORDER BY kind LIMIT 1)
	UNION ALL
	SELECT (SELECT kind FROM {s}.kiln_job
		WHERE state = 'available' AND queue = $1 AND kind > kinds.kind ORDER BY kind LIMIT 1)
	FROM kinds WHERE kinds.kind IS NOT NULL
)
SELECT set_config('kiln.claim_kinds', coalesce(array_agg(kind), '{}')::text, true)::text[]
FROM kinds WHERE kind IS NOT NULL AND kind <> ALL($2::text[])`

// claimKindsSetting is the kinds that sqlAvailableKindsSet wrote, as an
// array (NULL when no statement of the transaction wrote them).
const claimKindsSetting = `nullif(current_setting('kiln.claim_kinds', true), '')::text[]`

// claimReturning is what sqlClaim returns: the job, and whether a source of
// candidates was full.
var claimReturning = qualified("j", jobColumns) + `,
	(SELECT count(*) FROM available) >= $5
		OR EXISTS (SELECT 1 FROM waiting GROUP BY priority HAVING count(*) >= $5)`

// claimWindowFactor sizes the candidate window when kind limits may skip
// candidates: each source reads up to this many times the jobs wanted.
const claimWindowFactor = 4

// maxClaimWindow bounds the candidate window that kind limits widen.
const maxClaimWindow = 10_000

// JobClaim moves up to params.Max due jobs of params.Queue to running, leased
// by params.LeasedBy for params.LeaseExpiresAt - params.Now from the
// database's now() (until params.LeaseExpiresAt with Options.CallerClock),
// and returns them in claim
// order (priority, then ScheduledAt, then ID) with Attempt already counted.
// Kinds and KindLimits restrict which jobs are taken (no Kinds means none,
// unless AnyKind is set; a kind whose limit is 0 or less is excluded). The jobs are locked with FOR UPDATE SKIP LOCKED, so
// concurrent claims, from this process or another, never return the same
// job and never wait for each other; a job locked by another claim is
// skipped, so a claim may return fewer jobs than are due. A Max below 1
// claims nothing, and so does a claim of a queue paused with QueuePause (by
// any process sharing the schema).
//
// The claim reads the available jobs of each kind it may take from that
// kind's range of kiln_job_claim_kind, merged in claim order, so its cost
// does not grow with the jobs of other kinds queued (see sqlClaim). With
// AnyKind it lists the kinds of the queue's available jobs (one index seek
// per kind: sqlAvailableKindsSet, sqlAvailableKinds) in the plain claim's
// batch (claim.runPlainAny): one round trip while their number stays the
// same, and none of sqlClaim's statements when the queue has none and
// nothing is due.
//
// Without a positive kind limit the claim is one statement: sqlClaimPlain
// while no scheduled or retryable job of its queue and kinds is due (every
// claim of a burn-down), else sqlClaim, which also takes due scheduled and
// retryable jobs. With
// one, each round reads a window of claimWindowFactor times the jobs still
// wanted and applies the limits; a round that ends short of Max only
// because of the limits is followed, in the same transaction, by another
// that excludes the kinds whose limit is reached. Each round thus fills
// Max, runs out of candidates, or excludes one more kind.
//
// A claim of rate-limited kinds (RateLimits, with no other limit) whose
// budgets this Store last found with room for more than twice Max is one
// round trip too (claimRateOneTrip): the plain claim, past the Store's
// mark as the plain claim, in its batch's implicit transaction that holds
// the kinds' locks, after a prelude that tests each budget
// (sqlClaimPreludeRate) and with the budgets' write in its statement
// (sqlClaimPlainBudget). When a limit might bind, or a scheduled or
// retryable job is due, it takes nothing, and the claim is made as one of
// cluster-limited kinds is (claimSerialized: the budgets read in a first
// round trip, the claim and their write in a second); after a due job, the
// queue's next rateDueSkipClaims claims go that way at once.
//
// A claim commits asynchronously (synchronous_commit off for its
// transaction only, as PostgreSQL allows per transaction): it returns
// without waiting for its WAL to reach disk, which saves a disk flush per
// claim (0.67 ms on the development VM). Its effects are visible to other
// transactions at once, as any commit's. A claim lost in a database crash
// leaves its jobs as they were, due, and they run again, as at-least-once
// allows for any job that was running when its process or its database
// died. The outcome of a job is written with a synchronous commit, which
// flushes the WAL up to it, the claim's included.
//
// A claim's statements run with PostgreSQL's generic plans, set for the
// claim's transaction only (see claim.query): a process polls the claim
// every FetchPollInterval while it is idle, and planning it for its
// parameters each time cost the database more than running it.
func (s *Store) JobClaim(ctx context.Context, params *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	if params.ClaimsByKey() {
		return s.claimPartitioned(ctx, params)
	}
	if params.ClaimsNothing() {
		return []*kilntype.JobRow{}, nil
	}
	var err error
	if len(params.ClusterKindLimits) > 0 || len(params.RateLimits) > 0 {
		if s.rateRoomy(params) {
			claimed, done, err := s.claimRateOneTrip(ctx, params)
			if err != nil {
				return nil, fail("claim jobs", err)
			}
			if done {
				slices.SortFunc(claimed, compareClaimOrder)
				return claimed, nil
			}
		}
		claimed, err := s.claimSerialized(ctx, params, func(tx *claimTx, p *store.JobClaimParams, rate *store.RateClaim) ([]*kilntype.JobRow, bool, error) {
			c := s.newClaim(p)
			c.generic = true // sqlLockGeneric
			if rate != nil && !c.limited && p.KindFilter() != nil {
				// One round, no kind limit (no rate limit binds): the
				// claim writes its budgets and commits in its batch.
				c.budget, c.commit = budgetArgs(rate), true
			}
			err := c.run(ctx, s, tx)
			return c.claimed, c.committed, err
		})
		if err != nil {
			return nil, fail("claim jobs", err)
		}
		slices.SortFunc(claimed, compareClaimOrder)
		return claimed, nil
	}
	c := s.newClaim(params)
	if c.limited {
		err = s.inTx(ctx, func(tx pgx.Tx) error { return c.run(ctx, s, tx) })
	} else {
		err = c.run(ctx, s, s.pool)
	}
	if err != nil {
		return nil, fail("claim jobs", err)
	}
	slices.SortFunc(c.claimed, compareClaimOrder)
	return c.claimed, nil
}

// claim is the state of one JobClaim across its rounds.
type claim struct {
	p         *store.JobClaimParams
	now       time.Time
	leaseEnd  *time.Time     // nil: leaseLen from now()
	leaseLen  time.Duration  // the lease's length
	excluded  []string       // kinds whose limit is 0 or reached
	taken     map[string]int // jobs claimed per limited kind
	limited   bool           // whether some kind has a positive limit
	anyKinds  []string       // with AnyKind, the kinds of available jobs
	listed    bool           // whether anyKinds was listed
	due       bool           // sqlClaimPrelude found a due job of the claim's queue and kinds
	inTx      bool           // the rounds run in a transaction
	generic   bool           // the transaction plans generically (sqlGenericPlans sent)
	budget    []any          // with a one-round claim in a claimTx, the args of claimBudget (nil: none)
	commit    bool           // the claim statement's batch ends its transaction (COMMIT)
	committed bool           // that COMMIT ran
	claimed   []*kilntype.JobRow
}

func (s *Store) newClaim(p *store.JobClaimParams) *claim {
	c := &claim{p: p, now: truncate(p.Now), leaseEnd: s.callerTime(p.LeaseExpiresAt),
		leaseLen: truncate(p.LeaseExpiresAt).Sub(truncate(p.Now)),
		excluded: []string{}, taken: make(map[string]int, len(p.KindLimits)),
		claimed: make([]*kilntype.JobRow, 0, p.Max)}
	for kind, limit := range p.KindLimits {
		if limit <= 0 {
			c.excluded = append(c.excluded, kind)
		} else {
			c.limited = true
		}
	}
	return c
}

// newPartitionClaim returns the claim whose fields a partitionSource
// reads (p, now, leaseEnd, leaseLen): newClaim's without the slices and
// map of a claim's own rounds (claimed, excluded, taken), which a claim by
// partition key does not use.
func (s *Store) newPartitionClaim(p *store.JobClaimParams) *claim {
	return &claim{p: p, now: truncate(p.Now), leaseEnd: s.callerTime(p.LeaseExpiresAt),
		leaseLen: truncate(p.LeaseExpiresAt).Sub(truncate(p.Now))}
}

// run runs the claim's rounds on q: the pool (one round, in the implicit
// transaction of its batch; see claim.query), or a transaction (a pgx.Tx
// or a claimTx).
func (c *claim) run(ctx context.Context, s *Store, q claimQuerier) error {
	_, onPool := q.(*pgxpool.Pool)
	c.inTx = !onPool
	for len(c.claimed) < c.p.Max {
		want := c.p.Max - len(c.claimed)
		window := want
		var (
			limitKinds     = []string{}
			limitRemaining = []int32{}
		)
		if c.limited {
			// A claim of one kind only would skip that kind's jobs however
			// many it read: only a claim that can take other kinds reads a
			// wider window.
			if len(c.p.KindFilter()) != 1 {
				window = max(want, min(want*claimWindowFactor, maxClaimWindow))
			}
			for kind, limit := range c.p.KindLimits {
				if limit > 0 && c.taken[kind] < limit {
					limitKinds = append(limitKinds, kind)
					limitRemaining = append(limitRemaining, int32(limit-c.taken[kind]))
				}
			}
		}
		plain := !c.limited && c.budget == nil && !c.commit && !c.inTx
		if plain && c.p.KindFilter() == nil && !c.listed {
			done, err := c.runPlainAny(ctx, s, q, want)
			if err != nil || done {
				return err
			}
		}
		avail, err := c.availableKinds(ctx, s, q)
		if err != nil {
			return err
		}
		if plain && !c.due && len(avail) > 0 {
			waiting, err := c.runPlain(ctx, s, q, avail, want)
			if err != nil || len(c.claimed) > 0 || !waiting {
				return err
			}
			// A scheduled or retryable job is due: sqlClaim takes it in
			// claim order.
		}
		var (
			picked int
			more   bool
		)
		sql, args := sqlClaim(len(avail), c.limited), []any{c.p.Queue, c.now, c.p.KindFilter(), c.excluded,
			window, want, limitKinds, limitRemaining, c.p.LeasedBy, c.leaseEnd, c.leaseLen, avail}
		if c.budget != nil {
			sql, args = sqlClaimBudget(len(avail)), append(args, c.budget...)
		}
		end := ""
		if c.commit {
			end = "COMMIT"
		}
		sc := newClaimScanner()
		err = c.query(ctx, q, s.sql(sql), args, end,
			func(rows pgx.Rows) error {
				j, full, err := sc.scanClaimed(rows)
				if err != nil {
					return err
				}
				more = more || full
				picked++
				c.claimed = append(c.claimed, j)
				if limit, ok := c.p.KindLimits[j.Kind]; ok {
					c.taken[j.Kind]++
					if c.taken[j.Kind] == limit {
						c.excluded = append(c.excluded, j.Kind)
					}
				}
				return nil
			})
		if err != nil {
			return err
		}
		// Without limits a round takes every candidate up to want; with
		// them, a short round goes on only if a source was full.
		if !c.limited || picked == 0 || !more {
			return nil
		}
	}
	return nil
}

// runPlain runs sqlClaimPlain for up to want jobs of the kinds avail on q,
// the Store's pool, after sqlLookupSettings and sqlClaimPrelude in its
// batch, and returns whether sqlClaimPrelude found a scheduled or retryable
// job of the claim's queue and kinds due. The plain claim takes nothing
// then, and the claim sends sqlClaim.
//
// The statement starts where the Store's claimMarks say for the queue and
// avail: past the mark of the last claim, or at the front; a claim of any
// kind (the kinds listed, avail, change from claim to claim) and one with
// FromFront always at the front. One that
// started past the mark and took fewer than want jobs is followed at once
// by one from the front for the rest (a second round trip, once per
// mark): the jobs before the mark are read before the claim returns short.
func (c *claim) runPlain(ctx context.Context, s *Store, q claimQuerier, avail []string, want int) (bool, error) {
	var plain string
	key := claimMarkKey(c.p.Queue, avail)
	marked := c.p.KindFilter() != nil && !c.p.FromFront
	from := frontStart(c.now)
	if marked {
		from = s.claimMarks.start(key, c.now)
	}
	prelude := []batchStatement{{sql: sqlLookupSettings, label: "plan generically"},
		{sql: s.sql(sqlClaimPrelude), args: []any{c.p.Queue, c.now, c.p.KindFilter(), c.excluded},
			label: "claim prelude", row: []any{nil, &plain}}}
	n := len(c.claimed)
	err := batchQuery(ctx, q, prelude, s.sql(sqlClaimPlain(len(avail))),
		[]any{c.p.Queue, c.now, avail, want, c.p.LeasedBy, c.leaseEnd, c.leaseLen, from.priority, from.scheduledAt, from.id},
		c.appendRows())
	if err != nil || plain != "take" {
		// sqlClaim follows (a job is due), the queue is paused, or the
		// claim failed: the next claim reads from the front.
		if marked {
			s.claimMarks.forget(key)
		}
		return plain == "due", err
	}
	got := c.claimed[n:]
	if marked {
		s.claimMarks.done(key, from, c.now, want, got)
	}
	if from.marked && len(got) < want {
		m := len(c.claimed)
		due, err := c.runPlain(ctx, s, q, avail, want-len(got)) // from the front: done dropped the mark
		if err != nil && q == claimQuerier(s.pool) {
			// On the pool the first batch committed in its own implicit
			// transaction: its jobs are running and leased to this claim,
			// which returns them (as a claim that ends early) rather than
			// an error that would leave them to the rescuer. In a
			// transaction the error rolls them back with it.
			c.claimed = c.claimed[:m]
			return false, nil
		}
		return due, err
	}
	return false, nil
}

// runPlainAny is the plain claim of any kind, in one round trip while the
// number of kinds available in the queue stays the same: one batch of
// sqlLookupSettings, sqlAvailableKindsSet, sqlClaimPrelude and
// sqlClaimPlainAny for as many kinds as the Store's last listing of the
// queue found (anyKindsListed). It records the kinds listed (c.anyKinds)
// and whether a scheduled or retryable job is due (c.due), and returns
// true when the claim is done: jobs were taken, the queue is paused, the
// plain claim ran for the kinds listed, or none is available and none is
// due (an idle queue: no statement of sqlClaim's plan). Otherwise run goes
// on with the kinds listed: sqlClaimPlain for them when their number
// changed (a second round trip, as every claim of any kind took until
// 2026-12-06), sqlClaim when a job is due. A last listing of no kinds
// sends no claim statement in the batch.
func (c *claim) runPlainAny(ctx context.Context, s *Store, q claimQuerier, want int) (bool, error) {
	guess := 1
	if v, ok := s.anyKindsListed.Load(c.p.Queue); ok {
		guess = v.(int)
	}
	var (
		kinds []string
		plain string
	)
	before := []batchStatement{{sql: sqlLookupSettings, label: "plan generically"},
		{sql: s.sql(sqlAvailableKindsSet), args: []any{c.p.Queue, c.excluded}, label: "list available kinds",
			row: []any{&kinds}}}
	prelude := batchStatement{sql: s.sql(sqlClaimPrelude), args: []any{c.p.Queue, c.now, nil, c.excluded},
		label: "claim prelude", row: []any{nil, &plain}}
	var err error
	if guess == 0 {
		err = batchQuery(ctx, q, before, prelude.sql, prelude.args, func(rows pgx.Rows) error {
			return rows.Scan(nil, &plain)
		})
	} else {
		err = batchQuery(ctx, q, append(before, prelude), s.sql(sqlClaimPlainAny(guess)),
			[]any{c.p.Queue, c.now, guess, want, c.p.LeasedBy, c.leaseEnd, c.leaseLen},
			c.appendRows())
	}
	if err != nil {
		return false, err
	}
	c.anyKinds, c.listed, c.due = kinds, true, plain == "due"
	if len(kinds) != guess {
		s.anyKindsListed.Store(c.p.Queue, len(kinds))
	}
	switch {
	case len(c.claimed) > 0 || plain == "paused":
		return true, nil
	case c.due:
		return false, nil
	}
	return len(kinds) == 0 || len(kinds) == guess, nil
}

// appendRows returns the row callback of a plain claim's statement: each
// row read by one claimScanner and appended to c.claimed.
func (c *claim) appendRows() func(pgx.Rows) error {
	sc := newClaimScanner()
	return func(rows pgx.Rows) error {
		j, err := sc.scan(rows)
		if err == nil {
			c.claimed = append(c.claimed, j)
		}
		return err
	}
}

// claimQuerier is what a claim runs on: the Store's pool, or a transaction.
type claimQuerier interface {
	batchSender
}

// sqlGenericPlans makes the statements that follow it in its transaction
// use PostgreSQL's generic plan (set_config's is_local: until the
// transaction ends). See claim.query.
const sqlGenericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true)`

// query runs sql with args on q with PostgreSQL's generic plan, calls each
// for every row it returns, and returns once the statement's transaction
// has committed (on the pool) or the statement has ended (in a
// transaction), with the first error of any of them.
//
// The claim's statements run every FetchPollInterval in every idle
// process, so their planning is what an idle process costs the database.
// PostgreSQL plans a prepared statement for its parameters (a custom plan)
// until its generic plan looks no costlier, and the claim's custom plans
// look cheap beside a table's statistics, so it kept planning each claim:
// 1.44 ms of planning for 0.55 ms of execution beside 1,000,000 jobs of
// another kind, against 0.27 ms on an empty table (docs/benchmarks.md,
// "Idle claims (issue 16)"). So the statement is sent in one batch
// (one round trip) after sqlGenericPlans, which sets plan_cache_mode for
// its transaction only: on the pool, the implicit transaction that
// PostgreSQL runs a batch in, up to its Sync (pgx sends one), which the
// batch's Close waits for and reports the commit of; in a transaction, the
// transaction's (set once, on its first statement; the statements that
// follow in it, such as the rate limits' bookkeeping after the rounds,
// are planned generically too). A prepared statement's
// generic plan is planned once per connection and reused, whose shape
// TestQueryPlans checks. Behind a pooler in transaction mode the batch is
// one transaction too, on one server session; pgx's exec and
// cache_describe modes send unnamed statements, which the setting plans
// generically as well, and simple_protocol sends the values in the text,
// planned as they are (no plan is cached for them).
//
// end, if not "", is a statement queued after sql in the same batch (the
// COMMIT of a claimTx), and run once sql's rows are read. The batch is
// batchQuery's.
func (c *claim) query(ctx context.Context, q claimQuerier, sql string, args []any, end string, each func(pgx.Rows) error) error {
	var before, after []batchStatement
	if !c.generic {
		before = []batchStatement{{sql: sqlGenericPlans, label: "plan generically"}}
	}
	if end != "" {
		after = []batchStatement{{sql: end, done: func() { c.committed = end == "COMMIT" }}}
	}
	err := batchQuery(ctx, q, before, sql, args, each, after...)
	if err == nil && c.inTx {
		c.generic = true
	}
	return err
}

// availableKinds returns the kinds whose available jobs the next round
// reads: the claim's kinds, or with AnyKind those of the queue's available
// jobs (listed once per claim), less the excluded ones.
func (c *claim) availableKinds(ctx context.Context, s *Store, q claimQuerier) ([]string, error) {
	kinds := c.p.KindFilter()
	if kinds == nil {
		if !c.listed {
			var kinds []string
			err := c.query(ctx, q, s.sql(sqlAvailableKinds), []any{c.p.Queue}, "", func(rows pgx.Rows) error {
				var kind string
				err := rows.Scan(&kind)
				kinds = append(kinds, kind)
				return err
			})
			if err != nil {
				return nil, fmt.Errorf("list available kinds: %w", err)
			}
			c.anyKinds, c.listed = kinds, true
		}
		kinds = c.anyKinds
	}
	return c.notExcluded(kinds), nil
}

// notExcluded returns kinds without the claim's excluded kinds and
// without repeats, in their order.
func (c *claim) notExcluded(kinds []string) []string {
	out := make([]string, 0, len(kinds))
	for _, kind := range kinds {
		if !slices.Contains(c.excluded, kind) && !slices.Contains(out, kind) {
			out = append(out, kind)
		}
	}
	return out
}

// scanClaimed reads one row of sqlClaim: the job, and whether a source of
// candidates was full.
func (sc *jobScanner) scanClaimed(rows pgx.Rows) (*kilntype.JobRow, bool, error) {
	j, err := sc.scan(rows, &sc.full)
	return j, sc.full, err
}

// rowWithExtra is a row followed by more columns than its reader scans,
// read into extra (the recurring upsert's row, the rows of a claim by
// partition key; a row of jobColumns with one more column reads it with
// jobScanner.scan instead, without this wrapper's allocations).
type rowWithExtra struct {
	pgx.Row
	extra []any
}

func (r rowWithExtra) Scan(dest ...any) error {
	return r.Row.Scan(append(dest, r.extra...)...)
}

// compareClaimOrder orders jobs by priority, then ScheduledAt, then ID.
func compareClaimOrder(a, b *kilntype.JobRow) int {
	return cmp.Or(
		cmp.Compare(a.Priority, b.Priority),
		a.ScheduledAt.Compare(b.ScheduledAt),
		cmp.Compare(a.ID, b.ID),
	)
}

// sqlCountRunning counts the running jobs of each kind of $1, from the
// kinds' entries of kiln_job_running (migration 032): as many entries as
// jobs of those kinds run at once.
const sqlCountRunning = `SELECT kind, count(*) FROM {s}.kiln_job
WHERE state = 'running' AND kind COLLATE "C" = ANY($1::text[]) GROUP BY kind`

// sqlLockGeneric makes the statements that follow it in its transaction
// use PostgreSQL's generic plan (sqlGenericPlans) and takes, for the rest
// of the transaction, one advisory lock per kind of $1 (sorted, so
// concurrent claims never wait in a cycle): claims of cluster-limited,
// rate-limited and key-capped kinds are serialized per kind, across
// processes. The lock key hashes the schema ($2) and kind, so schemas do
// not share locks. It is the first statement of a claimTx, after BEGIN, in
// the same batch.
const sqlLockGeneric = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true),
	(SELECT count(pg_advisory_xact_lock(hashtextextended($2 || '/' || k, 0)))
	FROM (SELECT k FROM unnest($1::text[]) AS t(k) ORDER BY k COLLATE "C" OFFSET 0) AS sorted)`

// budgetArgs returns the arguments $13, $14 and $15 of sqlClaimBudget for
// the kinds of rate rate-limited per kind (store.RateClaim.KindBudgets).
func budgetArgs(rate *store.RateClaim) []any {
	budgets := rate.KindBudgets()
	kinds, bases, intervals := make([]string, len(budgets)), make([]time.Time, len(budgets)), make([]int64, len(budgets))
	for i, b := range budgets {
		kinds[i], bases[i], intervals[i] = b.Kind, b.Base, b.Interval.Microseconds()
	}
	return []any{kinds, bases, intervals}
}

// sqlBeginClaim begins a claimTx, READ COMMITTED whatever the database's
// default (see txOptions).
const sqlBeginClaim = `BEGIN ISOLATION LEVEL READ COMMITTED`

// claimTx is the transaction of a claim of serialized kinds
// (claimSerialized), on one connection of the Store's pool: its BEGIN is
// sent in the batch of its first statements, and its COMMIT in the batch
// of its last, so that neither costs a round trip of its own.
type claimTx struct {
	*pgxpool.Conn
}

// claimSerialized runs a claim of params' serialized kinds (cluster-limited,
// rate-limited, or partitioned under a per-key cap) in a claimTx:
//
//   - The first batch, one round trip, is BEGIN, the kinds' advisory locks
//     (params.SerializedKinds) with generic plans for the rest of the
//     transaction (sqlLockGeneric), and, each its own statement so that it
//     reads a snapshot taken once the locks are held (READ COMMITTED), the
//     run-time rate limits and budgets of the rate-limited kinds
//     (sqlRateClaimRead) and the running jobs of the cluster-limited kinds
//     (sqlCountRunning). A claim that commits before the locks are granted
//     is thus seen, and none of the kinds commits meanwhile.
//   - claim claims with params' kind limits lowered to each rate-limited
//     kind's allowance and to each cluster-limited kind's free slots, and
//     the rate part of the claim (nil without rate limits).
//   - The last batch, one round trip, writes the budgets that the claimed
//     jobs spent (sqlRateClaimWrite; none without) and commits, which
//     releases the locks. A claim may instead write its budgets in its own
//     statement and commit in its batch (claim.budget, when no kind limit
//     binds it and it is one round): claim then reports that it
//     committed, and the transaction is two round trips.
//
// On an error it rolls back; a connection whose transaction did not end
// is closed rather than returned to the pool (pgxpool destroys a
// connection released in a transaction).
func (s *Store) claimSerialized(ctx context.Context, params *store.JobClaimParams,
	claim func(tx *claimTx, p *store.JobClaimParams, rate *store.RateClaim) ([]*kilntype.JobRow, bool, error)) ([]*kilntype.JobRow, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release()
	tx := &claimTx{conn}
	claimed, err := s.claimInTx(ctx, tx, params, claim)
	if err != nil && conn.Conn().PgConn().TxStatus() != 'I' {
		_, _ = conn.Exec(ctx, "ROLLBACK") // failing, the connection is destroyed on Release
	}
	return claimed, err
}

// claimInTx is claimSerialized on tx, without the rollback.
func (s *Store) claimInTx(ctx context.Context, tx *claimTx, params *store.JobClaimParams,
	claim func(tx *claimTx, p *store.JobClaimParams, rate *store.RateClaim) ([]*kilntype.JobRow, bool, error)) ([]*kilntype.JobRow, error) {
	rated := len(params.RateLimits) > 0 || len(params.KeyRateLimits) > 0
	limited := params.ClusterLimitedKinds()
	var b pgx.Batch
	b.Queue(sqlBeginClaim)
	b.Queue(sqlLockGeneric, params.SerializedKinds(), "kiln/"+s.schema)
	if rated {
		b.Queue(s.sql(sqlRateClaimRead), rateClaimArgs(s, params)...)
	}
	if len(params.ClusterKindLimits) > 0 {
		b.Queue(s.sql(sqlCountRunning), limited)
	}
	br := tx.SendBatch(ctx, &b)
	p := params
	var rate *store.RateClaim
	err := func() error {
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("lock limited kinds: %w", err)
		}
		if rated {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("read rate limits: %w", err)
			}
			if rate, err = scanRateClaim(rows, params); err != nil {
				return fmt.Errorf("read rate limits: %w", err)
			}
			s.noteRateRoom(params, rate)
			p = rate.Apply(p)
		}
		if len(params.ClusterKindLimits) > 0 {
			rows, err := br.Query()
			if err != nil {
				return fmt.Errorf("count running jobs: %w", err)
			}
			running := make(map[string]int, len(limited))
			var (
				kind string
				n    int
			)
			if _, err := pgx.ForEachRow(rows, []any{&kind, &n}, func() error {
				running[kind] = n
				return nil
			}); err != nil {
				return fmt.Errorf("count running jobs: %w", err)
			}
			merged := *p
			merged.KindLimits = store.MergeKindLimits(p, running)
			p = &merged
		}
		return nil
	}()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	claimed, committed, err := claim(tx, p, rate)
	if err != nil {
		return nil, err
	}
	if committed { // the claim wrote its budgets (claimBudget) and committed
		if rate != nil {
			rate.Taken(params, claimed) // RateWait
		}
		return claimed, nil
	}
	b = pgx.Batch{}
	if rate != nil {
		if args := rateWriteArgs(rate, params, claimed); args != nil {
			b.Queue(s.sql(sqlRateClaimWrite), args...)
		}
	}
	b.Queue("COMMIT")
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, fmt.Errorf("write rate budgets and commit: %w", err)
	}
	return claimed, nil
}

// claimSet is the SET list of every claim's UPDATE, given the statement's
// parameters (or format verbs) for the claim's time, the lease holder,
// the lease's end and its length: the job runs its next attempt, leased
// until the end given, or, when that is NULL, for the length given from
// the server's clock (now()), with no cancel request left from an earlier
// attempt.
func claimSet(now, leasedBy, leaseEnd, leaseLen string) string {
	return "state = 'running', attempt = j.attempt + 1, attempted_at = " + now + ",\n\tleased_by = " + leasedBy +
		", lease_expires_at = coalesce(" + leaseEnd + "::timestamptz, now() + " + leaseLen + "::interval),\n\tcancel_requested_at = NULL"
}
