package dashboard_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
)

// shipArgs are the args of kind "test.ship", whose schema the forms show
// as one input per property.
type shipArgs struct {
	To      string   `json:"to" jsonschema:"required,description=Where the parcel goes"`
	Speed   string   `json:"speed,omitempty" jsonschema:"enum=slow,enum=fast,default=slow"`
	Weight  int      `json:"weight,omitempty" jsonschema:"minimum=1,maximum=50,description=In kilograms"`
	Fragile bool     `json:"fragile,omitempty"`
	Items   []string `json:"items,omitempty"`
}

func (shipArgs) Kind() string { return "test.ship" }

// addFormWorkers registers the kinds of the per-kind form tests.
func addFormWorkers(ws *kiln.Workers) {
	kiln.AddWorker(ws, kiln.WorkFunc(func(context.Context, *kiln.Job[shipArgs]) error { return nil }))
}

// argErrors returns the errors the form shows next to the args' inputs,
// by input label.
func argErrors(body string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(?s)<label for="f-arg-\d+">([a-z]+).*?(?:<p class="field-error" role="alert">(.*?)</p>|</div>)`).FindAllStringSubmatch(body, -1) {
		if m[2] != "" {
			out[m[1]] = html.UnescapeString(m[2])
		}
	}
	return out
}

// TestArgsFormShowsTheSchema: the new-job form of a kind with a schema
// has one input per property, with its description, enum and default;
// a kind without a schema in this process has the JSON textarea only.
func TestArgsFormShowsTheSchema(t *testing.T) {
	e := newEnv(t, nil)
	for _, path := range []string{"/jobs/new?kind=test.ship", "/recurring/new?kind=test.ship"} {
		status, body := e.get(t, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, status)
		}
		for _, want := range []string{
			`name="args_mode" value="fields" checked`, `data-schema="{`, `name="arg.to"`, `Where the parcel goes`,
			`<option value="slow" selected>slow</option>`, `In kilograms (a whole number, 1 to 50)`,
			`type="checkbox" id="f-arg-3" name="arg.fragile"`, `<textarea id="f-arg-4" name="arg.items"`,
			`<span class="args-required" title="required">*</span>`, `/static/argsform.js`,
			`&#34;speed&#34;: &#34;slow&#34;`,                  // the JSON textarea holds the defaults too
			`<noscript><button type="submit" formmethod="get"`, // without JavaScript, a kind's fields are a reload away
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s: no %q in\n%s", path, want, body)
			}
		}
	}
	status, body := e.get(t, "/jobs/new?kind=not.here")
	if status != http.StatusOK || strings.Contains(body, "args_mode") || strings.Contains(body, "data-schema") || !strings.Contains(body, `name="args"`) {
		t.Errorf("a kind without a schema: %d\n%s", status, body)
	}
	if status, body := e.get(t, "/static/argsform.js"); status != http.StatusOK || !strings.Contains(body, "additionalProperties") {
		t.Errorf("GET /static/argsform.js: %d", status)
	}
}

