package kiln

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The args types of TestArgsDecodeAsEncodingJSON: a field of every kind
// encoding/json decodes, with its special cases (case-insensitive names,
// tags, ",string", embedded structs, json.Number and RawMessage,
// UnmarshalJSON and UnmarshalText, interfaces).
type (
	decodeInner struct {
		A int `json:"a"`
		B string
		C *float64 `json:"c,omitempty"`
	}
	decodeEmbedded struct {
		E1 int
	}
	decodeHidden struct{ H int }
	decodeAmbig1 struct{ X, Y int }
	decodeAmbig2 struct {
		X int
		Y int `json:"Y"`
	}
	// decodeText is an encoding.TextUnmarshaler that refuses "bad".
	decodeText struct{ v string }
	// decodeCustom is a json.Unmarshaler that keeps the text it is given
	// and refuses arrays.
	decodeCustom struct{ raw string }

	decodeRich struct {
		N       int `json:"n"`
		I8      int8
		I64     int64
		U8      uint8
		U       uint
		F32     float32
		F64     float64
		S       string `json:"s"`
		B       bool
		P       *int
		PP      **int
		PS      *string
		Sl      []int
		SS      []string
		SInner  []decodeInner
		Arr     [3]int
		M       map[string]int
		MI      map[int]string
		MP      map[string]*decodeInner
		Any     any
		AnyM    map[string]any
		Raw     json.RawMessage
		Num     json.Number
		Str     int    `json:",string"`
		StrS    string `json:"strs,string"`
		StrB    bool   `json:"strb,string"`
		Ignored int    `json:"-"`
		Inner   decodeInner
		PInner  *decodeInner
		decodeEmbedded
		*decodeHidden
		decodeAmbig1
		decodeAmbig2
		T       time.Time
		PT      *time.Time
		D       time.Duration
		Bytes   []byte
		Text    decodeText
		PText   *decodeText
		TextMap map[decodeText]int
		Custom  decodeCustom
		PCustom *decodeCustom
		Ifc     fmt.Stringer
		Kelvin  int    `json:"k"`
		Under   int    `json:"snake_case"`
		Uni     string `json:"ünï"`
	}
	decodeFlat struct {
		N    int      `json:"n"`
		Name string   `json:"name"`
		Ok   bool     `json:"ok"`
		F    float64  `json:"f"`
		Tags []string `json:"tags"`
	}
)

func (t *decodeText) UnmarshalText(b []byte) error {
	if string(b) == "bad" {
		return errors.New("bad text")
	}
	t.v = "T:" + string(b)
	return nil
}

func (c *decodeCustom) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' {
		return errors.New("custom refuses arrays")
	}
	c.raw = string(b)
	return nil
}

// decodeNames are the object keys the generator uses: the fields' names in
// several cases (the Kelvin sign and the long s fold to k and s), unknown
// names, and the names of other types' fields.
var decodeNames = []string{"n", "N", "I8", "i8", "I64", "U8", "U", "u", "F32", "F64", "f64", "s", "S", "B", "b", "P", "PP",
	"PS", "Sl", "SS", "SInner", "Arr", "M", "MI", "MP", "Any", "AnyM", "Raw", "Num", "Str", "strs", "strb", "Ignored", "-",
	"Dash", "Inner", "PInner", "E1", "e1", "e2", "H", "h", "X", "Y", "decodeEmbedded", "T", "PT", "D", "Bytes", "Text",
	"PText", "TextMap", "Custom", "PCustom", "Ifc", "k", "K", "\u212a", "snake_case", "snakecase", "snake-case",
	"SNAKE_CASE", "ünï", "ÜNÏ", "unknown", "a", "name", "Name", "NAME", "ok", "f", "tags", "Tags", "ſ", "s\u017f"}

// decodeGen makes JSON texts from a seeded source: objects keyed by
// decodeNames, values of every JSON type (numbers at the integer types'
// bounds and beyond, strings with escapes, invalid UTF-8 and lone
// surrogates, times), nested; and, for every fourth, a mutation that
// mostly makes it invalid (cut, a byte replaced, text appended).
type decodeGen struct{ r *rand.Rand }

