package postgres

import (
	"testing"
	"unsafe"
)

// TestRepeatedText checks that a value equal to the previous row's shares
// its string with no allocation, that a different value is read as it is,
// and that NULL is "" where the column is nullable and an error elsewhere.
func TestRepeatedText(t *testing.T) {
	var got string
	rt := repeatedText{to: &got}
	var first string
	for i, v := range []string{"noop", "noop", "other", "noop", ""} {
		buf := []byte(v) // pgx's buffer: overwritten by the next row
		if err := rt.ScanBytes(buf); err != nil {
			t.Fatal(err)
		}
		clear(buf)
		if got != v {
			t.Fatalf("row %d: read %q, want %q", i, got, v)
		}
		if i == 0 {
			first = got
		}
		if i == 1 && unsafe.StringData(got) != unsafe.StringData(first) {
			t.Fatal("a repeated value has a string of its own")
		}
	}
	buf := []byte("noop")
	if n := testing.AllocsPerRun(100, func() { _ = rt.ScanBytes(buf) }); n != 0 {
		t.Fatalf("%v allocations per repeated value, want 0", n)
	}
	if err := rt.ScanBytes(nil); err == nil {
		t.Fatal("NULL read into a NOT NULL column's string")
	}
	texts := newRepeatedTexts()
	got = "x"
	texts.leasedBy.to = &got
	if err := texts.leasedBy.ScanBytes(nil); err != nil || got != "" {
		t.Fatalf("NULL lease holder: %q, %v; want \"\"", got, err)
	}
}
