package kilntest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testhook"
	"github.com/kilnjobs/kiln/store"
)

// RequireOpts are what an enqueued job must have besides its kind and
// args, for the Require functions. Every field's zero value means "any".
type RequireOpts struct {
	// Queue is the job's queue.
	Queue string
	// Priority is the job's priority, 1 to 4.
	Priority int
	// MaxAttempts is the job's attempt count.
	MaxAttempts int
	// State is the job's state (for example kiln.JobStateScheduled for a
	// job enqueued with RunIn).
	State kiln.JobState
	// ScheduledAt is when the job is due, compared to the microsecond
	// (stores keep microseconds).
	ScheduledAt time.Time
	// Tags are the job's tags, all of them, in order.
	Tags []string
	// Metadata holds keys the job's metadata must have, with these values;
	// the job may have other keys (Kiln adds its own, such as
	// kiln.MetadataParentIDs).
	Metadata map[string]string
}

// ExpectedJob is one job RequireManyEnqueued expects: its args (and so
// its kind) and, if not nil, what else it must have.
type ExpectedJob struct {
	Args kiln.JobArgs
	Opts *RequireOpts
}

// RequireEnqueued fails the test unless exactly one job of args' kind,
// with args equal to args (compared as JSON values: key order and number
// spelling do not matter) and the options opts sets (nil: any), is in c's
// store, in any state. The failure message shows what was wanted and a
// line diff against the closest jobs of the kind. It returns the job with
// its args decoded. Jobs are read through c (Client.JobList), as every
// process sharing the store sees them: a job enqueued in a transaction
// not yet committed is not there (see RequireEnqueuedTx).
func RequireEnqueued[T kiln.JobArgs](ctx context.Context, tb testing.TB, c *kiln.Client, args T, opts *RequireOpts) *kiln.Job[T] {
	tb.Helper()
	return requireEnqueued(ctx, tb, "RequireEnqueued", clientLister(c), args, opts)
}

// RequireEnqueuedTx is RequireEnqueued reading jobs in tx, a transaction
// of the caller's on c's store's database, so that it sees the jobs tx
// enqueued (kiln.EnqueueTx) before tx commits. TTx is the store's
// transaction type (pgx.Tx for store/postgres). It fails the test if the
// store cannot read in a TTx transaction (the SQLite store cannot).
func RequireEnqueuedTx[TTx any, T kiln.JobArgs](ctx context.Context, tb testing.TB, c *kiln.Client, tx TTx, args T, opts *RequireOpts) *kiln.Job[T] {
	tb.Helper()
	return requireEnqueued(ctx, tb, "RequireEnqueuedTx", txLister(tb, c, tx), args, opts)
}

func requireEnqueued[T kiln.JobArgs](ctx context.Context, tb testing.TB, name string, list lister, args T, opts *RequireOpts) *kiln.Job[T] {
	tb.Helper()
	exp, err := newExpectation(args, opts)
	if err != nil {
		tb.Fatalf("kilntest: %s: %v", name, err)
	}
	rows, err := listKinds(ctx, list, []string{exp.kind})
	if err != nil {
		tb.Fatalf("kilntest: %s: %v", name, err)
	}
	var matches []*kiln.JobRow
	for _, row := range rows {
		if exp.matches(row) {
			matches = append(matches, row)
		}
	}
	switch len(matches) {
	case 1:
	case 0:
		tb.Fatalf("kilntest: %s: no job of kind %q matches\n%s", name, exp.kind, exp.explain(rows))
	default:
		tb.Fatalf("kilntest: %s: %d jobs of kind %q match (IDs %s); want exactly one\nwant:\n%s",
			name, len(matches), exp.kind, ids(matches), indent(exp.text, "  "))
	}
	job := &kiln.Job[T]{JobRow: matches[0]}
	if err := json.Unmarshal(matches[0].Args, &job.Args); err != nil {
		tb.Fatalf("kilntest: %s: decode the args of job %d into %T: %v", name, matches[0].ID, job.Args, err)
	}
	return job
}

// RequireNotEnqueued fails the test if any job of args' kind with args
// equal to args and the options opts sets (nil: any) is in c's store, in
// any state. The failure message shows the jobs that match.
func RequireNotEnqueued(ctx context.Context, tb testing.TB, c *kiln.Client, args kiln.JobArgs, opts *RequireOpts) {
	tb.Helper()
	requireNotEnqueued(ctx, tb, "RequireNotEnqueued", clientLister(c), args, opts)
}

