package enginetest

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// TestJobOutputList: the fake store lists the outputs its applied
// finishes carried.
func TestJobOutputList(t *testing.T) {
	s := NewStore()
	s.finished = []*store.JobFinishParams{
		{ID: 2, State: kilntype.JobStateCompleted, Output: json.RawMessage(`2`)},
		{ID: 1, State: kilntype.JobStateCompleted},
		{ID: 3, State: kilntype.JobStateDiscarded},
	}
	outs, err := s.JobOutputList(context.Background(), &store.JobOutputListParams{IDs: []int64{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].JobID != 1 || outs[0].Output != nil || outs[1].JobID != 2 || string(outs[1].Output) != "2" {
		t.Fatalf("outputs %+v", outs)
	}
}
