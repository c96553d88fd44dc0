package argschema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	invopop "github.com/invopop/jsonschema"
)

// Field is one top-level property of a kind's args, as a form shows it.
type Field struct {
	// Name is the property's JSON name.
	Name string
	// Title and Description are the schema's words about it (the
	// `jsonschema:"title=...,description=..."` tags); either may be empty.
	Title, Description string
	// Input is how a form takes the value: "text" (a string), "integer",
	// "number", "boolean", "select" (one of Enum), or "json" (any other
	// value, an object or an array, typed as JSON).
	Input string
	// Type is the JSON type of a select's values ("string", "integer",
	// "number"); of other inputs, the input's type; "" for json.
	Type string
	// Format is the schema's format of a string ("date-time", "email").
	Format string
	// Required is true when the schema requires the property.
	Required bool
	// Enum lists the values a select offers, as text: a string as is, a
	// number as written.
	Enum []string
	// Default is the schema's default as text (a string as is, any other
	// value as JSON); "" when it has none.
	Default string
	// Minimum and Maximum bound a number ("" when unbounded); MinLength,
	// MaxLength and Pattern constrain a string (0 and "" when not).
	Minimum, Maximum     string
	MinLength, MaxLength uint64
	Pattern              string
}

// fieldsOf returns the top-level properties of the object s describes,
// in order; nil when s describes no object with properties.
func fieldsOf(s *invopop.Schema) []Field {
	s = resolve(s, s)
	if s == nil || s.Properties == nil {
		return nil
	}
	var out []Field
	for p := s.Properties.Oldest(); p != nil; p = p.Next() {
		out = append(out, fieldOf(p.Key, resolve(s, p.Value), slices.Contains(s.Required, p.Key)))
	}
	return out
}

// fieldOf describes one property.
func fieldOf(name string, p *invopop.Schema, required bool) Field {
	f := Field{Name: name, Required: required, Input: "json"}
	if p == nil {
		return f
	}
	f.Title, f.Description, f.Format, f.Pattern = p.Title, p.Description, p.Format, p.Pattern
	f.Minimum, f.Maximum = p.Minimum.String(), p.Maximum.String()
	if p.MinLength != nil {
		f.MinLength = *p.MinLength
	}
	if p.MaxLength != nil {
		f.MaxLength = *p.MaxLength
	}
	if p.Default != nil {
		f.Default = text(p.Default)
	}
	switch {
	case len(p.Enum) > 0 && scalars(p.Enum):
		f.Input, f.Type = "select", p.Type
		for _, v := range p.Enum {
			f.Enum = append(f.Enum, text(v))
		}
		if f.Type == "" {
			f.Type = "string"
			if _, ok := p.Enum[0].(float64); ok {
				f.Type = "number"
			}
		}
	case p.Type == "string" && p.ContentEncoding == "":
		f.Input, f.Type = "text", "string"
	case p.Type == "integer", p.Type == "number", p.Type == "boolean":
		f.Input, f.Type = p.Type, p.Type
	}
	return f
}

// resolve follows s's local references ("#/$defs/Name") in root, a few
// deep; nil for a reference it cannot follow.
func resolve(root, s *invopop.Schema) *invopop.Schema {
	for range 8 {
		if s == nil || s.Ref == "" {
			return s
		}
		name, ok := strings.CutPrefix(s.Ref, "#/$defs/")
		if !ok {
			return nil
		}
		s = root.Definitions[name]
	}
	return nil
}

// scalars reports whether every value of an enum is a string or a
// number, which a select can offer.
func scalars(vs []any) bool {
	for _, v := range vs {
		switch v.(type) {
		case string, float64, json.Number, int, int64:
		default:
			return false
		}
	}
	return true
}

// text is v as an input's text: a string as is, anything else as JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
