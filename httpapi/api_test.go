package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIMatchesRoutes checks openapi.yaml against the route table
// both ways: every route is documented, every documented operation is
// routed.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatalf("openapi.yaml does not load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	var documented []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented = append(documented, method+" "+path)
		}
	}
	var routed []string
	for _, rt := range routes() {
		routed = append(routed, rt.method+" "+rt.path)
	}
	slices.Sort(documented)
	slices.Sort(routed)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("openapi.yaml documents %s, which is not routed", d)
		}
	}
	if len(routed) != len(slices.Compact(slices.Clone(routed))) {
		t.Errorf("duplicate routes: %v", routed)
	}
}

func TestOpenAPIServed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	yamlRec := e.do("GET", "/openapi.yaml", "")
	file, err := os.ReadFile("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if yamlRec.Code != http.StatusOK || yamlRec.Body.String() != string(file) || yamlRec.Header().Get("Content-Type") != "application/yaml" {
		t.Fatalf("GET /openapi.yaml: %d %s, body differs from the file: %v", yamlRec.Code, yamlRec.Header(), yamlRec.Body.String() != string(file))
	}
	jsonRec := e.do("GET", "/openapi.json", "")
	if jsonRec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.json: %d", jsonRec.Code)
	}
	served, err := openapi3.NewLoader().LoadFromData(jsonRec.Body.Bytes())
	if err != nil {
		t.Fatalf("served JSON does not load: %v", err)
	}
	fromFile, _ := openapi3.NewLoader().LoadFromData(file)
	a, _ := json.Marshal(served)
	b, _ := json.Marshal(fromFile)
	if string(a) != string(b) {
		t.Fatal("GET /openapi.json is not openapi.yaml")
	}
}

func TestReadOnly(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &Options{ReadOnly: true}, false)
	if _, err := e.client.Enqueue(t.Context(), echoArgs{}, nil); err != nil {
		t.Fatal(err)
	}
	for _, rt := range routes() {
		path := strings.NewReplacer("{id}", "1", "{name}", "default").Replace(rt.path)
		rec := e.do(rt.method, path, `{}`)
		if rt.mutates {
			var got Error
			if err := json.Unmarshal(rec.Body.Bytes(), &got); rec.Code != http.StatusForbidden || err != nil || !strings.Contains(got.Message, "read-only") {
				t.Errorf("%s %s in read-only mode: %d %s, want 403", rt.method, path, rec.Code, rec.Body)
			}
		} else if rec.Code == http.StatusForbidden {
			t.Errorf("%s %s is refused in read-only mode", rt.method, path)
		}
	}
	e.call("GET", "/jobs/1", "", http.StatusOK, nil)
	if res, err := e.client.JobList(t.Context(), nil); err != nil || len(res.Jobs) != 1 {
		t.Fatalf("jobs after read-only requests: %v, %v", res, err)
	}
}

func TestUnknownRouteAndMethod(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	e.fail("GET", "/nothing/here", "", http.StatusNotFound, "", "no route /nothing/here")
	rec := e.do("PATCH", "/jobs/1", `{}`)
	var got Error
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("PATCH /jobs/1: %d %s", rec.Code, rec.Body)
	}
	allow := rec.Header().Get("Allow")
	for _, m := range []string{"GET", "DELETE"} {
		if !strings.Contains(allow, m) || !strings.Contains(got.Message, m) {
			t.Errorf("Allow %q / message %q lacks %s", allow, got.Message, m)
		}
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("405 Content-Type %q", ct)
	}
}
