// Package jsoncheck checks that a JSON value is one every store keeps
// exactly. It is store.CheckJSON, here so that packages that must not
// import store (httpapi) check request bodies as the stores will.
package jsoncheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/kilntype"
)

// MaxNumberLength caps the length of a number in args and metadata, in
// bytes: numbers are kept exactly up to this length by every store.
const MaxNumberLength = 100

// MaxDepth caps how deep arrays and objects nest in args, metadata and
// outputs: SQLite's JSON functions refuse a value nested deeper than
// 1,000 ("malformed JSON"), and a value at encoding/json's own limit
// (10,000) could not be decoded once embedded in a job's JSON (the HTTP
// API's, `kiln jobs show --json`).
const MaxDepth = 1000

// Check returns a *kilntype.ValidationError for field unless b is one
// valid JSON value that every store keeps exactly: valid UTF-8, no \u0000
// (NUL) and no unpaired surrogate escape in its strings (PostgreSQL's
// jsonb refuses both), numbers of at most MaxNumberLength bytes within
// float64's range, and arrays and objects nested at most MaxDepth deep.
// It is store.CheckJSON; see there.
func Check(field string, b []byte) error {
	bad := func(format string, args ...any) error {
		return &kilntype.ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
	}
	if !json.Valid(b) {
		var v any
		err := json.Unmarshal(b, &v)
		return &kilntype.ValidationError{Field: field, Message: "not valid JSON", Err: err}
	}
	if !utf8.Valid(b) {
		i := 0
		for i < len(b) {
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		return bad("not valid UTF-8 (byte 0x%02x at offset %d)", b[i], i)
	}
	depth := 0
	for i := 0; i < len(b); {
		switch c := b[i]; {
		case c == '[' || c == '{':
			if depth++; depth > MaxDepth {
				return bad("nested more than %d deep (at offset %d); at most %d", MaxDepth, i, MaxDepth)
			}
			i++
		case c == ']' || c == '}':
			depth--
			i++
		case c == '"':
			end, err := checkJSONString(b, i)
			if err != nil {
				return bad("%v", err)
			}
			i = end
		case c == '-' || (c >= '0' && c <= '9'):
			end := i + 1
			for end < len(b) && bytes.IndexByte([]byte("0123456789.eE+-"), b[end]) >= 0 {
				end++
			}
			if err := checkJSONNumber(b[i:end]); err != nil {
				return bad("number at offset %d: %v", i, err)
			}
			i = end
		default:
			i++
		}
	}
	return nil
}

// checkJSONString checks the string starting at b[start] (a quote) and
// returns the offset after its closing quote. b is valid JSON.
func checkJSONString(b []byte, start int) (int, error) {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			return i + 1, nil
		case '\\':
			i++
			if b[i] != 'u' {
				continue
			}
			r := hex4(b[i+1 : i+5])
			switch {
			case r == 0:
				return 0, fmt.Errorf("holds \\u0000 (NUL) at offset %d; text may not contain NUL (encode binary data, as base64 for example)", i-1)
			case r >= 0xDC00 && r <= 0xDFFF:
				return 0, fmt.Errorf("holds an unpaired surrogate \\u%04x at offset %d", r, i-1)
			case r >= 0xD800 && r <= 0xDBFF:
				if i+10 >= len(b) || b[i+5] != '\\' || b[i+6] != 'u' {
					return 0, fmt.Errorf("holds an unpaired surrogate \\u%04x at offset %d", r, i-1)
				}
				if low := hex4(b[i+7 : i+11]); low < 0xDC00 || low > 0xDFFF {
					return 0, fmt.Errorf("holds an unpaired surrogate \\u%04x at offset %d", r, i-1)
				}
				i += 6
			}
			i += 4
		}
	}
	return len(b), nil
}

// hex4 decodes the four hex digits of a \u escape (valid JSON).
func hex4(h []byte) rune {
	n, _ := strconv.ParseUint(string(h), 16, 16)
	return rune(n)
}

// errNumberRange is checkJSONNumber's error for numbers beyond float64
// or with an exponent beyond ±400.
var errNumberRange = errors.New("out of the range of a float64 (about 1e-308 to 1e308 in magnitude, exponent within ±400)")

// checkJSONNumber checks one JSON number.
func checkJSONNumber(n []byte) error {
	if len(n) > MaxNumberLength {
		return fmt.Errorf("%d bytes long; at most %d (send longer numbers as strings)", len(n), MaxNumberLength)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || math.IsInf(f, 0) {
		return errNumberRange
	}
	mantissa, exp, hasExp := bytes.Cut(bytes.ToLower(n), []byte("e"))
	if hasExp {
		// PostgreSQL keeps a zero's scale too: 0e-20000 overflows it.
		if e, err := strconv.Atoi(string(exp)); err != nil || e < -400 || e > 400 {
			return errNumberRange
		}
	}
	// Underflow gives 0 without an error: a nonzero digit in the mantissa
	// means the number was not 0.
	if f == 0 && bytes.ContainsAny(mantissa, "123456789") {
		return errNumberRange
	}
	return nil
}
