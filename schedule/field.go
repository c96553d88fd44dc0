package schedule

import (
	"fmt"
	"strconv"
	"strings"

	cron "github.com/netresearch/go-cron"
)

// fieldKind identifies one position of a cron spec.
type fieldKind int

const (
	fieldSecond fieldKind = iota
	fieldMinute
	fieldHour
	fieldDom
	fieldMonth
	fieldDow
	numFields
)

// fieldDef describes the values one field accepts. parser is a go-cron parser
// that reads only this field, so that its errors can be tied to the field.
type fieldDef struct {
	name     string
	min, max int
	names    map[string]int // lower-case three-letter names, or nil
	question bool           // "?" allowed, as a synonym of "*"
	parser   cron.Parser
}

var fieldDefs = [numFields]fieldDef{
	fieldSecond: {name: "second", min: 0, max: 59, parser: cron.MustNewParser(cron.Second)},
	fieldMinute: {name: "minute", min: 0, max: 59, parser: cron.MustNewParser(cron.Minute)},
	fieldHour:   {name: "hour", min: 0, max: 23, parser: cron.MustNewParser(cron.Hour)},
	fieldDom:    {name: "day-of-month", min: 1, max: 31, question: true, parser: cron.MustNewParser(cron.Dom)},
	fieldMonth: {name: "month", min: 1, max: 12, parser: cron.MustNewParser(cron.Month), names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}},
	fieldDow: {name: "day-of-week", min: 0, max: 7, question: true, parser: cron.MustNewParser(cron.Dow), names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}},
}

// term is one comma-separated item of a field: "*", "?", "5", "1-5", "*/15",
// "10-40/10" or "5/15" (5 through the field's maximum, every 15).
type term struct {
	star    bool // "*" or "?"
	ranged  bool // written as lo-hi
	lo, hi  int  // bounds as written; the field's bounds for a star
	step    int  // 1 when no step was written
	stepped bool // a "/step" was written
}

// single reports whether the term is one plain value such as "30".
func (t term) single() bool { return !t.star && !t.ranged && !t.stepped }

// cronField is one parsed field: its text, its terms and the set of values it
// matches, as a bit set computed by go-cron.
type cronField struct {
	text  string
	terms []term
	bits  uint64
}

// starLike reports whether the field starts with "*" or "?". As in Vixie
// cron, such a day-of-month or day-of-week field does not take part in the
// "either day field matches" rule, even when it has a step ("*/2").
func (f cronField) starLike() bool {
	return strings.HasPrefix(f.text, "*") || strings.HasPrefix(f.text, "?")
}

// timed reports whether the field is a plain value or a list of plain values
// ("30", "0,15,45"), as opposed to one with "*", a range or a step. See the
// package documentation on daylight-saving time for why this matters.
func (f cronField) timed() bool {
	for _, t := range f.terms {
		if !t.single() {
			return false
		}
	}
	return true
}

// singleValue returns the field's value when it is one plain value.
func (f cronField) singleValue() (int, bool) {
	if len(f.terms) == 1 && f.terms[0].single() {
		return f.terms[0].lo, true
	}
	return 0, false
}

// parseField validates text against the field's grammar, reporting errors
// that name the offending value, and then has go-cron compute the bit set.
func parseField(kind fieldKind, text string) (cronField, error) {
	def := &fieldDefs[kind]
	items := strings.Split(text, ",")
	terms := make([]term, 0, len(items))
	for _, item := range items {
		t, err := def.parseTerm(item, text)
		if err != nil {
			return cronField{}, err
		}
		terms = append(terms, t)
	}
	// go-cron reads names in lower case only when they do not look like a
	// Jenkins "H" expression, so hand it the lower-case text ("thu", not "THU").
	sched, err := def.parser.Parse(strings.ToLower(text))
	if err != nil {
		return cronField{}, err
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return cronField{}, fmt.Errorf("unexpected schedule type %T from cron parser", sched)
	}
	var bits uint64
	switch kind {
	case fieldSecond:
		bits = spec.Second
	case fieldMinute:
		bits = spec.Minute
	case fieldHour:
		bits = spec.Hour
	case fieldDom:
		bits = spec.Dom
	case fieldMonth:
		bits = spec.Month
	case fieldDow:
		bits = spec.Dow // Sunday written as 7 is already folded into bit 0
	}
	// Keep only the value bits (go-cron marks "*" with the top bit).
	bits &= (uint64(1)<<(def.max+1) - 1) &^ (uint64(1)<<def.min - 1)
	if kind == fieldDow {
		bits &= 0x7f
	}
	if bits == 0 {
		return cronField{}, fmt.Errorf("%q matches no value", text)
	}
	return cronField{text: text, terms: terms, bits: bits}, nil
}

// parseTerm parses one list item. field is the whole field, for messages.
func (def *fieldDef) parseTerm(item, field string) (term, error) {
	if item == "" {
		return term{}, fmt.Errorf("empty item in list %q", field)
	}
	t := term{step: 1}
	rangePart, stepPart, hasStep := strings.Cut(item, "/")
	if hasStep {
		if strings.Contains(stepPart, "/") {
			return term{}, fmt.Errorf("invalid step in %q: more than one \"/\"", item)
		}
		n, err := strconv.Atoi(stepPart)
		if err != nil || !isDigits(stepPart) {
			return term{}, fmt.Errorf("invalid step %q in %q", stepPart, item)
		}
		if n < 1 {
			return term{}, fmt.Errorf("step %d in %q must be at least 1", n, item)
		}
		t.step, t.stepped = n, true
	}
	switch {
	case rangePart == "*" || rangePart == "?":
		if rangePart == "?" && !def.question {
			return term{}, fmt.Errorf("\"?\" is allowed only in the day-of-month and day-of-week fields")
		}
		t.star, t.lo, t.hi = true, def.min, def.max
		if t.stepped && rangePart == "?" {
			return term{}, fmt.Errorf("\"?\" cannot take a step: %q", item)
		}
	default:
		loText, hiText, ranged := strings.Cut(rangePart, "-")
		if ranged && strings.Contains(hiText, "-") {
			return term{}, fmt.Errorf("invalid range %q: more than one \"-\"", rangePart)
		}
		lo, err := def.value(loText, item)
		if err != nil {
			return term{}, err
		}
		t.lo, t.hi = lo, lo
		if ranged {
			hi, err := def.value(hiText, item)
			if err != nil {
				return term{}, err
			}
			t.hi, t.ranged = hi, true
		} else if t.stepped {
			t.hi = def.max // "5/15" means 5 through the maximum, every 15
		}
	}
	if t.stepped && t.step > 1 {
		size := t.hi - t.lo + 1
		if t.lo > t.hi { // a range that wraps around, such as 22-2
			size = def.max - t.lo + 1 + t.hi - def.min + 1
		}
		if t.step >= size {
			return term{}, fmt.Errorf("step %d in %q must be smaller than the %d values it steps over", t.step, item, size)
		}
	}
	return t, nil
}

// value parses a number or a name and checks it against the field's bounds.
func (def *fieldDef) value(s, item string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("missing value in %q", item)
	}
	if n, ok := def.names[strings.ToLower(s)]; ok {
		return n, nil
	}
	if !isDigits(s) {
		return 0, fmt.Errorf("invalid value %q", s)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < def.min || n > def.max {
		return 0, fmt.Errorf("value %s out of range %d-%d", s, def.min, def.max)
	}
	return n, nil
}

// isDigits reports whether s is a non-empty run of ASCII digits.
func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
