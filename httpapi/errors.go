package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/kilnjobs/kiln"
)

// Error is the body of every error response, and an error the handlers
// return: {"error": "what was wrong", "field": "where"}. Field names the
// request field, query parameter or path parameter at fault, in the
// request's own spelling ("priority", "jobs.priority", "state", "id"), and
// is omitted when no single field is.
type Error struct {
	// Status is the HTTP status code; not part of the body.
	Status int `json:"-"`
	// Message says what was wrong, and where in the body for bad JSON.
	Message string `json:"error"`
	// Field is the field at fault, if one is.
	Field string `json:"field,omitempty"`
}

// Error returns the message, with the field when there is one.
func (e *Error) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// badRequest returns a 400 Error for field.
func badRequest(field, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Field: field, Message: fmt.Sprintf(format, args...)}
}

// toError turns a handler's error into the Error to answer: an *Error as
// is, the client's sentinel errors by their meaning, a
// *kiln.ValidationError as a 400 naming its field, anything else 500.
func (a *api) toError(err error) *Error {
	var e *Error
	var tooBig *http.MaxBytesError
	var invalid *kiln.ValidationError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &tooBig):
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes", tooBig.Limit)}
	case errors.Is(err, kiln.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: err.Error()}
	case errors.Is(err, kiln.ErrJobRunning), errors.Is(err, kiln.ErrJobState):
		return &Error{Status: http.StatusConflict, Message: err.Error()}
	case errors.Is(err, kiln.ErrUnknownKind):
		return &Error{Status: http.StatusBadRequest, Field: "kind", Message: err.Error()}
	case errors.As(err, &invalid):
		return &Error{Status: http.StatusBadRequest, Field: invalid.Field, Message: err.Error()}
	}
	return &Error{Status: http.StatusInternalServerError, Message: err.Error()}
}

// writeJSON answers status with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, err = w.Write(append(body, '\n'))
	return err
}

// writeError answers e. The write's own error is dropped: the client went
// away.
func writeError(w http.ResponseWriter, e *Error) {
	w.Header().Set("Cache-Control", "no-store")
	_ = writeJSON(w, e.Status, e)
}

// checkContentType returns a 415 Error for a state-changing request
// (POST, PUT, PATCH, DELETE) whose Content-Type is not application/json
// (parameters such as charset aside), or that has a body and no
// Content-Type; nil for other methods. A request without a body may leave
// Content-Type out. An HTML form of another site, which a browser sends
// without asking (a CORS "simple" request), always has another type, so it
// never reaches a handler, whether the route reads a body or not.
func checkContentType(r *http.Request) *Error {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return nil
	}
	types := r.Header.Values("Content-Type")
	if len(types) > 1 {
		return &Error{Status: http.StatusUnsupportedMediaType, Message: fmt.Sprintf("%d Content-Type headers: want one, application/json", len(types))}
	}
	if len(types) == 1 && types[0] != "" {
		mt, _, err := mime.ParseMediaType(types[0])
		if err != nil || mt != "application/json" {
			return &Error{Status: http.StatusUnsupportedMediaType, Message: fmt.Sprintf("Content-Type %q: want application/json", types[0])}
		}
		return nil
	}
	if hasBody(r) {
		return &Error{Status: http.StatusUnsupportedMediaType, Message: "a request body without a Content-Type: want Content-Type: application/json"}
	}
	return nil
}

// hasBody reports whether r has a body of at least one byte. When its
// length is not known (chunked), it reads the first byte and puts it back.
func hasBody(r *http.Request) bool {
	switch {
	case r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0:
		return false
	case r.ContentLength > 0:
		return true
	}
	var first [1]byte
	n, err := io.ReadFull(r.Body, first[:])
	if n == 0 {
		if err != nil && err != io.EOF {
			return true // a read error, such as the body limit's: not an empty body
		}
		return false
	}
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(first[:n]), r.Body), r.Body}
	return true
}

// decodeBody decodes r's body, which must be one JSON value, into v,
// rejecting unknown fields, strings no store keeps as sent (see
// checkBodyText), duplicate fields and fields spelt in another case (see
// checkFieldNames). Every handler that reads a body goes through it. Its
// errors say where the JSON went wrong: the byte offset of a syntax error,
// the field of a type mismatch, an unknown, duplicate or miscased field or
// a bad string. Its Content-Type was checked before the handler ran
// (checkContentType).
func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return err // the body limit's *http.MaxBytesError, or a failed read
	}
	if err := checkBodyText(body); err != nil {
		return err
	}
	if err := checkFieldNames(body, reflect.TypeOf(v)); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil || !isJSONError(err) {
			return badRequest("", "invalid JSON: unexpected data after the value at byte %d", dec.InputOffset())
		}
		return jsonError(err)
	}
	return nil
}

// isJSONError reports whether err is a syntax error of the body rather than
// a failure to read it.
func isJSONError(err error) bool {
	var syn *json.SyntaxError
	return errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF)
}

// jsonError turns a decoding error into a 400 Error saying where the JSON
// went wrong, or passes on a read error (such as the body limit's).
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return badRequest("", "empty request body: want a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("", "invalid JSON: the body ends in the middle of a value")
	case errors.As(err, &syn):
		return badRequest("", "invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("", "the body is a JSON %s; want a JSON object", typ.Value)
		}
		// encoding/json names the embedded jobTemplate in the path; the
		// request has no such level.
		field := strings.ReplaceAll(typ.Field, "jobTemplate.", "")
		return badRequest(field, "got a JSON %s at byte %d, want %s", typ.Value, typ.Offset, jsonType(typ.Type, typ.Value))
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		field := strings.Trim(name, `"`)
		return badRequest(field, "unknown field %s", name)
	}
	return err
}

// jsonType names what JSON value a Go type takes, given the value that
// did not fit ("number 1.5", "string"): "a whole number" for an integer,
// and its range when the value was an integer out of it; "a number" for a
// float.
func jsonType(t reflect.Type, value string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	digits, _ := strings.CutPrefix(strings.TrimPrefix(value, "number "), "-")
	outOfRange := strings.HasPrefix(value, "number ") && digits != "" && strings.Trim(digits, "0123456789") == ""
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if outOfRange {
			return fmt.Sprintf("a whole number from %d to %d", int64(-1)<<(t.Bits()-1), uint64(1)<<(t.Bits()-1)-1)
		}
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if outOfRange {
			return fmt.Sprintf("a whole number from 0 to %d", uint64(math.MaxUint64)>>(64-t.Bits()))
		}
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "an object"
}