// RequireNotEnqueuedTx is RequireNotEnqueued reading jobs in tx (see
// RequireEnqueuedTx).
func RequireNotEnqueuedTx[TTx any](ctx context.Context, tb testing.TB, c *kiln.Client, tx TTx, args kiln.JobArgs, opts *RequireOpts) {
	tb.Helper()
	requireNotEnqueued(ctx, tb, "RequireNotEnqueuedTx", txLister(tb, c, tx), args, opts)
}

func requireNotEnqueued(ctx context.Context, tb testing.TB, name string, list lister, args kiln.JobArgs, opts *RequireOpts) {
	tb.Helper()
	exp, err := newExpectation(args, opts)
	if err != nil {
		tb.Fatalf("kilntest: %s: %v", name, err)
	}
	rows, err := listKinds(ctx, list, []string{exp.kind})
	if err != nil {
		tb.Fatalf("kilntest: %s: %v", name, err)
	}
	var found []string
	for _, row := range rows {
		if exp.matches(row) {
			found = append(found, fmt.Sprintf("job %d (%s):\n%s", row.ID, row.State, indent(exp.view(row), "  ")))
		}
	}
	if len(found) > 0 {
		tb.Fatalf("kilntest: %s: %d jobs of kind %q match; want none\n%s", name, len(found), exp.kind, strings.Join(found, "\n"))
	}
}

// RequireManyEnqueued fails the test unless the jobs in c's store of the
// kinds named in expected are, oldest first, exactly the expected jobs in
// order (args equal as in RequireEnqueued, options as each one's Opts
// sets). The failure message is a line diff of the expected jobs against
// those found. It returns the jobs found, oldest first.
func RequireManyEnqueued(ctx context.Context, tb testing.TB, c *kiln.Client, expected []ExpectedJob) []*kiln.JobRow {
	tb.Helper()
	return requireMany(ctx, tb, "RequireManyEnqueued", clientLister(c), expected)
}

// RequireManyEnqueuedTx is RequireManyEnqueued reading jobs in tx (see
// RequireEnqueuedTx).
func RequireManyEnqueuedTx[TTx any](ctx context.Context, tb testing.TB, c *kiln.Client, tx TTx, expected []ExpectedJob) []*kiln.JobRow {
	tb.Helper()
	return requireMany(ctx, tb, "RequireManyEnqueuedTx", txLister(tb, c, tx), expected)
}

func requireMany(ctx context.Context, tb testing.TB, name string, list lister, expected []ExpectedJob) []*kiln.JobRow {
	tb.Helper()
	if len(expected) == 0 {
		tb.Fatalf("kilntest: %s: no expected jobs", name)
	}
	exps := make([]*expectation, len(expected))
	var kinds []string
	for i, e := range expected {
		exp, err := newExpectation(e.Args, e.Opts)
		if err != nil {
			tb.Fatalf("kilntest: %s: expected job %d: %v", name, i, err)
		}
		exps[i] = exp
		if !slices.Contains(kinds, exp.kind) {
			kinds = append(kinds, exp.kind)
		}
	}
	rows, err := listKinds(ctx, list, kinds)
	if err != nil {
		tb.Fatalf("kilntest: %s: %v", name, err)
	}
	ok := len(rows) == len(exps)
	for i := 0; ok && i < len(rows); i++ {
		ok = exps[i].matches(rows[i])
	}
	if ok {
		return rows
	}
	// Each found job is shown with the fields its expected job compares
	// (the last expected job's for extra ones).
	var want, got []string
	for i, e := range exps {
		want = append(want, fmt.Sprintf("[%d]\n%s", i, e.text))
	}
	for i, row := range rows {
		e := exps[min(i, len(exps)-1)]
		if row.Kind != e.kind {
			e = &expectation{kind: row.Kind, opts: e.opts}
		}
		got = append(got, fmt.Sprintf("[%d]\n%s", i, e.view(row)))
	}
	tb.Fatalf("kilntest: %s: want %d jobs of kinds %q, found %d that differ (- want, + found, oldest first):\n%s",
		name, len(exps), kinds, len(rows), lineDiff(strings.Join(want, "\n"), strings.Join(got, "\n"), "  "))
	return nil
}

