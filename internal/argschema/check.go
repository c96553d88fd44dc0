package argschema

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/kilnjobs/kiln"
)

// printer words the validator's messages.
var printer = message.NewPrinter(language.English)

// Check checks args, a JSON document, against the schema of kind's args
// and returns the first problem, or nil when they conform or are not
// JSON (the client's own check reports that). See Problems.
func (s *Schema) Check(kind string, args []byte) error {
	if p := s.Problems(kind, args); len(p) > 0 {
		return p[0]
	}
	return nil
}

// Problems checks args, a JSON document, against the schema of kind's
// args and returns every problem, each a *kiln.ValidationError naming the
// field at fault in the HTTP API's spelling ("args.to", "args.items[2]",
// "args" for the object as a whole), unknown fields first, then sorted by
// field; nil when args
// conform or are not JSON. An unknown field's error lists the fields the
// kind has; a missing one names it.
//
// Members whose value is null are left out before the check, as Go's
// decoder leaves such a field as it is: {"to": null} is checked as {}.
func (s *Schema) Problems(kind string, args []byte) []*kiln.ValidationError {
	if len(bytes.TrimSpace(args)) == 0 {
		args = []byte("{}")
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(args))
	if err != nil {
		return nil
	}
	inst = dropNulls(inst)
	err = s.compiled.Validate(inst)
	if err == nil {
		return nil
	}
	ve, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []*kiln.ValidationError{{Field: "args", Message: err.Error()}}
	}
	var out []*kiln.ValidationError
	for _, leaf := range leaves(ve, nil) {
		out = append(out, s.problem(kind, inst, leaf)...)
	}
	// Unknown fields first: a typo also makes the field it misspells
	// missing, and the unknown field's error names both.
	slices.SortStableFunc(out, func(a, b *kiln.ValidationError) int {
		ua, ub := strings.HasPrefix(a.Message, "unknown field"), strings.HasPrefix(b.Message, "unknown field")
		switch {
		case ua && !ub:
			return -1
		case ub && !ua:
			return 1
		}
		return strings.Compare(a.Field, b.Field)
	})
	return slices.CompactFunc(out, func(a, b *kiln.ValidationError) bool { return a.Field == b.Field && a.Message == b.Message })
}

// dropNulls returns v without the object members whose value is null, at
// every depth.
func dropNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
			} else {
				v[k] = dropNulls(e)
			}
		}
	case []any:
		for i, e := range v {
			v[i] = dropNulls(e)
		}
	}
	return v
}

// leaves appends the errors of e's tree that say what is wrong: those
// without causes, and the anyOf, oneOf and not errors as one each (their
// causes list what every alternative wanted, which helps nobody).
func leaves(e *jsonschema.ValidationError, out []*jsonschema.ValidationError) []*jsonschema.ValidationError {
	switch e.ErrorKind.(type) {
	case *kind.AnyOf, *kind.OneOf, *kind.Not:
		return append(out, e)
	}
	if len(e.Causes) == 0 {
		return append(out, e)
	}
	for _, c := range e.Causes {
		out = leaves(c, out)
	}
	return out
}

// problem turns one validator error into the errors to report: one per
// unknown or missing field, else one for the value at fault.
func (s *Schema) problem(jobKind string, inst any, e *jsonschema.ValidationError) []*kiln.ValidationError {
	at := fieldPath(inst, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.AdditionalProperties:
		var out []*kiln.ValidationError
		for _, p := range k.Properties {
			msg := fmt.Sprintf("unknown field %q: the args of kind %q have no such field", p, jobKind)
			if len(e.InstanceLocation) == 0 && len(s.Fields) > 0 {
				msg += "; its fields are " + s.fieldNames()
			}
			out = append(out, &kiln.ValidationError{Field: at + "." + p, Message: msg})
		}
		return out
	case *kind.Required:
		var out []*kiln.ValidationError
		for _, p := range k.Missing {
			out = append(out, &kiln.ValidationError{Field: at + "." + p, Message: fmt.Sprintf("missing: the args of kind %q require it", jobKind)})
		}
		return out
	case *kind.Type:
		// Worded as the client words a value its Go type refuses.
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = article(w)
		}
		return []*kiln.ValidationError{{Field: at, Message: fmt.Sprintf("got a JSON %s: the args of kind %q do not decode into their Go type, which wants %s there", k.Got, jobKind, strings.Join(want, " or "))}}
	}
	return []*kiln.ValidationError{{Field: at, Message: e.ErrorKind.LocalizedString(printer)}}
}

// article is a JSON type with its article: "an integer", "a string".
func article(typ string) string {
	if typ != "" && strings.ContainsRune("aeiou", rune(typ[0])) {
		return "an " + typ
	}
	return "a " + typ
}

// fieldNames lists the top-level fields, quoted, for messages.
func (s *Schema) fieldNames() string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = strconv.Quote(f.Name)
	}
	return strings.Join(names, ", ")
}

// fieldPath spells the instance location loc in inst as the API names
// fields: "args.to", "args.items[2].sku".
func fieldPath(inst any, loc []string) string {
	var b strings.Builder
	b.WriteString("args")
	v := inst
	for _, tok := range loc {
		switch cur := v.(type) {
		case []any:
			b.WriteString("[" + tok + "]")
			if i, err := strconv.Atoi(tok); err == nil && i >= 0 && i < len(cur) {
				v = cur[i]
			} else {
				v = nil
			}
		case map[string]any:
			b.WriteString("." + tok)
			v = cur[tok]
		default:
			b.WriteString("." + tok)
			v = nil
		}
	}
	return b.String()
}
