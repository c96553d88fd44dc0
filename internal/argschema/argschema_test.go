package argschema

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	invopop "github.com/invopop/jsonschema"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/internal/demo"
)

type address struct {
	City string `json:"city"`
}

// loose decodes itself from any JSON.
type loose struct{ raw json.RawMessage }

func (l *loose) UnmarshalJSON(b []byte) error { l.raw = b; return nil }

type mailArgs struct {
	To       string            `json:"to" jsonschema:"required,format=email,description=Who gets the mail"`
	Subject  string            `json:"subject" jsonschema_description:"The subject line"`
	Priority string            `json:"priority,omitempty" jsonschema:"enum=low,enum=normal,enum=high,default=normal"`
	Retries  int               `json:"retries,omitempty" jsonschema:"minimum=0,maximum=5"`
	Draft    bool              `json:"draft"`
	Level    int               `json:"level,omitempty" jsonschema:"enum=1,enum=2"`
	Tags     []string          `json:"tags,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	At       time.Time         `json:"at,omitzero"`
	Home     *address          `json:"home,omitempty"`
	Extra    loose             `json:"extra,omitempty"`
	Note     *string           `json:"note,omitempty" jsonschema:"maxLength=10"`
	Ignored  string            `json:"-"`
}

func (mailArgs) Kind() string { return "mail" }

// ownArgs gives its schema itself.
type ownArgs struct {
	N int `json:"n"`
}

func (ownArgs) Kind() string { return "own" }
func (ownArgs) ArgsSchema() json.RawMessage {
	return json.RawMessage(`{"type": "object", "properties": {"n": {"type": "integer", "minimum": 10, "description": "at least ten"}}, "required": ["n"]}`)
}

// badArgs gives a schema that does not compile.
type badArgs struct{}

func (badArgs) Kind() string                { return "bad" }
func (badArgs) ArgsSchema() json.RawMessage { return json.RawMessage(`{"type": 12}`) }

// remoteArgs refers to a schema elsewhere.
type remoteArgs struct{}

func (remoteArgs) Kind() string { return "remote" }
func (remoteArgs) ArgsSchema() json.RawMessage {
	return json.RawMessage(`{"$ref": "file:///etc/passwd"}`)
}

// invopopArgs describes itself to invopop.
type invopopArgs struct {
	Color string `json:"color"`
}

func (invopopArgs) Kind() string { return "invopop" }
func (invopopArgs) JSONSchemaExtend(s *invopop.Schema) {
	c, _ := s.Properties.Get("color")
	c.Enum = []any{"red", "blue"}
}

func schemaOf[T any](t *testing.T) *Schema {
	t.Helper()
	s, err := ForType(reflect.TypeFor[T]())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGeneratedSchema(t *testing.T) {
	s := schemaOf[mailArgs](t)
	var doc map[string]any
	if err := json.Unmarshal(s.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	if doc["type"] != "object" || doc["additionalProperties"] != false || doc["$id"] != nil || doc["$ref"] != nil {
		t.Errorf("schema root: %s", s.JSON)
	}
	if req, _ := doc["required"].([]any); len(req) != 1 || req[0] != "to" {
		t.Errorf("required %v, want [to] (only the fields tagged required)", doc["required"])
	}
	if s.Custom {
		t.Error("Custom true for a generated schema")
	}
	want := []Field{
		{Name: "to", Description: "Who gets the mail", Input: "text", Type: "string", Format: "email", Required: true},
		{Name: "subject", Description: "The subject line", Input: "text", Type: "string"},
		{Name: "priority", Input: "select", Type: "string", Enum: []string{"low", "normal", "high"}, Default: "normal"},
		{Name: "retries", Input: "integer", Type: "integer", Minimum: "0", Maximum: "5"},
		{Name: "draft", Input: "boolean", Type: "boolean"},
		{Name: "level", Input: "select", Type: "integer", Enum: []string{"1", "2"}},
		{Name: "tags", Input: "json"},
		{Name: "headers", Input: "json"},
		{Name: "at", Input: "text", Type: "string", Format: "date-time"},
		{Name: "home", Input: "json"},
		{Name: "extra", Input: "json"},
		{Name: "note", Input: "text", Type: "string", MaxLength: 10},
	}
	if !reflect.DeepEqual(s.Fields, want) {
		got, _ := json.MarshalIndent(s.Fields, "", " ")
		t.Errorf("fields:\n%s", got)
	}
	if again := schemaOf[mailArgs](t); again != s {
		t.Error("ForType made the schema of one type twice")
	}
	if s, err := ForType(nil); s != nil || err != nil {
		t.Errorf("ForType(nil) = %v, %v", s, err)
	}
}

func TestCheck(t *testing.T) {
	s := schemaOf[mailArgs](t)
	for _, c := range []struct {
		name, args string
		want       []string // "field: message part"
	}{
		{"valid", `{"to": "a@example.com", "priority": "high", "retries": 2, "tags": ["x"], "at": "2026-01-02T03:04:05Z"}`, nil},
		{"empty args are an empty object", ``, []string{"args.to: missing"}},
		{"typo", `{"to": "a@example.com", "subjet": "hi"}`, []string{`args.subjet: unknown field "subjet": the args of kind "mail" have no such field; its fields are "to", "subject", "priority"`}},
		{"missing", `{"subject": "hi"}`, []string{`args.to: missing: the args of kind "mail" require it`}},
		{"enum", `{"to": "a@example.com", "priority": "urgent"}`, []string{"args.priority: value must be one of"}},
		{"type", `{"to": "a@example.com", "retries": "3"}`, []string{`args.retries: got a JSON string: the args of kind "mail" do not decode into their Go type, which wants an integer there`}},
		{"bound", `{"to": "a@example.com", "retries": 9}`, []string{"args.retries: maximum"}},
		{"format", `{"to": "not a mail address"}`, []string{"args.to: "}},
		{"nested unknown field", `{"to": "a@example.com", "home": {"city": "x", "zip": "1"}}`, []string{`args.home.zip: unknown field "zip"`}},
		{"array item", `{"to": "a@example.com", "tags": ["x", 3]}`, []string{"args.tags[1]: got a JSON number"}},
		{"null is no value", `{"to": "a@example.com", "subject": null, "home": null}`, nil},
		{"null required is missing", `{"to": null}`, []string{"args.to: missing"}},
		{"self-decoding field takes anything", `{"to": "a@example.com", "extra": [1, {"a": null}]}`, nil},
		{"every problem", `{"subjet": 1, "retries": -1}`, []string{"args.subjet: unknown", "args.retries: minimum", "args.to: missing"}},
		{"not JSON is the client's to report", `{"to": `, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := s.Problems("mail", []byte(c.args))
			if len(got) != len(c.want) {
				t.Fatalf("problems %v, want %d: %v", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				field, msg, _ := strings.Cut(w, ": ")
				if got[i].Field != field || !strings.Contains(got[i].Message, msg) {
					t.Errorf("problem %d: %s: %s; want %s: ...%s...", i, got[i].Field, got[i].Message, field, msg)
				}
			}
			err := s.Check("mail", []byte(c.args))
			if (err == nil) != (len(c.want) == 0) {
				t.Errorf("Check = %v", err)
			}
			var ve *kiln.ValidationError
			if err != nil && !errors.As(err, &ve) {
				t.Errorf("Check's error %T is no *kiln.ValidationError", err)
			}
		})
	}
}

func TestOwnSchema(t *testing.T) {
	s := schemaOf[ownArgs](t)
	if !s.Custom || len(s.Fields) != 1 || s.Fields[0].Description != "at least ten" || !s.Fields[0].Required || s.Fields[0].Minimum != "10" {
		t.Errorf("schema %+v", s)
	}
	if strings.Contains(string(s.JSON), ": ") || strings.Contains(string(s.JSON), "\n") {
		t.Errorf("JSON not compact: %s", s.JSON)
	}
	if err := s.Check("own", []byte(`{"n": 3}`)); err == nil || !strings.Contains(err.Error(), "args.n") {
		t.Errorf("Check(n 3) = %v", err)
	}
	if err := s.Check("own", []byte(`{"n": 30, "m": 1}`)); err != nil {
		t.Errorf("Check(n 30, m 1) = %v; the own schema allows other fields", err)
	}
	for _, typ := range []reflect.Type{reflect.TypeFor[badArgs](), reflect.TypeFor[remoteArgs]()} {
		if s, err := ForType(typ); err == nil {
			t.Errorf("ForType(%s) = %s, want an error", typ, s.JSON)
		}
	}
}

func TestInvopopMethods(t *testing.T) {
	s := schemaOf[invopopArgs](t)
	if len(s.Fields) != 1 || !slices.Equal(s.Fields[0].Enum, []string{"red", "blue"}) {
		t.Errorf("fields %+v", s.Fields)
	}
	if err := s.Check("invopop", []byte(`{"color": "green"}`)); err == nil {
		t.Error("green accepted")
	}
}

func TestForKind(t *testing.T) {
	ws := kiln.NewWorkers()
	kiln.AddWorker(ws, kiln.WorkFunc(func(context.Context, *kiln.Job[mailArgs]) error { return nil }))
	kiln.AddWorker(ws, kiln.WorkFunc(func(context.Context, *kiln.Job[badArgs]) error { return nil }))
	c := clienttest.New(t, ws, nil, false, false)
	if s, err := ForKind(c, "mail"); err != nil || s != schemaOf[mailArgs](t) {
		t.Errorf("ForKind(mail) = %v, %v", s, err)
	}
	if s, err := ForKind(c, "other"); s != nil || err != nil {
		t.Errorf("ForKind(other) = %v, %v; want no schema", s, err)
	}
	if _, err := ForKind(c, "bad"); err == nil || !strings.Contains(err.Error(), `kind "bad"`) {
		t.Errorf("ForKind(bad) error %v", err)
	}
}

// TestDemoKinds: the schemas of kiln demo's kinds, whose forms the demo
// shows, compile and carry the tags' descriptions.
func TestDemoKinds(t *testing.T) {
	for _, typ := range []reflect.Type{
		reflect.TypeFor[demo.ChecksumArgs](), reflect.TypeFor[demo.FlakyArgs](), reflect.TypeFor[demo.HTTPCallArgs](),
		reflect.TypeFor[demo.SleepArgs](), reflect.TypeFor[demo.WriteFileArgs](),
	} {
		s, err := ForType(typ)
		if err != nil || len(s.Fields) == 0 || s.Fields[0].Description == "" {
			t.Errorf("%s: schema %+v, %v", typ, s, err)
		}
	}
	s, _ := ForType(reflect.TypeFor[demo.HTTPCallArgs]())
	if err := s.Check("demo.http_call", []byte(`{"url": "not a url"}`)); err == nil {
		t.Error("demo.http_call took a URL that is not absolute")
	}
}
