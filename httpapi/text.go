package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/internal/jsoncheck"
)

// checkBodyText returns a 400 naming the first string of body (keys
// included) that no store keeps as sent: bytes that are not UTF-8 and
// unpaired surrogate escapes, which encoding/json would silently replace
// with U+FFFD, and \u0000 (NUL). The field is the string's path in the
// request ("tags[0]", "jobs[1].args.name"). A body that is not valid JSON
// is left to the decoder to report.
func checkBodyText(body []byte) error {
	if utf8.Valid(body) && !bytes.Contains(body, []byte(`\u`)) {
		return nil // nothing to look at: the common case
	}
	type frame struct {
		object    bool
		key       string
		index     int
		expectKey bool
	}
	var stack []*frame
	path := func(key string, isKey bool) string {
		var b []byte
		for i, f := range stack {
			switch {
			case !f.object:
				b = fmt.Appendf(b, "[%d]", f.index)
			case i == len(stack)-1 && isKey:
				b = appendKey(b, key)
			default:
				b = appendKey(b, f.key)
			}
		}
		return string(bytes.TrimPrefix(b, []byte(".")))
	}
	advance := func() {
		if len(stack) == 0 {
			return
		}
		if f := stack[len(stack)-1]; f.object {
			f.expectKey = true
		} else {
			f.index++
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	for {
		start := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil // the end, or invalid JSON: the decoder reports it
		}
		end := dec.InputOffset()
		isKey := len(stack) > 0 && stack[len(stack)-1].object && stack[len(stack)-1].expectKey
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, &frame{object: t == '{', expectKey: t == '{'})
			default:
				stack = stack[:len(stack)-1]
				advance()
			}
			continue
		case string:
			raw := bytes.TrimLeft(body[start:end], " \t\r\n,:")
			if err := jsoncheck.Check(path(t, isKey), raw); err != nil {
				return badRequest(path(t, isKey), "%v", err)
			}
		}
		if isKey {
			f := stack[len(stack)-1]
			f.key, f.expectKey = tok.(string), false
			continue
		}
		advance()
	}
}

// appendKey appends an object key to a field path: ".name", or
// `["a key"]` for keys that are not plain words.
func appendKey(b []byte, key string) []byte {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return append(append(b, '.'), key...)
	}
	return append(append(b, '['), strconv.Quote(key)+"]"...)
}
