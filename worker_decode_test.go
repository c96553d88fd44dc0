package kiln

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

type emptyDecodeArgs struct {
	N int `json:"n"`
}

func (emptyDecodeArgs) Kind() string { return "empty_decode" }

// customDecodeArgs counts its UnmarshalJSON calls.
type customDecodeArgs struct{ calls int }

func (customDecodeArgs) Kind() string { return "custom_decode" }

func (a *customDecodeArgs) UnmarshalJSON([]byte) error { a.calls++; return nil }

// textDecodeArgs is an encoding.TextUnmarshaler: encoding/json refuses an
// object for it.
type textDecodeArgs struct{}

func (textDecodeArgs) Kind() string { return "text_decode" }

func (*textDecodeArgs) UnmarshalText([]byte) error { return nil }

type mapDecodeArgs map[string]int

func (mapDecodeArgs) Kind() string { return "map_decode" }

// decodeUnit returns the work unit of a job of T with args raw.
func decodeUnit[T JobArgs](raw string) *workUnit[T] {
	ws := NewWorkers()
	AddWorker(ws, WorkFunc(func(context.Context, *Job[T]) error { return nil }))
	var zero T
	e, _ := ws.entry(zero.Kind())
	return e.unit(&JobRow{Kind: zero.Kind(), Args: json.RawMessage(raw)}).(*workUnit[T])
}

// Args {} of a struct type that encoding/json would decode as nothing
// are not decoded: the worker gets the same zero value, without an
// allocation. Every other type's {} goes through encoding/json as before:
// an UnmarshalJSON is called, a TextUnmarshaler refuses an object, a map
// is made.
func TestEmptyArgsDecode(t *testing.T) {
	u := decodeUnit[emptyDecodeArgs]("{}")
	if n := testing.AllocsPerRun(100, func() {
		if err := u.Decode(); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations to decode args {}, want 0", n)
	}
	if u.job.Args != (emptyDecodeArgs{}) {
		t.Fatalf("args %+v, want the zero value", u.job.Args)
	}
	if u := decodeUnit[emptyDecodeArgs](`{"n":3}`); u.Decode() != nil || u.job.Args.N != 3 {
		t.Fatalf("args {\"n\":3} decoded as %+v", u.job.Args)
	}
	if u := decodeUnit[emptyDecodeArgs](`{"n":"x"}`); u.Decode() == nil {
		t.Fatal("args {\"n\":\"x\"} decoded without an error")
	}

	custom := decodeUnit[customDecodeArgs]("{}")
	if err := custom.Decode(); err != nil || custom.job.Args.calls != 1 {
		t.Fatalf("UnmarshalJSON called %d times for {} (err %v), want once", custom.job.Args.calls, err)
	}
	var typeErr *json.UnmarshalTypeError
	if err := decodeUnit[textDecodeArgs]("{}").Decode(); !errors.As(err, &typeErr) {
		t.Fatalf("{} into a TextUnmarshaler: %v, want encoding/json's UnmarshalTypeError", err)
	}
	m := decodeUnit[mapDecodeArgs]("{}")
	if err := m.Decode(); err != nil || m.job.Args == nil {
		t.Fatalf("{} into a map: %v, %v; want an empty map", m.job.Args, err)
	}
}
