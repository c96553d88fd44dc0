package dashboard_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// fieldErrors returns the field errors a form page shows, by field ID.
func fieldErrors(body string) map[string]string {
	// Each field's error follows its input inside <div class="field">.
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<label for="f-([a-z]+)">.*?(?:<p class="field-error" role="alert">(.*?)</p>|</div>)`).FindAllStringSubmatch(body, -1) {
		if m[2] != "" {
			out[m[1]] = m[2]
		}
	}
	return out
}

// TestRecurringFormValidation submits bad values and checks that each
// error is shown next to its field and nothing is saved.
func TestRecurringFormValidation(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct {
		name  string
		form  map[string][]string
		field string
		want  string
	}{
		{"no id", map[string][]string{"kind": {"test.ok"}, "schedule": {"@hourly"}}, "id", "1 to 200 bytes"},
		{"unknown kind", map[string][]string{"id": {"a"}, "kind": {"nope"}, "schedule": {"@hourly"}}, "kind", "No worker"},
		{"bad json", map[string][]string{"id": {"a"}, "kind": {"test.ok"}, "args": {`{"text": }`}, "schedule": {"@hourly"}}, "args", "invalid JSON"},
		{"args of the wrong type", map[string][]string{"id": {"a"}, "kind": {"test.ok"}, "args": {`{"text": 5}`}, "schedule": {"@hourly"}}, "args", "text"},
		{"bad cron", map[string][]string{"id": {"a"}, "kind": {"test.ok"}, "schedule": {"61 * * * *"}}, "schedule", "minute"},
		{"bad zone", map[string][]string{"id": {"a"}, "kind": {"test.ok"}, "schedule": {"@hourly"}, "time_zone": {"Mars/Olympus"}}, "tz", "Unknown time zone"},
		{"bad priority", map[string][]string{"id": {"a"}, "kind": {"test.ok"}, "schedule": {"@hourly"}, "priority": {"9"}}, "priority", "1 (first) to 4"},
	} {
		resp := e.post(t, "/recurring/new", tc.form)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d; want 400", tc.name, resp.StatusCode)
			continue
		}
		errs := fieldErrors(body)
		if !strings.Contains(errs[tc.field], tc.want) {
			t.Errorf("%s: field errors %q; want %q on %s", tc.name, errs, tc.want, tc.field)
		}
		// The typed values stay in the form.
		if v := tc.form["schedule"]; len(v) > 0 && !strings.Contains(body, `value="`+v[0]+`"`) {
			t.Errorf("%s: the form lost the schedule %q", tc.name, v[0])
		}
	}
	rows, err := e.client.RecurringList(context.Background(), "", 10)
	if err != nil || len(rows) != 0 {
		t.Fatalf("entries after invalid forms: %v, %v", rows, err)
	}
}

// TestRecurringFormCreateAndEdit creates an entry through the form, edits
// its schedule, and refuses a second entry with the same ID; the entry's
// partition key is stored, shown on the list, the entry's page and the
// edit form, and carried by the triggered job, shown on its page.
func TestRecurringFormCreateAndEdit(t *testing.T) {
	e := newEnv(t, nil)
	form := map[string][]string{
		"id": {"report"}, "kind": {"test.ok"}, "args": {`{"text":"daily"}`}, "schedule": {"0 9 * * 1-5"},
		"time_zone": {"Europe/Berlin"}, "queue": {"other"}, "priority": {"2"}, "tags": {"a, b"}, "overlap": {"allow"}, "misfire": {"skip"},
		"partition": {"tenant-a"},
	}
	resp := e.post(t, "/recurring/new", form)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: status %d:\n%s", resp.StatusCode, readAll(t, resp))
	}
	row, err := e.client.RecurringGet(context.Background(), "report")
	if err != nil {
		t.Fatal(err)
	}
	if row.Kind != "test.ok" || string(row.Args) != `{"text":"daily"}` || row.TimeZone != "Europe/Berlin" || row.Queue != "other" ||
		row.Priority != 2 || strings.Join(row.Tags, ",") != "a,b" || row.Overlap != kilntype.OverlapAllow || row.Misfire != kilntype.MisfireSkip ||
		row.Partition != "tenant-a" {
		t.Errorf("stored entry %+v does not match the form", row)
	}
	for _, path := range []string{"/recurring", "/recurring/report"} {
		if code, body := e.get(t, path); code != http.StatusOK || !strings.Contains(body, "tenant-a") {
			t.Errorf("%s (%d) does not show the partition key:\n%s", path, code, body)
		}
	}
	if _, body := e.get(t, "/recurring/report/edit"); !strings.Contains(body, `name="partition" value="tenant-a"`) {
		t.Errorf("the edit form lacks the partition key:\n%s", body)
	}
	if resp := e.post(t, "/recurring/new", form); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("second create with the same ID: %d; want 400", resp.StatusCode)
	}
	form["schedule"] = []string{"@every 1h"}
	if resp := e.post(t, "/recurring/report/edit", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit: status %d", resp.StatusCode)
	}
	if row, _ := e.client.RecurringGet(context.Background(), "report"); row.Schedule != "@every 1h" || row.Partition != "tenant-a" {
		t.Errorf("schedule after edit %q, partition key %q", row.Schedule, row.Partition)
	}
	for _, action := range []string{"pause", "trigger", "resume"} {
		if resp := e.post(t, "/recurring/report/"+action, nil); resp.StatusCode != http.StatusSeeOther {
			t.Errorf("%s: status %d", action, resp.StatusCode)
		}
	}
	res, err := e.client.JobList(context.Background(), nil)
	if err != nil || len(res.Jobs) != 1 || res.Jobs[0].Partition != "tenant-a" {
		t.Fatalf("the triggered job: %v, %v", res, err)
	}
	if _, body := e.get(t, fmt.Sprintf("/jobs/%d", res.Jobs[0].ID)); !strings.Contains(body, `<dd class="partition">tenant-a</dd>`) {
		t.Errorf("the job's page lacks its partition key:\n%s", body)
	}
	form["partition"] = []string{""}
	if resp := e.post(t, "/recurring/report/edit", form); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("edit without a key: status %d", resp.StatusCode)
	}
	if row, _ := e.client.RecurringGet(context.Background(), "report"); row.Partition != "" {
		t.Errorf("partition key after an edit that empties it: %q", row.Partition)
	}
	if resp := e.post(t, "/recurring/report/remove", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("remove: status %d", resp.StatusCode)
	}
	if _, err := e.client.RecurringGet(context.Background(), "report"); err == nil {
		t.Error("entry still exists after remove")
	}
}

// TestJobFormEnqueues creates a one-off job through the form.
func TestJobFormEnqueues(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.post(t, "/jobs/new", map[string][]string{"kind": {"test.ok"}, "args": {`{"text":"once"}`}, "run_in": {"1h"}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/jobs/") {
		t.Fatalf("create: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	res, err := e.client.JobList(context.Background(), nil)
	if err != nil || len(res.Jobs) != 1 {
		t.Fatalf("jobs: %v, %v", res, err)
	}
	if j := res.Jobs[0]; j.State != kiln.JobStateScheduled || string(j.Args) != `{"text":"once"}` || j.Partition != "" {
		t.Errorf("job %+v", j)
	}
	resp = e.post(t, "/jobs/new", map[string][]string{"kind": {"test.ok"}, "args": {`{"text":"keyed"}`}, "partition": {"acme"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create with a partition key: %d", resp.StatusCode)
	}
	if res, err := e.client.JobList(context.Background(), nil); err != nil || len(res.Jobs) != 2 ||
		!slices.ContainsFunc(res.Jobs, func(j *kiln.JobRow) bool { return j.Partition == "acme" }) {
		t.Fatalf("no job with the form's partition key: %v, %v", res, err)
	}
	resp = e.post(t, "/jobs/new", map[string][]string{"kind": {"test.ok"}, "args": {`[1]`}, "run_in": {"soon"}})
	errs := fieldErrors(readAll(t, resp))
	if resp.StatusCode != http.StatusBadRequest || errs["args"] == "" || errs["runin"] == "" {
		t.Errorf("bad form: %d, errors %q", resp.StatusCode, errs)
	}
}

// TestFormShowsEveryErrorAtOnce submits forms with several faults, among
// them ones only the client's check finds (args of the wrong type, an ID
// taken), and checks that every fault is shown at once, next to its field
// and in a summary at the top, so that one submit shows all there is to fix.
func TestFormShowsEveryErrorAtOnce(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: "taken", Schedule: "@hourly", Args: okArgs{}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		form map[string][]string
		want map[string]string // field ID: part of its error
	}{
		{"/recurring/new", map[string][]string{
			"id": {"taken"}, "kind": {"test.ok"}, "args": {`{"text": 5}`}, "schedule": {"61 * * * *"},
			"time_zone": {"Mars/Olympus"}, "priority": {"9"}, "max_attempts": {"0"},
		}, map[string]string{
			"id": "exists already", "args": "text", "schedule": "minute", "tz": "Unknown time zone",
			"priority": "1 (first) to 4", "max": "at least 1",
		}},
		{"/jobs/new", map[string][]string{
			"kind": {"test.ok"}, "args": {`{"text": 5}`}, "run_in": {"soon"}, "queue": {"a b"},
		}, map[string]string{"args": "text", "runin": "30s", "queue": "no spaces"}},
	} {
		resp := e.post(t, tc.path, tc.form)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d; want 400", tc.path, resp.StatusCode)
			continue
		}
		errs := fieldErrors(body)
		for field, want := range tc.want {
			if !strings.Contains(errs[field], want) {
				t.Errorf("%s: field %s: error %q; want it to contain %q (all errors: %q)", tc.path, field, errs[field], want, errs)
			}
		}
		summary := regexp.MustCompile(`(?s)<div class="error-summary"[^>]*>(.*?)</div>`).FindStringSubmatch(body)
		if summary == nil {
			t.Errorf("%s: no error summary at the top of the form", tc.path)
			continue
		}
		for field := range tc.want {
			if !strings.Contains(summary[1], `href="#f-`+field+`"`) {
				t.Errorf("%s: the summary does not link to field %s:\n%s", tc.path, field, summary[1])
			}
		}
	}
	if rows, err := e.client.RecurringList(context.Background(), "", 10); err != nil || len(rows) != 1 {
		t.Errorf("entries after invalid forms: %d, %v; want only the first", len(rows), err)
	}
}
