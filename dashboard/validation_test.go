package dashboard_test

import (
	"context"
	"html"
	"net/http"
	"strings"
	"testing"
)

// TestFormsValidateLikeTheClient: the job and recurring forms refuse what
// the client refuses, each error next to its field: integers out of range,
// args that do not fit their kind (a typo in a field name), NUL in args
// and tags, args over Config.MaxArgsBytes (the form accepted 10 MB).
func TestFormsValidateLikeTheClient(t *testing.T) {
	e := newEnv(t, nil)
	job := func(extra map[string][]string) map[string][]string {
		form := map[string][]string{"kind": {"test.ok"}, "args": {`{"text":"a"}`}}
		for k, v := range extra {
			form[k] = v
		}
		return form
	}
	recurring := func(extra map[string][]string) map[string][]string {
		form := job(extra)
		form["id"], form["schedule"] = []string{"r"}, []string{"@hourly"}
		return form
	}
	for _, tc := range []struct {
		name, path string
		form       map[string][]string
		field      string // the field's HTML ID, after "f-"
		want       string
	}{
		{"max attempts 2^31", "/jobs/new", job(map[string][]string{"max_attempts": {"2147483648"}}), "max", "out of range 1 to 2147483647"},
		{"max attempts 2^32+1", "/jobs/new", job(map[string][]string{"max_attempts": {"4294967297"}}), "max", "out of range 1 to 2147483647"},
		{"max attempts 2^64", "/jobs/new", job(map[string][]string{"max_attempts": {"18446744073709551616"}}), "max", "at least 1 and at most 2147483647"},
		{"recurring max attempts", "/recurring/new", recurring(map[string][]string{"max_attempts": {"2147483648"}}), "max", "out of range"},
		{"typo in args", "/jobs/new", job(map[string][]string{"args": {`{"txt":"a"}`}}), "args", `unknown field "txt"`},
		{"recurring typo in args", "/recurring/new", recurring(map[string][]string{"args": {`{"txt":"a"}`}}), "args", `unknown field "txt"`},
		{"NUL in args", "/jobs/new", job(map[string][]string{"args": {`{"text":"\u0000"}`}}), "args", "NUL"},
		{"invalid UTF-8 in args", "/jobs/new", job(map[string][]string{"args": {"{\"text\":\"\xff\"}"}}), "args", "UTF-8"},
		{"NUL in a tag", "/jobs/new", job(map[string][]string{"tags": {"a, b\x00c"}}), "tags", "NUL"},
		{"partition key too long", "/jobs/new", job(map[string][]string{"partition": {strings.Repeat("é", 128)}}), "partition", "at most 255"},
		{"recurring partition key invalid", "/recurring/new", recurring(map[string][]string{"partition": {"t\xff"}}), "partition", "UTF-8"},
		{"args over the limit", "/jobs/new", job(map[string][]string{"args": {`{"text":"` + strings.Repeat("x", 2<<20) + `"}`}}), "args", "Config.MaxArgsBytes"},
	} {
		resp := e.post(t, tc.path, tc.form)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d; want 400", tc.name, resp.StatusCode)
			continue
		}
		if errs := fieldErrors(body); !strings.Contains(html.UnescapeString(errs[tc.field]), tc.want) {
			t.Errorf("%s: field errors %q; want %q on %s", tc.name, errs, tc.want, tc.field)
		}
	}
	res, err := e.client.JobList(context.Background(), nil)
	if err != nil || len(res.Jobs) != 0 {
		t.Errorf("jobs after refused forms: %v, %v", res, err)
	}
	rows, err := e.client.RecurringList(context.Background(), "", 10)
	if err != nil || len(rows) != 0 {
		t.Errorf("entries after refused forms: %v, %v", rows, err)
	}
}
