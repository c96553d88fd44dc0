package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// testAudit checks the audit log: what AuditInsert keeps, AuditList's
// order, filters and pages, and AuditDeleteOld by age and in batches.
func testAudit(t *testing.T, newStore NewStoreFunc) {
	insert := func(f *fixture, e kilntype.AuditEntry) int64 {
		f.t.Helper()
		id, err := f.s.AuditInsert(f.ctx, &store.AuditInsertParams{Entry: &e})
		if err != nil {
			f.t.Fatal(err)
		}
		return id
	}
	list := func(f *fixture, p store.AuditListParams) []*kilntype.AuditEntry {
		f.t.Helper()
		got, err := f.s.AuditList(f.ctx, &p)
		if err != nil {
			f.t.Fatal(err)
		}
		if got == nil {
			f.t.Fatal("AuditList returned nil, want an empty slice")
		}
		return got
	}
	ids := func(es []*kilntype.AuditEntry) []int64 {
		out := []int64{}
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}

	t.Run("InTransaction", func(t *testing.T) {
		f := newFixture(t, newStore)
		entry := func(action string, detail string) store.AuditBuild {
			return func(result any) (*kilntype.AuditEntry, error) {
				row, ok := result.(*kilntype.JobRow)
				if !ok {
					return nil, fmt.Errorf("result %T, want a job row", result)
				}
				e := &kilntype.AuditEntry{At: base, Actor: "ops", Action: action, Target: strconv.FormatInt(row.ID, 10)}
				if detail != "" {
					e.Detail = json.RawMessage(detail)
				}
				return e, nil
			}
		}
		refused := func(result any) (*kilntype.AuditEntry, error) { return nil, errors.New("refused") }
		job := f.insert()
		target := strconv.FormatInt(job.ID, 10)
		// An entry the store refuses (detail not an object), or that cannot
		// be built, fails the change: the job is as it was, no entry.
		for name, build := range map[string]store.AuditBuild{"bad detail": entry("job.cancel", `[1]`), "build error": refused} {
			if _, err := f.s.JobCancel(store.WithAudit(f.ctx, build), &store.JobCancelParams{ID: job.ID, Now: base}); err == nil {
				t.Errorf("%s: JobCancel succeeded", name)
			}
			if _, err := f.s.JobDelete(store.WithAudit(f.ctx, build), &store.JobDeleteParams{ID: job.ID}); err == nil {
				t.Errorf("%s: JobDelete succeeded", name)
			}
		}
		if got := f.get(job.ID); got.State != kilntype.JobStateAvailable {
			t.Fatalf("after refused entries the job is %s, want available", got.State)
		}
		if got := list(f, store.AuditListParams{}); len(got) != 0 {
			t.Fatalf("refused changes left entries: %+v", got)
		}
		// Each change with its entry, the entry built from its result.
		if _, err := f.s.JobCancel(store.WithAudit(f.ctx, entry("job.cancel", `{"n":1}`)), &store.JobCancelParams{ID: job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.JobRetry(store.WithAudit(f.ctx, entry("job.retry", "")), &store.JobRetryParams{ID: job.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		// A retry that fails (of a running job): no entry.
		running := f.running()
		if _, err := f.s.JobRetry(store.WithAudit(f.ctx, entry("job.retry", "")), &store.JobRetryParams{ID: running.ID, Now: base}); err == nil {
			t.Error("JobRetry of a running job succeeded")
		}
		if _, err := f.s.JobDelete(store.WithAudit(f.ctx, entry("job.delete", "")), &store.JobDeleteParams{ID: job.ID}); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range list(f, store.AuditListParams{}) {
			got = append(got, e.Action+" "+e.Target+" "+string(e.Detail))
		}
		want := []string{"job.delete " + target + " ", "job.retry " + target + " ", "job.cancel " + target + ` {"n":1}`}
		if !slices.Equal(got, want) {
			t.Errorf("entries %q, want %q", got, want)
		}
		// Without WithAudit: no entry.
		other := f.insert()
		if _, err := f.s.JobCancel(f.ctx, &store.JobCancelParams{ID: other.ID, Now: base}); err != nil {
			t.Fatal(err)
		}
		if n := len(list(f, store.AuditListParams{})); n != 3 {
			t.Errorf("%d entries after a change without WithAudit, want 3", n)
		}
	})
	t.Run("InsertList", func(t *testing.T) {
		f := newFixture(t, newStore)
		if got := list(f, store.AuditListParams{}); len(got) != 0 {
			t.Fatalf("empty log listed %d entries", len(got))
		}
		at := base.Add(1500 * time.Nanosecond) // cut to the microsecond
		detail := json.RawMessage(`{"kind":"email","queue":"default","n":[1,2]}`)
		id := insert(f, kilntype.AuditEntry{ID: 99, At: at.In(time.FixedZone("x", 3600)), Actor: "ops", Role: "operator",
			Action: "job.retry", Target: "42", Detail: detail, Addr: "192.0.2.1"})
		refused := insert(f, kilntype.AuditEntry{At: at.Add(time.Second), Actor: "bad\x00\xffname", Role: "viewer",
			Action: "request.refused", Detail: json.RawMessage(`{"method":"POST"}`), Refused: true})
		if id <= 0 || refused <= id {
			t.Fatalf("IDs %d then %d, want increasing from 1", id, refused)
		}
		got := list(f, store.AuditListParams{})
		if len(got) != 2 || got[0].ID != refused || got[1].ID != id {
			t.Fatalf("listed %v, want [%d %d]", ids(got), refused, id)
		}
		e := got[1]
		if !e.At.Equal(base.Add(time.Microsecond)) || e.At.Location() != time.UTC || e.Actor != "ops" || e.Role != "operator" ||
			e.Action != "job.retry" || e.Target != "42" || string(e.Detail) != string(detail) || e.Addr != "192.0.2.1" || e.Refused {
			t.Errorf("stored %+v (detail %s)", e, e.Detail)
		}
		r := got[0]
		if r.Actor != "bad\uFFFD\uFFFDname" || !r.Refused || r.Target != "" || r.Addr != "" {
			t.Errorf("refused entry %+v, want its actor cleaned and Refused", r)
		}
		// No detail stays none.
		none := insert(f, kilntype.AuditEntry{At: base, Actor: "local", Action: "queue.pause", Target: "q"})
		if got := list(f, store.AuditListParams{Limit: 1}); len(got) != 1 || got[0].ID != none || got[0].Detail != nil {
			t.Errorf("entry without detail listed as %+v", got)
		}
	})

	t.Run("Bounds", func(t *testing.T) {
		f := newFixture(t, newStore)
		for _, d := range []string{`[1]`, `"x"`, `{"a":`, `{"a":"\u0000"}`,
			`{"a":"` + strings.Repeat("x", kilntype.MaxAuditDetailBytes) + `"}`} {
			_, err := f.s.AuditInsert(f.ctx, &store.AuditInsertParams{Entry: &kilntype.AuditEntry{
				At: base, Actor: "a", Action: "x", Detail: json.RawMessage(d)}})
			var ve *kilntype.ValidationError
			if !errors.As(err, &ve) || ve.Field != "detail" {
				t.Errorf("detail %.40s: err %v, want a ValidationError of detail", d, err)
			}
		}
		long := strings.Repeat("é", kilntype.MaxAuditTargetBytes) // 2 bytes each
		insert(f, kilntype.AuditEntry{At: base, Actor: strings.Repeat("a", 1000), Action: "x", Target: long})
		got := list(f, store.AuditListParams{})
		if len(got) != 1 || len(got[0].Actor) != kilntype.MaxAuditActorBytes ||
			got[0].Target != long[:kilntype.MaxAuditTargetBytes] {
			t.Errorf("long fields stored as actor %d bytes, target %d bytes", len(got[0].Actor), len(got[0].Target))
		}
	})

	t.Run("Filters", func(t *testing.T) {
		f := newFixture(t, newStore)
		var all []int64 // oldest first
		for i := range 10 {
			actor := []string{"ann", "bob"}[i%2]
			action := []string{"job.retry", "job.delete", "queue.pause"}[i%3]
			all = append(all, insert(f, kilntype.AuditEntry{At: base.Add(time.Duration(i) * time.Minute),
				Actor: actor, Action: action, Target: "t"}))
		}
		pick := func(is ...int) []int64 {
			out := []int64{}
			for _, i := range is {
				out = append(out, all[i])
			}
			return out
		}
		check := func(name string, p store.AuditListParams, want []int64) {
			t.Helper()
			if got := ids(list(f, p)); !equalIDs(got, want) {
				t.Errorf("%s: listed %v, want %v", name, got, want)
			}
		}
		check("actor", store.AuditListParams{Actor: "ann"}, pick(8, 6, 4, 2, 0))
		check("action", store.AuditListParams{Action: "job.delete"}, pick(7, 4, 1))
		check("actor and action", store.AuditListParams{Actor: "bob", Action: "job.retry"}, pick(9, 3))
		check("since", store.AuditListParams{Since: base.Add(7 * time.Minute)}, pick(9, 8, 7))
		check("until", store.AuditListParams{Until: base.Add(2 * time.Minute)}, pick(1, 0))
		check("range", store.AuditListParams{Since: base.Add(3 * time.Minute), Until: base.Add(5 * time.Minute)}, pick(4, 3))
		check("unknown actor", store.AuditListParams{Actor: "eve"}, []int64{})
		// Keyset pages of 3.
		var paged []int64
		cursor := int64(0)
		for {
			page := list(f, store.AuditListParams{Cursor: cursor, Limit: 3})
			if len(page) == 0 {
				break
			}
			paged = append(paged, ids(page)...)
			cursor = page[len(page)-1].ID
		}
		check("all", store.AuditListParams{}, pick(9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
		if !equalIDs(paged, pick(9, 8, 7, 6, 5, 4, 3, 2, 1, 0)) {
			t.Errorf("pages of 3 listed %v", paged)
		}
		check("page of ann", store.AuditListParams{Actor: "ann", Cursor: all[6], Limit: 2}, pick(4, 2))
	})

	t.Run("DeleteOld", func(t *testing.T) {
		f := newFixture(t, newStore)
		var all []int64
		for i := range 5 {
			all = append(all, insert(f, kilntype.AuditEntry{At: base.Add(time.Duration(i) * time.Hour), Actor: "a", Action: "x"}))
		}
		n, err := f.s.AuditDeleteOld(f.ctx, &store.AuditDeleteOldParams{Before: base.Add(3 * time.Hour), Max: 2})
		if err != nil || n != 2 {
			t.Fatalf("first batch deleted %d (%v), want 2", n, err)
		}
		if got := ids(list(f, store.AuditListParams{})); !equalIDs(got, []int64{all[4], all[3], all[2]}) {
			t.Errorf("after a batch of 2: %v, want the oldest two gone", got)
		}
		n, err = f.s.AuditDeleteOld(f.ctx, &store.AuditDeleteOldParams{Before: base.Add(3 * time.Hour), Max: 10})
		if err != nil || n != 1 {
			t.Fatalf("second batch deleted %d (%v), want 1 (the cut-off is excluded)", n, err)
		}
		if got := ids(list(f, store.AuditListParams{})); !equalIDs(got, []int64{all[4], all[3]}) {
			t.Errorf("after the cut-off: %v", got)
		}
	})
}

// equalIDs reports whether a and b hold the same IDs in the same order.
func equalIDs(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
