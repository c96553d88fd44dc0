package jobexec

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// outputUnit is a unit whose job recorded an output.
type outputUnit struct {
	*unit
	output json.RawMessage
}

func (u *outputUnit) Output() json.RawMessage { return u.output }

// TestOutputOnlyWithCompletion: a completed attempt's finish carries its
// unit's output; a failed one drops it.
func TestOutputOnlyWithCompletion(t *testing.T) {
	ok := &outputUnit{unit: returns(nil), output: json.RawMessage(`{"n":1}`)}
	if p := Run(context.Background(), settings(), row(), ok); string(p.Output) != `{"n":1}` {
		t.Errorf("completed: Output %s, want {\"n\":1}", p.Output)
	}
	failed := &outputUnit{unit: returns(errors.New("boom")), output: json.RawMessage(`1`)}
	if p := Run(context.Background(), settings(), row(), failed); p.Output != nil {
		t.Errorf("failed: Output %s, want none", p.Output)
	}
}
