package kiln

import (
	"encoding/json"
	"reflect"
)

// JobArgsWithSchema is implemented by args types that give the JSON Schema
// of their args themselves, in place of the one generated from their Go
// type. The HTTP API (GET /kinds, and its check of every enqueue of the
// kind) and the dashboard's per-kind forms use the schema; the root
// package does not: Enqueue checks args by decoding them into their Go
// type (see [JobArgsWithValidate]).
//
// ArgsSchema is called once per process on the zero value of the type; it
// returns a JSON Schema (draft 2020-12) of the args object, which must
// compile, with no $ref outside the document. Without it, the schema is
// generated from the Go type with github.com/invopop/jsonschema:
// properties named by the json tags, descriptions from the
// `jsonschema:"description=..."` and `jsonschema_description` tags, enums,
// defaults and bounds from the `jsonschema` tag, additionalProperties false,
// and required only for the fields tagged `jsonschema:"required"` (Go's
// decoder accepts a missing field, and so does the schema). An args type
// may also implement invopop's own JSONSchema or JSONSchemaExtend methods,
// which the generator honours.
type JobArgsWithSchema interface {
	JobArgs
	ArgsSchema() json.RawMessage
}

// ArgsType returns the Go type of the args of kind's jobs in this client:
// T of the Worker[T] registered for kind, or nil when the client has no
// worker for it (an enqueue-only client has none). The HTTP API and the
// dashboard generate each kind's JSON Schema from it (see
// [JobArgsWithSchema]).
func (c *Client) ArgsType(kind string) reflect.Type {
	e, ok := c.cfg.Workers.entry(kind)
	if !ok {
		return nil
	}
	return e.argsType()
}