// ListEnqueued returns the jobs of T's kind in c's store that have the
// options opts sets (nil: any), oldest first, their args decoded into T,
// for assertions the Require functions do not make. It fails the test if
// the jobs cannot be read or decoded.
func ListEnqueued[T kiln.JobArgs](ctx context.Context, tb testing.TB, c *kiln.Client, opts *RequireOpts) []*kiln.Job[T] {
	tb.Helper()
	var zero T
	exp, err := newExpectation(kiln.RawArgs{JobKind: zero.Kind()}, opts)
	if err != nil {
		tb.Fatalf("kilntest: ListEnqueued: %v", err)
	}
	exp.anyArgs = true
	rows, err := listKinds(ctx, clientLister(c), []string{exp.kind})
	if err != nil {
		tb.Fatalf("kilntest: ListEnqueued: %v", err)
	}
	var jobs []*kiln.Job[T]
	for _, row := range rows {
		if !exp.matches(row) {
			continue
		}
		job := &kiln.Job[T]{JobRow: row}
		if err := json.Unmarshal(row.Args, &job.Args); err != nil {
			tb.Fatalf("kilntest: ListEnqueued: decode the args of job %d into %T: %v", row.ID, job.Args, err)
		}
		jobs = append(jobs, job)
	}
	return jobs
}

// lister reads one page of jobs.
type lister func(ctx context.Context, p *kiln.JobListParams) (rows []*kiln.JobRow, next int64, err error)

func clientLister(c *kiln.Client) lister {
	return func(ctx context.Context, p *kiln.JobListParams) ([]*kiln.JobRow, int64, error) {
		res, err := c.JobList(ctx, p)
		if err != nil {
			return nil, 0, err
		}
		return res.Jobs, res.NextCursor, nil
	}
}

func txLister[TTx any](tb testing.TB, c *kiln.Client, tx TTx) lister {
	tb.Helper()
	st := testhook.Store(c)
	ts, ok := st.(store.TxJobLister[TTx])
	if !ok {
		tb.Fatalf("kilntest: the store (%T) cannot read jobs in a %T transaction: %v", st, tx, errors.ErrUnsupported)
	}
	return func(ctx context.Context, p *kiln.JobListParams) ([]*kiln.JobRow, int64, error) {
		rows, err := ts.JobListTx(ctx, tx, (*store.JobListParams)(p))
		if err != nil {
			return nil, 0, err
		}
		var next int64
		if len(rows) == p.Limit {
			next = rows[len(rows)-1].ID
		}
		return rows, next, nil
	}
}

// listKinds returns every job of kinds, oldest first.
func listKinds(ctx context.Context, list lister, kinds []string) ([]*kiln.JobRow, error) {
	var all []*kiln.JobRow
	p := &kiln.JobListParams{Kinds: kinds, OrderAsc: true, Limit: kiln.MaxJobListLimit}
	for {
		rows, next, err := list(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("list jobs of kinds %q: %w", kinds, err)
		}
		all = append(all, rows...)
		if next == 0 {
			return all, nil
		}
		p.Cursor = next
	}
}

// expectation is one expected job: its kind, its args as normalized JSON
// (see normalJSON), and its options.
type expectation struct {
	kind    string
	args    string
	anyArgs bool // ListEnqueued: args are not compared
	opts    *RequireOpts
	text    string // view of the expected job
	// optsText is the part of text that shows the options compared.
	optsText string
}

func newExpectation(args kiln.JobArgs, opts *RequireOpts) (*expectation, error) {
	if args == nil {
		return nil, errors.New("nil args")
	}
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("encode the expected args (%T): %w", args, err)
	}
	norm, err := normalJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("the expected args (%T): %w", args, err)
	}
	e := &expectation{kind: args.Kind(), args: norm, opts: opts}
	if e.opts == nil {
		e.opts = &RequireOpts{}
	}
	o := e.opts
	e.optsText = e.showOpts(shownOpts{queue: o.Queue, priority: o.Priority, maxAttempts: o.MaxAttempts, state: o.State,
		scheduledAt: o.ScheduledAt.UTC().Truncate(time.Microsecond), tags: o.Tags,
		metadata: func(k string) (string, bool) { return o.Metadata[k], true }})
	e.text = fmt.Sprintf("kind: %s\nargs: %s%s", e.kind, e.args, e.optsText)
	return e, nil
}

// view shows row with the fields e compares, as e.text shows e.
func (e *expectation) view(row *kiln.JobRow) string {
	return fmt.Sprintf("kind: %s\nargs: %s%s", row.Kind, rowArgs(row), e.optsView(row))
}

// rowArgs returns row's args as normalJSON does, or as stored if they are
// not JSON.
func rowArgs(row *kiln.JobRow) string {
	args, err := normalJSON(row.Args)
	if err != nil {
		return string(row.Args)
	}
	return args
}