// TestArgsFormTypedFields creates a job from the inputs, and checks that
// bad inputs and a typo in the JSON are refused with the field named.
func TestArgsFormTypedFields(t *testing.T) {
	e := newEnv(t, nil)
	fields := func(kv ...string) map[string][]string {
		f := map[string][]string{"kind": {"test.ship"}, "args_mode": {"fields"}, "args": {`{"ignored": true}`}}
		for i := 0; i < len(kv); i += 2 {
			f[kv[i]] = []string{kv[i+1]}
		}
		return f
	}
	for _, tc := range []struct {
		name string
		form map[string][]string
		want map[string]string // input label or "args": part of its error
	}{
		{"not a number", fields("arg.to", "Berlin", "arg.weight", "heavy"), map[string]string{"weight": "A whole number"}},
		{"out of bounds and missing", fields("arg.weight", "99"), map[string]string{"weight": "maximum", "to": "missing"}},
		{"bad JSON input", fields("arg.to", "Berlin", "arg.items", "[a"), map[string]string{"items": "Not valid JSON"}},
		{"an item of the wrong type", fields("arg.to", "Berlin", "arg.items", `["a", 2]`), map[string]string{"items": "got a JSON number"}},
		{"enum", fields("arg.to", "Berlin", "arg.speed", "warp"), map[string]string{"speed": "value must be one of"}},
		{"typo in the JSON", map[string][]string{"kind": {"test.ship"}, "args_mode": {"json"}, "args": {`{"to": "Berlin", "wieght": 3}`}},
			map[string]string{"args": `args.wieght: unknown field "wieght": the args of kind "test.ship" have no such field; its fields are "to", "speed", "weight", "fragile", "items"`}},
		{"typo, form without args_mode", map[string][]string{"kind": {"test.ship"}, "args": {`{"to": "Berlin", "wieght": 3}`}},
			map[string]string{"args": `unknown field "wieght"`}},
	} {
		resp := e.post(t, "/jobs/new", tc.form)
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: status %d; want 400", tc.name, resp.StatusCode)
			continue
		}
		errs := argErrors(body)
		if a := fieldErrors(body)["args"]; a != "" {
			errs["args"] = html.UnescapeString(a)
		}
		for field, want := range tc.want {
			if !strings.Contains(errs[field], want) {
				t.Errorf("%s: %s: error %q; want %q (all: %q)", tc.name, field, errs[field], want, errs)
			}
		}
		if len(errs) != len(tc.want) {
			t.Errorf("%s: errors %q; want only %v", tc.name, errs, tc.want)
		}
		if !strings.Contains(body, `<div class="error-summary"`) {
			t.Errorf("%s: no error summary", tc.name)
		}
	}
	if res, err := e.client.JobList(context.Background(), nil); err != nil || len(res.Jobs) != 0 {
		t.Fatalf("refused forms stored jobs: %v, %v", res, err)
	}

	resp := e.post(t, "/jobs/new", fields("arg.to", "Berlin", "arg.speed", "fast", "arg.weight", " 3 ", "arg.fragile", "true", "arg.items", `["a", "b"]`))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create from fields: %d\n%s", resp.StatusCode, readAll(t, resp))
	}
	resp = e.post(t, "/jobs/new", map[string][]string{"kind": {"test.ship"}, "args_mode": {"json"}, "args": {`{"to": "Paris"}`}, "arg.to": {"ignored"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("create from JSON: %d\n%s", resp.StatusCode, readAll(t, resp))
	}
	res, err := e.client.JobList(context.Background(), nil)
	if err != nil || len(res.Jobs) != 2 {
		t.Fatalf("jobs %v, %v", res, err)
	}
	var got []shipArgs
	for _, j := range res.Jobs { // newest first
		var a shipArgs
		if err := json.Unmarshal(j.Args, &a); err != nil {
			t.Fatal(err)
		}
		got = append(got, a)
	}
	if got[1].To != "Berlin" || got[1].Speed != "fast" || got[1].Weight != 3 || !got[1].Fragile || len(got[1].Items) != 2 || got[0].To != "Paris" {
		t.Errorf("args %+v", got)
	}
}

// TestArgsFormEditsRecurring: the edit form of an entry fills the inputs
// from its args, and saving the inputs stores them.
func TestArgsFormEditsRecurring(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: "ship", Schedule: "@hourly", Args: shipArgs{To: "Oslo", Weight: 7, Fragile: true}}); err != nil {
		t.Fatal(err)
	}
	status, body := e.get(t, "/recurring/ship/edit")
	for _, want := range []string{`name="args_mode" value="fields" checked`, `name="arg.to" value="Oslo"`, `name="arg.weight" value="7"`, `name="arg.fragile" value="true" checked`} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("edit form: %d, no %q", status, want)
		}
	}
	resp := e.post(t, "/recurring/ship/edit", map[string][]string{
		"kind": {"test.ship"}, "schedule": {"@daily"}, "args_mode": {"fields"}, "arg.to": {"Bergen"}, "arg.speed": {"slow"},
	})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", resp.StatusCode, readAll(t, resp))
	}
	row, err := e.client.RecurringGet(context.Background(), "ship")
	if err != nil || string(row.Args) != `{"to":"Bergen","speed":"slow","fragile":false}` {
		t.Fatalf("entry %s, %v", row.Args, err)
	}
	// Args that the inputs cannot show open as JSON.
	if _, err := e.client.RecurringAddOrUpdate(context.Background(), kiln.RecurringJob{ID: "raw", Schedule: "@hourly", Args: kiln.RawArgs{JobKind: "test.ship", JSON: []byte(`{"to": 5}`)}}); err == nil {
		t.Fatal("the client stored args its type refuses")
	}
}
