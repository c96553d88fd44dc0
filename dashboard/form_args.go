package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/kilnjobs/kiln/internal/argschema"
)

// The ways the forms take a job's args (the form value args_mode).
const (
	// argsModeFields reads the args from one input per property of the
	// kind's schema (form values arg.NAME).
	argsModeFields = "fields"
	// argsModeJSON reads the args from the JSON textarea (form value
	// args); a form posted without args_mode is read so.
	argsModeJSON = "json"
)

// argsForm is the args part of a jobForm for a kind whose args have a
// JSON Schema (package argschema): the schema, how the args were given,
// and each property's value as typed.
type argsForm struct {
	// Schema is the kind's args schema; nil for a kind without one (no
	// worker in this process, or no kind chosen): the args are then
	// entered as JSON only.
	Schema *argschema.Schema
	// ArgsMode is argsModeFields or argsModeJSON.
	ArgsMode string
	// ArgValues holds each property's input text, by property name.
	ArgValues map[string]string
}

// argField is one property's input as the page shows it.
type argField struct {
	argschema.Field
	// ID is the input's ID: f-arg-N, N its index (names may hold any
	// character).
	ID string
	// Label is the property's title, or else its name.
	Label string
	// Value is the input's text; Checked a checkbox's state.
	Value   string
	Checked bool
	// Error is the property's error, if it has one.
	Error string
}

// HasFields reports whether the form shows one input per property.
func (f *jobForm) HasFields() bool { return f.Schema != nil && len(f.Schema.Fields) > 0 }

// SchemaJSON is the kind's args schema for the page's script, which
// checks the args in the browser before they are sent.
func (f *jobForm) SchemaJSON() string {
	if f.Schema == nil {
		return ""
	}
	return string(f.Schema.JSON)
}

// ArgFields returns the inputs of the kind's properties, in order.
func (f *jobForm) ArgFields() []argField {
	if !f.HasFields() {
		return nil
	}
	out := make([]argField, len(f.Schema.Fields))
	for i, sf := range f.Schema.Fields {
		a := argField{Field: sf, ID: fmt.Sprintf("f-arg-%d", i), Label: sf.Title, Value: f.ArgValues[sf.Name], Error: f.Errors["args."+sf.Name]}
		if a.Label == "" {
			a.Label = sf.Name
		}
		a.Checked = a.Value == "true"
		out[i] = a
	}
	return out
}

// argFieldOf returns the summary's entry of the error key "args.NAME"
// when NAME is one of the inputs shown.
func (f *jobForm) argFieldOf(key string) (formField, bool) {
	name, ok := strings.CutPrefix(key, "args.")
	if !ok || !f.HasFields() {
		return formField{}, false
	}
	for _, a := range f.ArgFields() {
		if a.Name == name {
			return formField{Name: key, ID: a.ID, Label: "Args: " + a.Label}, true
		}
	}
	return formField{}, false
}

// argErrorKey returns the key in jobForm.Errors under which an error of
// the client's field (such as "args.to" or "args.items[2]") is shown: the
// property's own input when the form shows inputs and has one for it,
// else "" (the caller falls back to the args textarea).
func (f *jobForm) argErrorKey(field string) string {
	rest, ok := strings.CutPrefix(field, "args.")
	if !ok || f.ArgsMode != argsModeFields || !f.HasFields() {
		return ""
	}
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		rest = rest[:i]
	}
	for _, sf := range f.Schema.Fields {
		if sf.Name == rest {
			return "args." + rest
		}
	}
	return ""
}

// loadSchema sets the form's schema, that of its kind's args in this
// process's client (none for a kind only other processes run, or one
// whose schema does not compile: that is logged), and the input mode:
// mode when given and possible, else inputs when the kind has a schema.
func (h *handler) loadSchema(f *jobForm, mode string) {
	s, err := argschema.ForKind(h.client, f.Kind)
	if err != nil {
		h.opts.Logger.Warn("dashboard: args schema", "error", err)
	}
	f.Schema = s
	switch {
	case !f.HasFields():
		f.ArgsMode = argsModeJSON
	case mode == argsModeFields || mode == argsModeJSON:
		f.ArgsMode = mode
	default:
		f.ArgsMode = argsModeFields
	}
	if f.ArgValues == nil {
		f.ArgValues = map[string]string{}
	}
}

// postedArgsMode returns the args mode of a posted form: argsModeJSON
// when it has none (a form made before the inputs, a script).
func postedArgsMode(r *http.Request) string {
	if m := r.PostFormValue("args_mode"); m != "" {
		return m
	}
	return argsModeJSON
}

// defaultArgs fills the inputs with the schema's defaults, for a new
// form, and the JSON textarea with the same object.
func (f *jobForm) defaultArgs() {
	if !f.HasFields() {
		return
	}
	for _, sf := range f.Schema.Fields {
		if sf.Default != "" {
			f.ArgValues[sf.Name] = sf.Default
		}
	}
	if args, ok := f.argsFromInputs(false); ok {
		f.Args = args
	}
}

// fillInputs sets the inputs from the args JSON (editing an entry). If
// some value has no input that can show it (a member the schema lacks,
// a string where a number is wanted), the form switches to JSON.
func (f *jobForm) fillInputs() {
	if !f.HasFields() {
		return
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(f.Args), &obj); err != nil || obj == nil {
		f.ArgsMode = argsModeJSON
		return
	}
	for _, sf := range f.Schema.Fields {
		raw, ok := obj[sf.Name]
		if !ok {
			continue
		}
		delete(obj, sf.Name)
		var s string
		isString := json.Unmarshal(raw, &s) == nil
		switch {
		case sf.Input == "json":
			f.ArgValues[sf.Name] = string(raw)
		case isString && (sf.Type == "string"):
			f.ArgValues[sf.Name] = s
		case !isString && sf.Type != "string" && string(raw) != "null":
			f.ArgValues[sf.Name] = string(raw)
		default:
			f.ArgsMode = argsModeJSON
		}
	}
	if len(obj) > 0 {
		f.ArgsMode = argsModeJSON
	}
}