// optsView shows the options of row that e compares, as e.optsText shows
// e's.
func (e *expectation) optsView(row *kiln.JobRow) string {
	return e.showOpts(shownOpts{queue: row.Queue, priority: row.Priority, maxAttempts: row.MaxAttempts, state: row.State,
		scheduledAt: row.ScheduledAt.UTC(), tags: row.Tags, metadata: row.MetadataValue})
}

// shownOpts holds the values of the options showOpts shows: an
// expectation's or a job row's.
type shownOpts struct {
	queue       string
	priority    int
	maxAttempts int
	state       kiln.JobState
	scheduledAt time.Time
	tags        []string
	metadata    func(key string) (string, bool)
}

// showOpts shows v's values of the options e compares (those e.opts sets),
// one per line, each line starting with a newline; nil tags show as none.
func (e *expectation) showOpts(v shownOpts) string {
	var b strings.Builder
	o := e.opts
	if o.Queue != "" {
		fmt.Fprintf(&b, "\nqueue: %s", v.queue)
	}
	if o.Priority != 0 {
		fmt.Fprintf(&b, "\npriority: %d", v.priority)
	}
	if o.MaxAttempts != 0 {
		fmt.Fprintf(&b, "\nmax_attempts: %d", v.maxAttempts)
	}
	if o.State != "" {
		fmt.Fprintf(&b, "\nstate: %s", v.state)
	}
	if !o.ScheduledAt.IsZero() {
		fmt.Fprintf(&b, "\nscheduled_at: %s", v.scheduledAt.Format(time.RFC3339Nano))
	}
	if o.Tags != nil {
		tags := v.tags
		if tags == nil {
			tags = []string{}
		}
		fmt.Fprintf(&b, "\ntags: %q", tags)
	}
	for _, k := range sortedKeys(o.Metadata) {
		if val, ok := v.metadata(k); ok {
			fmt.Fprintf(&b, "\nmetadata[%q]: %q", k, val)
		} else {
			fmt.Fprintf(&b, "\nmetadata[%q]: (absent)", k)
		}
	}
	return b.String()
}

// matches reports whether row is the job e expects.
func (e *expectation) matches(row *kiln.JobRow) bool {
	if row.Kind != e.kind {
		return false
	}
	return (e.anyArgs || rowArgs(row) == e.args) && e.optsView(row) == e.optsText
}

// explain shows want and, for the jobs of its kind closest to it (fewest
// differing lines, up to 3), a diff of each.
func (e *expectation) explain(rows []*kiln.JobRow) string {
	var b strings.Builder
	fmt.Fprintf(&b, "want:\n%s\n", indent(e.text, "  "))
	if len(rows) == 0 {
		fmt.Fprintf(&b, "no job of kind %q is in the store", e.kind)
		return b.String()
	}
	type candidate struct {
		row  *kiln.JobRow
		diff string
		n    int
	}
	cands := make([]candidate, len(rows))
	for i, row := range rows {
		d := lineDiff(e.text, e.view(row), "  ")
		n := strings.Count(d, "\n  - ") + strings.Count(d, "\n  + ")
		if strings.HasPrefix(d, "  - ") || strings.HasPrefix(d, "  + ") {
			n++
		}
		cands[i] = candidate{row, d, n}
	}
	slices.SortStableFunc(cands, func(a, b candidate) int { return a.n - b.n })
	fmt.Fprintf(&b, "%d jobs of kind %q differ; the closest (- want, + found):", len(rows), e.kind)
	for _, c := range cands[:min(3, len(cands))] {
		fmt.Fprintf(&b, "\njob %d (%s):\n%s", c.row.ID, c.row.State, strings.TrimSuffix(c.diff, "\n"))
	}
	return b.String()
}

// normalJSON returns raw indented, with object keys sorted and numbers
// spelled alike whatever the store did to them (PostgreSQL's jsonb
// reorders keys and rewrites 1e+06 as 1000000).
func normalJSON(raw []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", fmt.Errorf("not JSON: %w", err)
	}
	out, err := json.MarshalIndent(normalNumbers(v), "", "  ")
	if err != nil {
		return "", err
	}
	return string(out), nil
}

func normalNumbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return json.Number(strconv.FormatInt(i, 10))
		}
		if f, err := v.Float64(); err == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		}
		return v
	case map[string]any:
		for k, x := range v {
			v[k] = normalNumbers(x)
		}
	case []any:
		for i, x := range v {
			v[i] = normalNumbers(x)
		}
	}
	return v
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func ids(rows []*kiln.JobRow) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = strconv.FormatInt(r.ID, 10)
	}
	return strings.Join(s, ", ")
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
