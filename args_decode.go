package kiln

import (
	"encoding/json"

	gojson "github.com/goccy/go-json"
)

// decodeArgs decodes a job's JSON args data into *v, which holds T's zero
// value, as encoding/json's Unmarshal does: the same value, or the same
// error. It decodes with github.com/goccy/go-json first, whose Unmarshal
// allocates no decode state (encoding/json's costs ~208 bytes and three
// allocations per job for args {"n": 1}, a ninth of the bytes a
// PostgreSQL burn-down allocates per job) and runs in about a third of
// the instructions. On any error of it (or a panic inside it) the value
// is set back to zero and decoded again with encoding/json, so that a
// failed decode returns encoding/json's error, whose text the attempt
// records, and args that encoding/json decodes are never refused. What is
// left to trust the library with is that what it accepts, encoding/json
// accepts too, with the same result: TestArgsDecodeAsEncodingJSON checks
// it on generated inputs over args types of every kind of field
// (docs/benchmarks.md, "Args decode and bytes per job (issue 11,
// 2026-12-06 eighth session)"). A type's UnmarshalJSON or UnmarshalText
// may be called twice for args that fail to decode, once by each.
func decodeArgs[T any](data []byte, v *T) error {
	if decodeFast(data, v) {
		return nil
	}
	var zero T
	*v = zero
	return json.Unmarshal(data, v)
}

// decodeFast reports whether go-json decoded data into *v without an
// error or a panic.
func decodeFast[T any](data []byte, v *T) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return gojson.Unmarshal(data, v) == nil
}
