package kiln

import (
	"encoding/json"
	"fmt"
)

// RawArgs is JobArgs for a kind known only by name, with args already in
// JSON: what the CLI, the HTTP API and services without the Go type enqueue.
// Its JSON is stored as is (compacted). Enqueue rejects invalid JSON.
type RawArgs struct {
	// JobKind is the kind to enqueue.
	JobKind string
	// JSON is the args; nil or empty means {}.
	JSON json.RawMessage
}

// Kind returns r.JobKind.
func (r RawArgs) Kind() string { return r.JobKind }

// MarshalJSON returns r.JSON, or an error naming the kind if it is not
// valid JSON.
func (r RawArgs) MarshalJSON() ([]byte, error) {
	if len(r.JSON) == 0 {
		return []byte("{}"), nil
	}
	if !json.Valid(r.JSON) {
		return nil, fmt.Errorf("args of kind %q are not valid JSON", r.JobKind)
	}
	return r.JSON, nil
}
