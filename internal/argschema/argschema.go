// Package argschema gives each job kind's args a JSON Schema and checks
// args against it, for the HTTP API (GET /kinds, every enqueue) and the
// dashboard's per-kind forms.
//
// A kind's schema comes from the Go type of its worker's args
// ([kiln.Client.ArgsType]): the type's own [kiln.JobArgsWithSchema], or
// else one generated from the type with github.com/invopop/jsonschema. It
// is made and compiled (with github.com/santhosh-tekuri/jsonschema/v6) the
// first time a type is asked for, and kept for the life of the process:
// types do not change while it runs. The root package does not import
// this one, so that a program that only enqueues and works jobs compiles
// neither library (nor the YAML parser the generator's ordered map
// brings); .ci/run checks it.
package argschema

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	invopop "github.com/invopop/jsonschema"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kilnjobs/kiln"
)

// Schema is the JSON Schema of one args type, with its compiled form. It
// is immutable and safe for concurrent use.
type Schema struct {
	// JSON is the schema document (draft 2020-12), compact.
	JSON json.RawMessage
	// Fields are the top-level properties of the args object, in the
	// schema's order: what a form shows. Empty when the schema describes
	// no object with properties (the args are then entered as JSON).
	Fields []Field
	// Custom is true when the args type gave its schema itself
	// (kiln.JobArgsWithSchema).
	Custom bool

	compiled *jsonschema.Schema
}

// cache maps a reflect.Type to its *cached.
var cache sync.Map

// cached is one type's schema, made once.
type cached struct {
	once   sync.Once
	schema *Schema
	err    error
}

// ForType returns the schema of the args type t, made the first time t is
// asked for and kept. It returns nil and no error for a nil t (a kind this
// process has no worker for), and an error when the type's own schema
// (kiln.JobArgsWithSchema) is not valid JSON or does not compile; a
// generated schema always compiles.
func ForType(t reflect.Type) (*Schema, error) {
	if t == nil {
		return nil, nil
	}
	v, _ := cache.LoadOrStore(t, &cached{})
	c := v.(*cached)
	c.once.Do(func() { c.schema, c.err = build(t) })
	return c.schema, c.err
}

// ForKind returns the schema of kind's args in client: see ForType. It
// returns nil and no error when client has no worker for kind.
func ForKind(client *kiln.Client, kind string) (*Schema, error) {
	s, err := ForType(client.ArgsType(kind))
	if err != nil {
		return nil, fmt.Errorf("args schema of kind %q: %w", kind, err)
	}
	return s, nil
}

var withSchemaType = reflect.TypeFor[kiln.JobArgsWithSchema]()

// build makes t's schema: its own, or a generated one.
func build(t reflect.Type) (*Schema, error) {
	var doc []byte
	custom := t.Implements(withSchemaType)
	if custom {
		doc = reflect.Zero(t).Interface().(kiln.JobArgsWithSchema).ArgsSchema()
		var buf bytes.Buffer
		if err := json.Compact(&buf, doc); err != nil {
			return nil, fmt.Errorf("ArgsSchema of %s is not valid JSON: %w", t, err)
		}
		doc = buf.Bytes()
	} else {
		var err error
		if doc, err = json.Marshal(reflector.ReflectFromType(t)); err != nil {
			return nil, fmt.Errorf("encode the schema of %s: %w", t, err)
		}
	}
	compiled, err := compile(doc)
	if err != nil {
		return nil, fmt.Errorf("schema of %s: %w", t, err)
	}
	var parsed invopop.Schema
	if err := json.Unmarshal(doc, &parsed); err != nil {
		return nil, fmt.Errorf("schema of %s: %w", t, err)
	}
	return &Schema{JSON: doc, Fields: fieldsOf(&parsed), Custom: custom, compiled: compiled}, nil
}

// reflector generates the schemas of args types without their own.
var reflector = &invopop.Reflector{
	// No $id made from the Go package path: the kind names the schema.
	Anonymous: true,
	// The args object at the root, not behind a $ref.
	ExpandedStruct: true,
	// Go's decoder accepts a missing field: only fields tagged
	// `jsonschema:"required"` are required.
	RequiredFromJSONSchemaTags: true,
	Mapper:                     mapType,
}

var (
	jsonUnmarshaler   = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler   = reflect.TypeFor[encoding.TextUnmarshaler]()
	invopopCustom     = reflect.TypeFor[interface{ JSONSchema() *invopop.Schema }]()
	invopopExtend     = reflect.TypeFor[interface{ JSONSchemaExtend(*invopop.Schema) }]()
	timeType          = reflect.TypeFor[time.Time]()
	errNoRemoteSchema = errors.New("schemas of job args may not refer to other documents")
)

// mapType keeps the generated schema from refusing what Go's decoder
// accepts: a type that decodes itself (json.Unmarshaler) may take any
// JSON, and one that decodes from text (encoding.TextUnmarshaler) takes a
// string, whatever its fields; unless the type describes itself to
// invopop (JSONSchema, JSONSchemaExtend) or invopop knows it (time.Time).
// nil lets invopop reflect t.
func mapType(t reflect.Type) *invopop.Schema {
	if t == timeType || t.Implements(invopopCustom) || t.Implements(invopopExtend) {
		return nil
	}
	p := reflect.PointerTo(t)
	switch {
	case t.Implements(jsonUnmarshaler) || p.Implements(jsonUnmarshaler):
		return &invopop.Schema{}
	case t.Implements(textUnmarshaler) || p.Implements(textUnmarshaler):
		return &invopop.Schema{Type: "string"}
	}
	return nil
}

// noLoader refuses every document a schema refers to: job schemas stand
// alone, and reading files or URLs on their behalf is not wanted.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("%s: %w", url, errNoRemoteSchema)
}

// compile compiles a schema document, asserting formats (date-time,
// email, ...) as well as types.
func compile(doc []byte) (*jsonschema.Schema, error) {
	parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, err
	}
	const loc = "kiln-args.json"
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.AssertFormat()
	if err := c.AddResource(loc, parsed); err != nil {
		return nil, err
	}
	return c.Compile(loc)
}
