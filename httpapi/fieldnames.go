package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// checkFieldNames walks body, one JSON value, alongside the type t it is
// decoded into, and refuses with a 400 naming the field what encoding/json
// would let through silently:
//
//   - a name given twice in one object, at any depth (args and metadata
//     included): encoding/json keeps the last, and a store may keep either
//     (PostgreSQL's jsonb keeps the last, SQLite's text both);
//   - a name that matches a field of t only without regard to case
//     ("LIMIT" for "limit"), which encoding/json accepts: field names are
//     case-sensitive, as the documents say.
//
// Names that match no field at all are left to the decoder
// (DisallowUnknownFields), and so is invalid JSON, which stops the walk.
// The field of an error is the path in the request, as checkBodyText
// writes it ("jobs[1].limit", "args.name").
func checkFieldNames(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := walkNames(dec, t, nil)
	if e, ok := err.(*Error); ok {
		return e
	}
	return nil // invalid JSON: the decoder reports it
}

// walkNames reads one value from dec, checking the names of its objects;
// t is the Go type the value is decoded into, or nil when no struct
// guides its names (raw JSON, a custom decoder).
func walkNames(dec *json.Decoder, t reflect.Type, path []byte) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil
	}
	t = guide(t)
	switch delim {
	case '{':
		var fields map[string]reflect.Type // a struct's exact names
		var elem reflect.Type              // a map's values
		switch {
		case t != nil && t.Kind() == reflect.Struct:
			fields = map[string]reflect.Type{}
			jsonFields(t, fields)
		case t != nil && t.Kind() == reflect.Map:
			elem = t.Elem()
		}
		seen := map[string]bool{}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := tok.(string)
			field := appendKey(bytes.Clone(path), key)
			name := string(bytes.TrimPrefix(field, []byte(".")))
			if seen[key] {
				return badRequest(name, "duplicate field %q: give each field once", key)
			}
			seen[key] = true
			next := elem
			if fields != nil {
				var ok bool
				if next, ok = fields[key]; !ok {
					for want := range fields {
						if strings.EqualFold(want, key) {
							return badRequest(name, "unknown field %q: field names are case-sensitive; did you mean %q?", key, want)
						}
					}
				}
			}
			if err := walkNames(dec, next, field); err != nil {
				return err
			}
		}
	case '[':
		var elem reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			elem = t.Elem()
		}
		for i := 0; dec.More(); i++ {
			if err := walkNames(dec, elem, fmt.Appendf(bytes.Clone(path), "[%d]", i)); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// guide returns the type whose names a JSON object decoded into t must
// have: t without its pointers, or nil when t decodes itself (json.RawMessage,
// time.Time) or is an interface.
func guide(t reflect.Type) reflect.Type {
	for t != nil {
		if t.Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(jsonUnmarshaler) ||
			t.Implements(textUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
			return nil
		}
		switch t.Kind() {
		case reflect.Pointer:
			t = t.Elem()
		case reflect.Interface:
			return nil
		default:
			return t
		}
	}
	return nil
}

// jsonFields adds the JSON names of struct t's fields to fields, with
// their types, as encoding/json sees them: the tag's name, else the Go
// name; the fields of embedded structs without a name inlined, a
// shallower field winning over a deeper one; "-" and unexported fields
// left out.
func jsonFields(t reflect.Type, fields map[string]reflect.Type) {
	var embedded []reflect.Type
	for f := range t.Fields() {
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if ft := guide(f.Type); ft != nil && ft.Kind() == reflect.Struct {
				embedded = append(embedded, ft)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	for _, et := range embedded {
		inner := map[string]reflect.Type{}
		jsonFields(et, inner)
		for name, ft := range inner {
			if _, ok := fields[name]; !ok {
				fields[name] = ft
			}
		}
	}
}
