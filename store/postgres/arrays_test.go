package postgres

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// TestArrayArgsEncode checks that the array parameter types encode to the
// bytes pgx sends for the plain slices, NULL elements, empty and nil
// arrays included, and that they do so without an allocation per element.
// It does not run in parallel: testing.AllocsPerRun counts the process's
// allocations.
func TestArrayArgsEncode(t *testing.T) {
	now := time.Now().Truncate(time.Microsecond)
	const n = 1000
	ids, texts, times, ptrs := make([]int64, n), make([]string, n), make([]time.Time, n), make([]*time.Time, n)
	for i := range n {
		ids[i] = int64(i) << 20
		texts[i] = fmt.Sprintf("proc-%d \"é\" \\ ,{}", i)
		times[i] = now.Add(time.Duration(i) * time.Millisecond)
		if i%3 != 0 {
			ptrs[i] = &times[i]
		}
	}
	for _, c := range []struct {
		name         string
		oid          uint32
		plain, typed any
	}{
		{"int8", pgtype.Int8ArrayOID, ids, int8Array(ids)},
		{"text", pgtype.TextArrayOID, texts, textArray(texts)},
		{"timestamptz", pgtype.TimestamptzArrayOID, times, timestamptzArray(times)},
		{"timestamptz with NULLs", pgtype.TimestamptzArrayOID, ptrs, timestamptzPtrArray(ptrs)},
		{"empty", pgtype.Int8ArrayOID, []int64{}, int8Array{}},
		{"nil", pgtype.TextArrayOID, []string(nil), textArray(nil)},
		{"all NULL", pgtype.TimestamptzArrayOID, []*time.Time{nil, nil}, timestamptzPtrArray{nil, nil}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := pgtype.NewMap()
			want, err := m.Encode(c.oid, pgtype.BinaryFormatCode, c.plain, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := m.Encode(c.oid, pgtype.BinaryFormatCode, c.typed, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || (got == nil) != (want == nil) {
				t.Fatalf("encoded %d bytes (nil %t), want pgx's %d bytes for the plain slice (nil %t)",
					len(got), got == nil, len(want), want == nil)
			}
			buf := make([]byte, 0, 2*len(want)+64)
			allocs := testing.AllocsPerRun(20, func() {
				if _, err := m.Encode(c.oid, pgtype.BinaryFormatCode, c.typed, buf[:0]); err != nil {
					t.Fatal(err)
				}
			})
			// The array's dimensions are one allocation per array; an
			// allocation per element would be 1,000.
			if allocs > 2 {
				t.Fatalf("%v allocations per encoded array, want at most 2", allocs)
			}
		})
	}
}

// TestArrayArg checks that arrayArg uses the array types only in the query
// exec modes that describe the statement: in exec and simple_protocol
// modes, pgx infers the parameter's type from the plain slice.
func TestArrayArg(t *testing.T) {
	t.Parallel()
	ids := []int64{1, 2}
	for _, c := range []struct {
		mode  pgx.QueryExecMode
		typed bool
	}{
		{pgx.QueryExecModeCacheStatement, true},
		{pgx.QueryExecModeCacheDescribe, true},
		{pgx.QueryExecModeDescribeExec, true},
		{pgx.QueryExecModeExec, false},
		{pgx.QueryExecModeSimpleProtocol, false},
	} {
		_, typed := arrayArg[int8Array](describesParams(c.mode), ids).(int8Array)
		if typed != c.typed {
			t.Errorf("mode %v: typed array %t, want %t", c.mode, typed, c.typed)
		}
	}
}
