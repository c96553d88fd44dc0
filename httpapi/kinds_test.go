package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntest"
)

// mailArgs are the args of kind "mail", described by jsonschema tags.
type mailArgs struct {
	To       string `json:"to" jsonschema:"required,description=Who gets the mail"`
	Subject  string `json:"subject,omitempty"`
	Template string `json:"template,omitempty" jsonschema:"enum=welcome,enum=reset,default=welcome"`
}

func (mailArgs) Kind() string { return "mail" }

// ownSchemaArgs are the args of kind "own", which give their schema.
type ownSchemaArgs struct {
	N int `json:"n"`
}

func (ownSchemaArgs) Kind() string { return "own" }
func (ownSchemaArgs) ArgsSchema() json.RawMessage {
	return json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":10}}}`)
}

// brokenSchemaArgs give a schema that does not compile.
type brokenSchemaArgs struct{}

func (brokenSchemaArgs) Kind() string                { return "broken" }
func (brokenSchemaArgs) ArgsSchema() json.RawMessage { return json.RawMessage(`{"type":7}`) }

// newSchemaEnv returns an env whose client has workers for mail, own,
// broken and echo.
func newSchemaEnv(t *testing.T) *env {
	t.Helper()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[mailArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[ownSchemaArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[brokenSchemaArgs]) error { return nil }))
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[echoArgs]) error { return nil }))
	clock := kilntest.NewClock(testBase)
	st := clienttest.OpenStore(t)
	client := clienttest.NewOn(t, st, workers, clock, false, false)
	h := New(client, &Options{Logger: slog.New(slog.DiscardHandler)})
	return &env{t: t, client: client, store: st, clock: clock, h: http.StripPrefix("/api", h)}
}

func TestKindsSchemas(t *testing.T) {
	t.Parallel()
	e := newSchemaEnv(t)
	var res struct {
		Kinds   []string
		Schemas map[string]map[string]any
	}
	e.call("GET", "/kinds", "", http.StatusOK, &res)
	if !slices.Equal(res.Kinds, []string{"broken", "echo", "mail", "own"}) {
		t.Fatalf("kinds %v", res.Kinds)
	}
	if _, ok := res.Schemas["broken"]; ok || len(res.Schemas) != 3 {
		t.Fatalf("schemas of %d kinds: %v; want mail, own and echo", len(res.Schemas), res.Schemas)
	}
	mail := res.Schemas["mail"]
	props, _ := mail["properties"].(map[string]any)
	to, _ := props["to"].(map[string]any)
	tmpl, _ := props["template"].(map[string]any)
	if mail["additionalProperties"] != false || to["description"] != "Who gets the mail" || tmpl["default"] != "welcome" ||
		len(tmpl["enum"].([]any)) != 2 || len(mail["required"].([]any)) != 1 {
		t.Fatalf("mail schema %v", mail)
	}
	if own := res.Schemas["own"]; own["properties"].(map[string]any)["n"].(map[string]any)["minimum"] != 10.0 {
		t.Fatalf("own schema %v", own)
	}
}

func TestEnqueueCheckedAgainstSchema(t *testing.T) {
	t.Parallel()
	e := newSchemaEnv(t)
	// A typo: 400 naming the field, and listing the kind's fields.
	e.fail("POST", "/jobs", `{"kind":"mail","args":{"to":"a@example.com","subjcet":"hi"}}`, http.StatusBadRequest,
		"args.subjcet", `unknown field "subjcet": the args of kind "mail" have no such field; its fields are "to", "subject", "template"`)
	e.fail("POST", "/jobs", `{"kind":"mail","args":{"subject":"hi"}}`, http.StatusBadRequest, "args.to", "missing")
	e.fail("POST", "/jobs", `{"kind":"mail","args":{"to":"a@example.com","template":"bye"}}`, http.StatusBadRequest, "args.template", "value must be one of")
	e.fail("POST", "/jobs", `{"kind":"own","args":{"n":3}}`, http.StatusBadRequest, "args.n", "minimum")
	e.fail("POST", "/jobs/batch", `{"jobs":[{"kind":"echo"},{"kind":"mail","args":{"to":"x","cc":"y"}}]}`, http.StatusBadRequest, "jobs[1].args.cc", "unknown field")
	e.fail("PUT", "/recurring/daily", `{"schedule":"@daily","kind":"mail","args":{"too":"x"}}`, http.StatusBadRequest, "args.too", "unknown field")
	if n := e.jobCount(); n != 0 {
		t.Fatalf("%d jobs stored by refused enqueues", n)
	}
	// Args that conform are enqueued; null members count as absent.
	job := e.enqueue(`{"kind":"mail","args":{"to":"a@example.com","template":"reset","subject":null}}`)
	if !strings.Contains(string(job.Args), `"reset"`) {
		t.Fatalf("args %s", job.Args)
	}
	e.enqueue(`{"kind":"own","args":{"n":30}}`)
	// A kind whose schema does not compile is checked by the client only.
	e.enqueue(`{"kind":"broken"}`)
	e.fail("POST", "/jobs", `{"kind":"broken","args":{"x":1}}`, http.StatusBadRequest, "args.x", "unknown field")
	e.call("PUT", "/recurring/daily", `{"schedule":"@daily","kind":"mail","args":{"to":"a@example.com"}}`, http.StatusOK, nil)
}
