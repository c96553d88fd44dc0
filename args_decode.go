package kiln

import (
	"encoding"
	"encoding/json"
	"reflect"

	gojson "github.com/goccy/go-json"
)

// plainArgsType reports whether no type in t's tree (t, its fields,
// embedded structs, elements, map keys and values, pointers' targets)
// implements json.Unmarshaler or encoding.TextUnmarshaler, with a value
// or a pointer receiver. Only such args types are decoded by go-json
// (decodeArgs): it calls no method of the user's, so a panic it raises is
// its own, and the order in which encoding/json prefers one method to
// another (a map key with both UnmarshalJSON and UnmarshalText) never
// matters. Types with such methods (time.Time among them) are decoded by
// encoding/json alone. Decided once per worker (AddWorkerSafely).
func plainArgsType(t reflect.Type) bool {
	return plainType(t, map[reflect.Type]bool{})
}

func plainType(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return true
	}
	seen[t] = true
	for _, u := range []reflect.Type{reflect.TypeFor[json.Unmarshaler](), reflect.TypeFor[encoding.TextUnmarshaler]()} {
		if t.Implements(u) || reflect.PointerTo(t).Implements(u) {
			return false
		}
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return plainType(t.Elem(), seen)
	case reflect.Map:
		return plainType(t.Key(), seen) && plainType(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if !plainType(t.Field(i).Type, seen) {
				return false
			}
		}
	}
	return true
}

// decodeArgs decodes a job's JSON args data into *v, which holds T's zero
// value, as encoding/json's Unmarshal does: the same value, or the same
// error, for a T of which plainArgsType reports true (workUnit.Decode
// calls it for those only). It decodes with github.com/goccy/go-json first, whose Unmarshal
// allocates no decode state (encoding/json's costs ~208 bytes and three
// allocations per job for args {"n": 1}, a ninth of the bytes a
// PostgreSQL burn-down allocates per job) and runs in about a third of
// the instructions. On any error of it (or a panic inside it: it calls
// no method of the user's on a plain type) the value
// is set back to zero and decoded again with encoding/json, so that a
// failed decode returns encoding/json's error, whose text the attempt
// records, and args that encoding/json decodes are never refused. What is
// left to trust the library with is that what it accepts, encoding/json
// accepts too, with the same result: TestArgsDecodeAsEncodingJSON checks
// it on generated inputs over args types of every kind of field
// (docs/benchmarks.md, "Args decode and bytes per job (issue 11,
// 2026-12-06 eighth session)").
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
