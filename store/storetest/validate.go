package storetest

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// wantValidationError fails t unless err wraps a *kilntype.ValidationError
// for field.
func wantValidationError(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ve *kilntype.ValidationError
	switch {
	case err == nil:
		t.Errorf("%s: no error, want a validation error for %q", what, field)
	case !errors.As(err, &ve):
		t.Errorf("%s: error %q is not a *kilntype.ValidationError (want one for %q)", what, err, field)
	case ve.Field != field:
		t.Errorf("%s: error %q names field %q, want %q", what, err, ve.Field, field)
	}
}

// badJobValues are insert params no store may keep, and the field each
// error must name: out-of-range integers (PostgreSQL's integer columns
// would refuse or truncate them), text and JSON that PostgreSQL refuses or
// that SQLite would keep as bytes no strict JSON reader accepts.
var badJobValues = []struct {
	name  string
	mod   jobMod
	field string
}{
	{"MaxAttempts2^31", wideJobMod(two31, maxAttempts), "max_attempts"},
	{"MaxAttempts2^32+1", wideJobMod(two32p1, maxAttempts), "max_attempts"},
	{"MaxAttempts2^63-1", wideJobMod(math.MaxInt64, maxAttempts), "max_attempts"},
	{"MaxAttempts0", maxAttempts(0), "max_attempts"},
	{"MaxAttemptsNegative", maxAttempts(-1), "max_attempts"},
	{"Priority0", priority(0), "priority"},
	{"Priority5", priority(5), "priority"},
	{"Priority2^32+1", wideJobMod(two32p1, priority), "priority"},
	{"ArgsNUL", args(`{"name":"a\u0000b"}`), "args"},
	{"ArgsNULKey", args(`{"a\u0000":1}`), "args"},
	{"ArgsInvalidUTF8", args("{\"name\":\"\xff\"}"), "args"},
	{"ArgsLoneHighSurrogate", args(`{"name":"\ud800"}`), "args"},
	{"ArgsLoneLowSurrogate", args(`{"name":"\udc00x"}`), "args"},
	{"ArgsHighSurrogateThenText", args(`["\ud83dabcdefgh"]`), "args"},
	{"ArgsNumberOverflow", args(`[1e400]`), "args"},
	{"ArgsNumberUnderflow", args(`[1e-400]`), "args"},
	{"ArgsZeroHugeScale", args(`[0e-20000]`), "args"},
	{"ArgsNumberTooLong", args(`[1` + strings.Repeat("0", store.MaxJSONNumberLength) + `]`), "args"},
	{"ArgsNotJSON", args(`{"name":`), "args"},
	{"ArgsNestedTooDeep", args(nested(store.MaxJSONDepth + 1)), "args"},
	{"MetadataNestedTooDeep", metadata(`{"a":` + nested(store.MaxJSONDepth) + `}`), "metadata"},
	{"MetadataNUL", metadata(`{"trace":"\u0000"}`), "metadata"},
	{"MetadataInvalidUTF8", metadata("{\"trace\":\"\xc3\x28\"}"), "metadata"},
	{"MetadataNotObject", metadata(`["a"]`), "metadata"},
	{"TagNUL", tags("ok", "a\x00b"), "tags[1]"},
	{"TagInvalidUTF8", tags("\xff"), "tags[0]"},
	{"KindNUL", kind("no\x00op"), "kind"},
	{"QueueInvalidUTF8", queue("q\xfe"), "queue"},
	{"UniqueKeyNUL", uniqueKey("k\x00"), "unique_key"},
	{"PartitionNUL", partition("tenant\x00"), "partition"},
	{"PartitionInvalidUTF8", partition("t\xff"), "partition"},
	{"PartitionTooLong", partition(strings.Repeat("é", (kilntype.MaxPartitionKeyBytes+1)/2)), "partition"},
}

// Integers above math.MaxInt32, which an int holds only where it is 64 bits
// wide (strconv.IntSize): on 386 and arm no caller can pass them, so the
// cases made of them are skipped there (a nil mod).
const (
	two31   int64 = 1 << 31
	two32p1 int64 = 1<<32 + 1
)

// skipWide reports the case name as a skipped subtest: its value is one
// that an int of 32 bits cannot hold (a nil mod).
func skipWide(t *testing.T, name string) {
	t.Run(name, func(t *testing.T) { t.Skip("an int of 32 bits cannot hold this value") })
}

// wideJobMod returns mod(v), or nil where an int cannot hold v.
func wideJobMod(v int64, mod func(int) jobMod) jobMod {
	if int64(int(v)) != v {
		return nil
	}
	return mod(int(v))
}

