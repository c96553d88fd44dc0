package sqlite

import (
	"encoding/json"
	"testing"
)

// TestAppendJSONString checks that appendJSONString's strings decode to
// what json.Marshal's decode to, for every byte below 0x80, quotes,
// backslashes, multi-byte UTF-8 and invalid UTF-8.
func TestAppendJSONString(t *testing.T) {
	ss := []string{"", "key 1", `a"b\c`, "tenant/é/日本", "\u2028<&>", "\xff\xfeab", "x\xc3"}
	var all []byte
	for c := 0; c < 0x80; c++ {
		all = append(all, byte(c))
	}
	ss = append(ss, string(all))
	for _, s := range ss {
		got := appendJSONString([]byte("prefix"), s)
		if string(got[:6]) != "prefix" {
			t.Fatalf("%q: the prefix was lost: %q", s, got)
		}
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var gotS, wantS string
		if err := json.Unmarshal(got[6:], &gotS); err != nil {
			t.Fatalf("%q: %s is not a JSON string: %v", s, got[6:], err)
		}
		if err := json.Unmarshal(want, &wantS); err != nil {
			t.Fatal(err)
		}
		if gotS != wantS {
			t.Errorf("%q: decodes to %q, json.Marshal's to %q", s, gotS, wantS)
		}
	}
	if n := testing.AllocsPerRun(10, func() { appendJSONString(make([]byte, 0, 64), "tenant-42") }); n > 1 {
		t.Errorf("appendJSONString made %.0f allocations, want 1 (the buffer)", n)
	}
}
