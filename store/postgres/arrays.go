package postgres

import (
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// The array parameters of the hottest statements (a batch of completions)
// are sent through the types below rather than as plain slices. pgx encodes
// a plain []int64, []string or []time.Time by boxing each element into an
// interface (pgtype.FlatArray.Index), then wrapping it once more to find
// its encoder (int64Wrapper, stringWrapper, timeWrapper), and a []*time.Time
// by dereferencing each element through reflect: one to three allocations
// per element, ~10 per completed job. These types hand pgx a pointer into
// the slice instead (an interface holding a pointer needs no allocation),
// whose type implements the element codec's valuer interface directly
// (pgtype.Int64Valuer, TextValuer, TimestamptzValuer): the bytes sent are
// the same, with no allocation per element.
//
// pgx uses them only when it knows the parameters' types, from a
// description of the statement (the query exec modes cache_statement,
// cache_describe and describe_exec: Store.describes); in exec and
// simple_protocol modes it infers a parameter's type from its Go type,
// which must then be a plain slice (arrayArg).

// arrayArg returns v as the array parameter type A if describes (pgx knows
// the statement's parameter types), and as the plain slice otherwise.
func arrayArg[A interface {
	~[]E
	pgtype.ArrayGetter
}, E any](describes bool, v []E) any {
	if describes {
		return A(v)
	}
	return v
}

// describesParams reports whether pgx, in query exec mode m, describes a
// statement before it sends its parameters, so that it encodes them for
// the types PostgreSQL expects rather than infer those from their Go types.
func describesParams(m pgx.QueryExecMode) bool {
	switch m {
	case pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol:
		return false
	}
	return true
}

// dimensions returns the dimensions of a one-dimensional array of n
// elements, nil (NULL) for a nil slice.
func dimensions(n int, isNil bool) []pgtype.ArrayDimension {
	if isNil {
		return nil
	}
	return []pgtype.ArrayDimension{{Length: int32(n), LowerBound: 1}}
}

// int8Array is a bigint[] parameter.
type int8Array []int64

// int8Elem is an element of an int8Array, encoded through a pointer.
type int8Elem int64

func (e *int8Elem) Int64Value() (pgtype.Int8, error) {
	return pgtype.Int8{Int64: int64(*e), Valid: true}, nil
}

func (a int8Array) Dimensions() []pgtype.ArrayDimension { return dimensions(len(a), a == nil) }
func (a int8Array) Index(i int) any                     { return (*int8Elem)(&a[i]) }
func (int8Array) IndexType() any                        { return new(int8Elem) }

// textArray is a text[] parameter.
type textArray []string

// textElem is an element of a textArray, encoded through a pointer.
type textElem string

func (e *textElem) TextValue() (pgtype.Text, error) {
	return pgtype.Text{String: string(*e), Valid: true}, nil
}

func (a textArray) Dimensions() []pgtype.ArrayDimension { return dimensions(len(a), a == nil) }
func (a textArray) Index(i int) any                     { return (*textElem)(&a[i]) }
func (textArray) IndexType() any                        { return new(textElem) }

// timestamptzArray is a timestamptz[] parameter.
type timestamptzArray []time.Time

// timestamptzPtrArray is a timestamptz[] parameter whose nil elements are
// NULL.
type timestamptzPtrArray []*time.Time

// timestamptzElem is an element of a timestamptzArray or
// timestamptzPtrArray, encoded through a pointer.
type timestamptzElem time.Time

func (e *timestamptzElem) TimestamptzValue() (pgtype.Timestamptz, error) {
	return pgtype.Timestamptz{Time: time.Time(*e), Valid: true}, nil
}

func (a timestamptzArray) Dimensions() []pgtype.ArrayDimension { return dimensions(len(a), a == nil) }
func (a timestamptzArray) Index(i int) any                     { return (*timestamptzElem)(&a[i]) }
func (timestamptzArray) IndexType() any                        { return new(timestamptzElem) }

func (a timestamptzPtrArray) Dimensions() []pgtype.ArrayDimension {
	return dimensions(len(a), a == nil)
}

func (a timestamptzPtrArray) Index(i int) any {
	if a[i] == nil {
		return nil // NULL
	}
	return (*timestamptzElem)(a[i])
}

func (timestamptzPtrArray) IndexType() any { return new(timestamptzElem) }

// oneIfShared returns xs's first element alone when every element equals it
// by eq, else xs (also when it is empty). A statement that reads the
// array's unnest past its end as NULL, and coalesces that NULL to the
// first element, then gives every row that one value while PostgreSQL
// receives a single element (sqlInsertJobsShared's times,
// sqlCompleteJobs's lease holder and server).
func oneIfShared[T any](xs []T, eq func(a, b T) bool) []T {
	if len(xs) == 0 {
		return xs
	}
	for _, x := range xs[1:] {
		if !eq(x, xs[0]) {
			return xs
		}
	}
	return xs[:1]
}

// sameText is == for strings, as oneIfShared's eq.
func sameText(a, b string) bool { return a == b }