// wideRecurringMod returns a mod that sets v through set, or nil where an
// int cannot hold v.
func wideRecurringMod(v int64, set func(r *kilntype.RecurringRow, v int)) func(*kilntype.RecurringRow) {
	if int64(int(v)) != v {
		return nil
	}
	return func(r *kilntype.RecurringRow) { set(r, int(v)) }
}

// nested returns n arrays nested in each other, the innermost holding an
// object: JSON nested n+1 deep.
func nested(n int) string {
	return strings.Repeat("[", n-1) + `[{"x":"]"}` + strings.Repeat("]", n)
}

func args(s string) jobMod { return func(p *store.JobInsertParams) { p.Args = json.RawMessage(s) } }
func metadata(s string) jobMod {
	return func(p *store.JobInsertParams) { p.Metadata = json.RawMessage(s) }
}
func tags(t ...string) jobMod { return func(p *store.JobInsertParams) { p.Tags = t } }

func testValidation(t *testing.T, newStore NewStoreFunc) {
	t.Run("InsertRefusesWhatAStoreCannotKeep", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, tc := range badJobValues {
			if tc.mod == nil {
				skipWide(t, tc.name)
				continue
			}
			// With a valid job before it: the call stores all or nothing.
			_, err := f.s.JobInsertMany(f.ctx, []*store.JobInsertParams{params(), params(tc.mod)})
			wantValidationError(t, tc.name, err, tc.field)
		}
		if jobs := f.list(&store.JobListParams{}); len(jobs) != 0 {
			t.Errorf("%d jobs stored by refused inserts, want none", len(jobs))
		}
	})

	t.Run("InsertKeepsEdgeValuesExactly", func(t *testing.T) {
		f := newFixture(t, newStore)
		// The extremes of the documented ranges, and JSON that looks like
		// what is refused but is not: an escaped backslash before u0000, a
		// surrogate pair, control characters other than NUL, the largest
		// and smallest float64.
		edge := `{"text":"\\u0000 \ud83d\ude00 \u0001\t","big":1.7976931348623157e308,"tiny":5e-324,"zero":0e-400,"n":-12345678901234567890}`
		p := params(maxAttempts(kilntype.MaxAttemptsLimit), priority(kilntype.PriorityLowest), args(edge),
			metadata(`{"note":"\u0001 é"}`), tags("é", "\t"))
		job := f.insertMany(p)[0].Job
		for _, j := range []*kilntype.JobRow{job, f.get(job.ID)} {
			if j.MaxAttempts != kilntype.MaxAttemptsLimit || j.Priority != kilntype.PriorityLowest {
				t.Errorf("MaxAttempts, Priority = %d, %d; want %d, %d", j.MaxAttempts, j.Priority, kilntype.MaxAttemptsLimit, kilntype.PriorityLowest)
			}
			wantJSON(t, "Args", j.Args, []byte(edge))
			wantJSON(t, "Metadata", j.Metadata, []byte(`{"note":"\u0001 é"}`))
			if len(j.Tags) != 2 || j.Tags[0] != "é" || j.Tags[1] != "\t" {
				t.Errorf("Tags = %q, want [é \\t]", j.Tags)
			}
		}
	})

	// JSON nested MaxJSONDepth deep is kept, and reads back the same.
	t.Run("InsertKeepsTheDeepestJSON", func(t *testing.T) {
		f := newFixture(t, newStore)
		deep := nested(store.MaxJSONDepth - 1)
		job := f.insertMany(params(args(deep)))[0].Job
		wantJSON(t, "Args", f.get(job.ID).Args, []byte(deep))
	})

	t.Run("RecurringUpsertRefusesWhatAStoreCannotKeep", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, tc := range []struct {
			name  string
			mod   func(*kilntype.RecurringRow)
			field string
		}{
			{"MaxAttempts2^31", wideRecurringMod(two31, func(r *kilntype.RecurringRow, v int) { r.MaxAttempts = v }), "max_attempts"},
			{"MaxAttempts2^32+1", wideRecurringMod(two32p1, func(r *kilntype.RecurringRow, v int) { r.MaxAttempts = v }), "max_attempts"},
			{"Priority9", func(r *kilntype.RecurringRow) { r.Priority = 9 }, "priority"},
			{"MisfireMaxOverLimit", func(r *kilntype.RecurringRow) { r.MisfireMax = kilntype.MisfireMaxLimit + 1 }, "misfire_max"},
			{"MisfireMax2^31", wideRecurringMod(two31, func(r *kilntype.RecurringRow, v int) { r.MisfireMax = v }), "misfire_max"},
			{"IDNUL", func(r *kilntype.RecurringRow) { r.ID = "a\x00" }, "id"},
			{"ArgsNUL", func(r *kilntype.RecurringRow) { r.Args = json.RawMessage(`{"a":"\u0000"}`) }, "args"},
			{"MetadataInvalidUTF8", func(r *kilntype.RecurringRow) { r.Metadata = json.RawMessage("{\"a\":\"\xff\"}") }, "metadata"},
			{"TagNUL", func(r *kilntype.RecurringRow) { r.Tags = []string{"\x00"} }, "tags[0]"},
		} {
			if tc.mod == nil {
				skipWide(t, tc.name)
				continue
			}
			r := recurringRow("entry")
			tc.mod(r)
			_, _, err := f.s.RecurringUpsert(f.ctx, &store.RecurringUpsertParams{Row: r, Now: base})
			wantValidationError(t, tc.name, err, tc.field)
		}
		if rows := f.listRecurring("", 100); len(rows) != 0 {
			t.Errorf("%d entries stored by refused upserts, want none", len(rows))
		}
		row := f.recurring("edge", func(r *kilntype.RecurringRow) {
			r.MaxAttempts, r.MisfireMax = kilntype.MaxAttemptsLimit, kilntype.MisfireMaxLimit
		})
		if got := f.getRecurring("edge"); got.MaxAttempts != kilntype.MaxAttemptsLimit || got.MisfireMax != kilntype.MisfireMaxLimit || row.MaxAttempts != got.MaxAttempts {
			t.Errorf("MaxAttempts, MisfireMax = %d, %d; want %d, %d", got.MaxAttempts, got.MisfireMax, kilntype.MaxAttemptsLimit, kilntype.MisfireMaxLimit)
		}
	})

	t.Run("FinishRecordsWorkerTextWithNULAndInvalidUTF8", func(t *testing.T) {
		// A worker's error is recorded, not refused: an outcome that cannot
		// be written would leave its job to run again (PostgreSQL refused
		// the whole batch of outcomes).
		f := newFixture(t, newStore)
		bad, other := f.running(), f.running()
		p := finishParams(bad, kilntype.JobStateRetryable, base.Add(time.Second))
		p.Attempt.Error, p.Attempt.Trace = "bad \x00 byte \xff", "trace\x00"
		wantApplied(t, f.finish(p, finishParams(other, kilntype.JobStateCompleted, base.Add(time.Second))), bad.ID, other.ID)
		const want = "bad \uFFFD byte \uFFFD"
		if got := f.get(bad.ID); got.State != kilntype.JobStateRetryable || got.LastError != want {
			t.Errorf("job: %s, LastError %q; want retryable, %q", got.State, got.LastError, want)
		}
		if as := f.attempts(bad.ID); len(as) != 1 || as[0].Error != want || as[0].Trace != "trace\uFFFD" {
			t.Errorf("attempts %+v; want one with Error %q and Trace %q", as, want, "trace\uFFFD")
		}
		wantState(t, f.get(other.ID), kilntype.JobStateCompleted)

		if err := f.s.ServiceReport(f.ctx, &store.ServiceReportParams{Row: &kilntype.ServiceRow{Name: "svc", ProcessID: procA, State: "failed",
			LastError: "oops\x00\xfe", UpdatedAt: base}}); err != nil {
			t.Fatalf("ServiceReport: %v", err)
		}
		rows, err := f.s.ServiceList(f.ctx)
		if err != nil || len(rows) != 1 || rows[0].LastError != "oops\uFFFD\uFFFD" {
			t.Errorf("ServiceList = %+v, %v; want LastError %q", rows, err, "oops\uFFFD\uFFFD")
		}
	})

	t.Run("RecurringEnqueueRefusesWhatAStoreCannotKeep", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("entry")
		bad := wideJobMod(two31, maxAttempts)
		if bad == nil {
			bad = maxAttempts(-1) // where a 32-bit int cannot hold 2^31
		}
		_, err := f.s.RecurringEnqueue(f.ctx, enqueueParams("entry", kilntype.OverlapAllow,
			store.RecurringOccurrenceInsert{At: minutes(1), Job: params()},
			store.RecurringOccurrenceInsert{At: minutes(2), Job: params(bad)}))
		wantValidationError(t, "RecurringEnqueue", err, "max_attempts")
		if jobs := f.list(&store.JobListParams{}); len(jobs) != 0 {
			t.Errorf("%d jobs stored by a refused enqueue, want none", len(jobs))
		}
		if occ := f.occurrences("entry", 10); len(occ) != 0 {
			t.Errorf("%d occurrences stored by a refused enqueue, want none", len(occ))
		}
	})
}
