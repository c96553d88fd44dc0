package kiln_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

type typedArgs struct {
	N int `json:"n"`
}

func (typedArgs) Kind() string { return "typed" }

func TestClientArgsType(t *testing.T) {
	ws := kiln.NewWorkers()
	kiln.AddWorker(ws, kiln.WorkFunc(func(context.Context, *kiln.Job[typedArgs]) error { return nil }))
	c := clienttest.New(t, ws, nil, false, false)
	if got := c.ArgsType("typed"); got != reflect.TypeFor[typedArgs]() {
		t.Errorf("ArgsType(typed) = %v", got)
	}
	if got := c.ArgsType("other"); got != nil {
		t.Errorf("ArgsType(other) = %v; want nil", got)
	}
	enqueueOnly := clienttest.New(t, nil, nil, false, false)
	if got := enqueueOnly.ArgsType("typed"); got != nil {
		t.Errorf("an enqueue-only client's ArgsType = %v; want nil", got)
	}
}