// readArgInputs reads the posted inputs (arg.NAME) and, in input mode,
// makes the args JSON from them; an input that does not hold a value of
// its type gets an error.
func (f *jobForm) readArgInputs(r *http.Request) {
	if !f.HasFields() {
		return
	}
	for _, sf := range f.Schema.Fields {
		v := r.PostFormValue("arg." + sf.Name)
		if sf.Input != "text" && !(sf.Input == "select" && sf.Type == "string") {
			v = strings.TrimSpace(v)
		}
		f.ArgValues[sf.Name] = v
	}
	if f.ArgsMode != argsModeFields {
		return
	}
	if args, ok := f.argsFromInputs(true); ok {
		f.Args = args
	}
}

// argsFromInputs returns the args object the inputs make, indented, in
// the schema's order: an empty input is left out (a checkbox is false),
// a string as typed, numbers, booleans and JSON inputs as JSON. With
// record, an input that does not parse gets an error, and ok is false.
func (f *jobForm) argsFromInputs(record bool) (string, bool) {
	var b bytes.Buffer
	ok := true
	n := 0
	b.WriteString("{")
	for _, sf := range f.Schema.Fields {
		v := f.ArgValues[sf.Name]
		var val []byte
		switch {
		case sf.Input == "boolean":
			val = []byte(strconv.FormatBool(v == "true"))
		case v == "":
			continue
		case sf.Type == "string":
			val, _ = json.Marshal(v)
		case sf.Input == "json":
			if !json.Valid([]byte(v)) {
				if record {
					f.fieldError("args."+sf.Name, "Not valid JSON: an object such as {\"a\": 1}, an array such as [1, 2], a quoted string, a number, true or false.")
				}
				ok = false
				continue
			}
			var c bytes.Buffer
			_ = json.Compact(&c, []byte(v))
			val = c.Bytes()
		case sf.Type == "integer":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				if record {
					f.fieldError("args."+sf.Name, "A whole number, such as 42.")
				}
				ok = false
				continue
			}
			val = []byte(v)
		default: // a number
			if x, err := strconv.ParseFloat(v, 64); err != nil || !json.Valid([]byte(v)) {
				if record {
					f.fieldError("args."+sf.Name, "A number, such as 1.5.")
				}
				ok = false
				continue
			} else {
				val, _ = json.Marshal(x)
			}
		}
		if n > 0 {
			b.WriteString(",")
		}
		n++
		b.WriteString("\n  ")
		name, _ := json.Marshal(sf.Name)
		b.Write(name)
		b.WriteString(": ")
		b.Write(val)
	}
	if n > 0 {
		b.WriteString("\n")
	}
	b.WriteString("}")
	return b.String(), ok
}

// checkSchema checks the args against the kind's schema, when the args
// have no error yet, and records every problem: next to its input in
// input mode, else all on the args textarea.
func (f *jobForm) checkSchema() {
	if f.Schema == nil || f.argsFailed() {
		return
	}
	var onArgs []string
	for _, p := range f.Schema.Problems(f.Kind, []byte(f.Args)) {
		if key := f.argErrorKey(p.Field); key != "" {
			f.fieldError(key, p.Message)
			continue
		}
		onArgs = append(onArgs, p.Error())
	}
	if len(onArgs) > 0 {
		f.fieldError("args", strings.Join(onArgs, "; "))
	}
}

// argsFailed reports whether the args or one of their inputs has an
// error.
func (f *jobForm) argsFailed() bool {
	for k := range f.Errors {
		if k == "args" || strings.HasPrefix(k, "args.") {
			return true
		}
	}
	return false
}

// Hint says what the input takes: the property's description, then its
// type and bounds ("a whole number, 0 to 5"), its format, its default.
func (a argField) Hint() string {
	var parts []string
	switch a.Input {
	case "integer":
		parts = append(parts, "a whole number"+bounds(a.Minimum, a.Maximum))
	case "number":
		parts = append(parts, "a number"+bounds(a.Minimum, a.Maximum))
	case "json":
		parts = append(parts, "JSON")
	case "text":
		switch {
		case a.Format != "":
			parts = append(parts, a.Format)
		case a.MinLength > 0 && a.MaxLength > 0:
			parts = append(parts, fmt.Sprintf("%d to %d characters", a.MinLength, a.MaxLength))
		case a.MaxLength > 0:
			parts = append(parts, fmt.Sprintf("at most %d characters", a.MaxLength))
		case a.MinLength > 0:
			parts = append(parts, fmt.Sprintf("at least %d characters", a.MinLength))
		}
		if a.Pattern != "" {
			parts = append(parts, "matching "+a.Pattern)
		}
	}
	if a.Default != "" && a.Input != "boolean" {
		parts = append(parts, "default "+a.Default)
	}
	hint := strings.Join(parts, ", ")
	switch {
	case a.Description == "":
		return hint
	case hint == "":
		return a.Description
	}
	return a.Description + " (" + hint + ")"
}

// bounds words a number's bounds: " from 0", " 0 to 5", " up to 5".
func bounds(lo, hi string) string {
	switch {
	case lo != "" && hi != "":
		return ", " + lo + " to " + hi
	case lo != "":
		return ", at least " + lo
	case hi != "":
		return ", at most " + hi
	}
	return ""
}