func (g decodeGen) value(depth int) string {
	k := g.r.IntN(14)
	if depth > 2 && k >= 10 {
		k = g.r.IntN(10)
	}
	switch k {
	case 0:
		return "null"
	case 1:
		return []string{"true", "false"}[g.r.IntN(2)]
	case 2:
		return strconv.Itoa(g.r.IntN(2000) - 1000)
	case 3:
		nums := []string{"0", "-0", "1e3", "1.5", "-2.25e-3", "1E400", "300", "256", "-129", "127",
			"9223372036854775807", "9223372036854775808", "18446744073709551616", "0.1",
			"12345678901234567890123", "3.4e39", "1e-400", "-1"}
		return nums[g.r.IntN(len(nums))]
	case 4, 5:
		return g.str()
	case 6:
		texts := []string{"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456789+02:00", "not a time", "123", "true",
			"AQID", "bad", "-5", "1e2", " 12", "12 ", ""}
		return strconv.Quote(texts[g.r.IntN(len(texts))])
	case 7:
		return "[]"
	case 8:
		return "{}"
	case 9:
		return `"\ud800"`
	case 10, 11:
		parts := make([]string, g.r.IntN(4))
		for i := range parts {
			parts[i] = g.value(depth + 1)
		}
		return "[" + strings.Join(parts, ",") + "]"
	default:
		return g.object(depth + 1)
	}
}

func (g decodeGen) str() string {
	alphabet := []string{"a", "b", "Z", "é", `\n`, `\u0041`, `\u00e9`, `\"`, `\\`, "\xff", "\xc3", `\ud83d\ude00`,
		`\udc00`, "1", " ", "\t", "/", `\/`, "\x01"}
	var sb strings.Builder
	sb.WriteByte('"')
	for range g.r.IntN(6) {
		sb.WriteString(alphabet[g.r.IntN(len(alphabet))])
	}
	sb.WriteByte('"')
	return sb.String()
}

func (g decodeGen) object(depth int) string {
	parts := make([]string, g.r.IntN(6))
	for i := range parts {
		var key string
		switch g.r.IntN(6) {
		case 0:
			key = g.str()
		case 1:
			key = `"` + decodeNames[g.r.IntN(len(decodeNames))] + `"`
		default:
			key = strconv.Quote(decodeNames[g.r.IntN(len(decodeNames))])
		}
		parts[i] = key + ":" + g.value(depth)
	}
	ws := []string{"", " ", "\n"}[g.r.IntN(3)]
	return "{" + ws + strings.Join(parts, ","+ws) + "}"
}

