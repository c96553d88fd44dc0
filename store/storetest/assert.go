package storetest

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
)

// wantTime fails t unless got equals want and is in UTC.
func wantTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
	if got.Location() != time.UTC {
		t.Errorf("%s = %v: location %v, want UTC", what, got, got.Location())
	}
}

// wantTimePtr fails t unless got and want are both nil, or both set to equal
// UTC times.
func wantTimePtr(t *testing.T, what string, got, want *time.Time) {
	t.Helper()
	switch {
	case got == nil && want == nil:
	case got == nil:
		t.Errorf("%s = nil, want %v", what, *want)
	case want == nil:
		t.Errorf("%s = %v, want nil", what, *got)
	default:
		wantTime(t, what, *got, *want)
	}
}

// wantState fails t unless job is in state.
func wantState(t *testing.T, job *kilntype.JobRow, state kilntype.JobState) {
	t.Helper()
	if job.State != state {
		t.Errorf("job %d: State = %s, want %s", job.ID, job.State, state)
	}
}

// wantIDs fails t unless got lists want, in order.
func wantIDs(t *testing.T, what string, got, want []int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// wantIDSet fails t unless got lists want, in any order.
func wantIDSet(t *testing.T, what string, got, want []int64) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v (in any order)", what, got, want)
	}
}

// wantJSON fails t unless got and want are equal JSON values (a store may
// reformat JSON, e.g. PostgreSQL's jsonb).
func wantJSON(t *testing.T, what string, got, want []byte) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("%s = %q: not JSON: %v", what, got, err)
		return
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("%s: want %q: not JSON: %v", what, want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// wantSameJob fails t unless got and want are the same job with the same
// field values.
func wantSameJob(t *testing.T, got, want *kilntype.JobRow) {
	t.Helper()
	if got.ID != want.ID || got.Kind != want.Kind || got.Queue != want.Queue ||
		got.State != want.State || got.Priority != want.Priority ||
		got.Attempt != want.Attempt || got.MaxAttempts != want.MaxAttempts ||
		got.LeasedBy != want.LeasedBy || got.UniqueKey != want.UniqueKey ||
		got.LastError != want.LastError || got.Partition != want.Partition ||
		!slices.Equal(got.Tags, want.Tags) {
		t.Errorf("job differs:\n got %+v\nwant %+v", got, want)
	}
	wantJSON(t, "Args", got.Args, want.Args)
	wantJSON(t, "Metadata", got.Metadata, want.Metadata)
	wantTime(t, "CreatedAt", got.CreatedAt, want.CreatedAt)
	wantTime(t, "ScheduledAt", got.ScheduledAt, want.ScheduledAt)
	wantTimePtr(t, "AttemptedAt", got.AttemptedAt, want.AttemptedAt)
	wantTimePtr(t, "FinalizedAt", got.FinalizedAt, want.FinalizedAt)
	wantTimePtr(t, "LeaseExpiresAt", got.LeaseExpiresAt, want.LeaseExpiresAt)
	wantTimePtr(t, "CancelRequestedAt", got.CancelRequestedAt, want.CancelRequestedAt)
}

// wantAttempt fails t unless got records want.
func wantAttempt(t *testing.T, got, want *kilntype.JobAttempt) {
	t.Helper()
	if got.JobID != want.JobID || got.Attempt != want.Attempt || got.Server != want.Server ||
		got.Outcome != want.Outcome || got.Error != want.Error || got.Trace != want.Trace {
		t.Errorf("attempt differs:\n got %+v\nwant %+v", got, want)
	}
	wantTime(t, "attempt StartedAt", got.StartedAt, want.StartedAt)
	wantTimePtr(t, "attempt FinishedAt", got.FinishedAt, want.FinishedAt)
}