func (g decodeGen) mutate(s string) string {
	b := []byte(s)
	switch g.r.IntN(6) {
	case 0:
		if len(b) > 0 {
			return string(b[:g.r.IntN(len(b))])
		}
	case 1:
		if len(b) > 0 {
			b[g.r.IntN(len(b))] = `{}[]",:x0 \`[g.r.IntN(11)]
		}
	case 2:
		return s + []string{" ", "x", "{}", "\n", ","}[g.r.IntN(5)]
	case 3:
		return " " + s
	}
	return string(b)
}

// checkDecodeAsEncodingJSON decodes n generated texts (top-level objects,
// or any value with anyValue) into a T with decodeArgs and with
// encoding/json, and fails on any difference in value or error text. It
// returns how many texts go-json decoded itself, without falling back.
func checkDecodeAsEncodingJSON[T any](t *testing.T, seed uint64, n int, anyValue bool) (fast int) {
	t.Helper()
	g := decodeGen{rand.New(rand.NewPCG(seed, seed+1))}
	for i := range n {
		in := g.object(0)
		if anyValue {
			in = g.value(0)
		}
		if i%4 == 3 {
			in = g.mutate(in)
		}
		var got, want, probe T
		err := decodeArgs([]byte(in), &got)
		wantErr := json.Unmarshal([]byte(in), &want)
		if fmt.Sprint(err) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("%T from %q:\ndecodeArgs:    %+v, %v\nencoding/json: %+v, %v", got, in, got, err, want, wantErr)
		}
		if decodeFast([]byte(in), &probe) {
			fast++
		}
	}
	return fast
}

// decodeArgs gives encoding/json's value and error for every input: over
// 20,000 generated texts per type (a fourth of them mutated), go-json's
// successes are encoding/json's with the same value, and its failures fall
// back to encoding/json. The counts of inputs go-json decoded itself keep
// the test from passing on the fallback alone.
func TestArgsDecodeAsEncodingJSON(t *testing.T) {
	const n = 20000
	for _, c := range []struct {
		name  string
		check func() int
	}{
		{"rich struct", func() int { return checkDecodeAsEncodingJSON[decodeRich](t, 1, n, false) }},
		{"flat struct", func() int { return checkDecodeAsEncodingJSON[decodeFlat](t, 3, n, false) }},
		{"map", func() int { return checkDecodeAsEncodingJSON[map[string]any](t, 5, n, false) }},
		{"any", func() int { return checkDecodeAsEncodingJSON[any](t, 7, n, true) }},
		{"slice", func() int { return checkDecodeAsEncodingJSON[[]any](t, 9, n, true) }},
	} {
		fast := c.check()
		t.Logf("%s: %d of %d inputs decoded by go-json", c.name, fast, n)
		if fast < n/10 {
			t.Errorf("%s: go-json decoded %d of %d inputs, want at least a tenth", c.name, fast, n)
		}
	}
}

// A decode that fails gives encoding/json's error (its text, which the
// attempt records, and its type) and a value decoded from zero; a
// panic of the library is not the caller's.
func TestArgsDecodeErrors(t *testing.T) {
	var v decodeFlat
	err := decodeArgs([]byte(`{"n": "x", "name": "a"}`), &v)
	var typeErr *json.UnmarshalTypeError
	if !errors.As(err, &typeErr) || err.Error() != "json: cannot unmarshal string into Go struct field decodeFlat.n of type int" {
		t.Fatalf("error %v (%T), want encoding/json's UnmarshalTypeError", err, err)
	}
	if v.Name != "a" {
		t.Fatalf("value %+v, want encoding/json's (the name decoded)", v)
	}
	var syntaxErr *json.SyntaxError
	if err := decodeArgs([]byte(`{"n": 1`), &v); !errors.As(err, &syntaxErr) {
		t.Fatalf("error %v (%T), want encoding/json's SyntaxError", err, err)
	}
	depth := strings.Repeat("[", 100001) + strings.Repeat("]", 100001)
	var a any
	if err := decodeArgs([]byte(depth), &a); err == nil || err.Error() != "invalid character '[' exceeded max depth" {
		t.Fatalf("100,001 nested arrays: %v, want encoding/json's max depth error", err)
	}
}

type decodeAllocArgs struct {
	N int `json:"n"`
}

func (decodeAllocArgs) Kind() string { return "decode_alloc" }

// A job's args {"n": 12345} decode without an allocation (encoding/json's
// decode state, error context and field stack were three, 208 bytes per
// job of a burn-down).
func TestArgsDecodeAllocations(t *testing.T) {
	if raceEnabled {
		// sync.Pool drops items at random under -race: the decode state
		// is then allocated again (seen: 1 per decode, load ~20).
		t.Skip("allocations are counted without -race (.ci/run)")
	}
	u := decodeUnit[decodeAllocArgs](`{"n": 12345}`)
	if n := testing.AllocsPerRun(100, func() {
		u.job.Args = decodeAllocArgs{}
		if err := u.Decode(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations to decode args {\"n\": 12345}, want 0", n)
	}
	if u.job.Args.N != 12345 {
		t.Fatalf("args %+v, want N 12345", u.job.Args)
	}
}

// decodeBoth is a map key with both unmarshal methods: encoding/json
// calls UnmarshalJSON for it, go-json UnmarshalText (review S).
type decodeBoth string

func (b *decodeBoth) UnmarshalJSON(p []byte) error { *b = decodeBoth("j" + string(p)); return nil }
func (b *decodeBoth) UnmarshalText(p []byte) error { *b = decodeBoth("t" + string(p)); return nil }

type decodeBothArgs struct {
	M map[decodeBoth]int `json:"m"`
}

func (decodeBothArgs) Kind() string { return "decode_both" }

// Args of a type with an unmarshal method anywhere in its tree are
// decoded by encoding/json alone: a map key with UnmarshalJSON and
// UnmarshalText gets encoding/json's result. Plain types go to go-json.
func TestArgsDecodePlainTypesOnly(t *testing.T) {
	u := decodeUnit[decodeBothArgs](`{"m": {"k": 1}}`)
	var want decodeBothArgs
	if err := json.Unmarshal([]byte(`{"m": {"k": 1}}`), &want); err != nil {
		t.Fatal(err)
	}
	if err := u.Decode(); err != nil || !reflect.DeepEqual(u.job.Args, want) {
		t.Fatalf("decoded %+v, %v; want encoding/json's %+v", u.job.Args, err, want)
	}
	for _, c := range []struct {
		v     any
		plain bool
	}{{decodeAllocArgs{}, true}, {decodeFlat{}, true}, {map[string]any{}, true}, {decodeBothArgs{}, false},
		{decodeRich{}, false}, {struct{ T *time.Time }{}, false}, {struct{ M map[decodeText]int }{}, false}} {
		if got := plainArgsType(reflect.TypeOf(c.v)); got != c.plain {
			t.Errorf("plainArgsType(%T) = %v, want %v", c.v, got, c.plain)
		}
	}
}
