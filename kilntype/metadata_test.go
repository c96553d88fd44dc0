package kilntype_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
)

func TestMetadataValue(t *testing.T) {
	t.Parallel()
	meta := json.RawMessage(`{"trace": "a\"b", "kiln.recurring_id": "nightly", "kiln.parent_ids": [1, 2], "kiln.batch_total": 3, "gone": null}`)
	want := map[string]string{"trace": `a"b`, "kiln.recurring_id": "nightly", "kiln.parent_ids": "[1,2]", "kiln.batch_total": "3", "gone": "null"}
	job := &kilntype.JobRow{Metadata: meta}
	entry := &kilntype.RecurringRow{Metadata: meta}
	for k, v := range want {
		if got, ok := job.MetadataValue(k); !ok || got != v {
			t.Errorf("JobRow.MetadataValue(%q) = %q, %v; want %q", k, got, ok, v)
		}
		if got, ok := entry.MetadataValue(k); !ok || got != v {
			t.Errorf("RecurringRow.MetadataValue(%q) = %q, %v; want %q", k, got, ok, v)
		}
	}
	if got, ok := job.MetadataValue("missing"); ok || got != "" {
		t.Errorf("MetadataValue(missing) = %q, %v", got, ok)
	}
	if got := job.MetadataMap(); !maps.Equal(got, want) {
		t.Errorf("MetadataMap() = %v, want %v", got, want)
	}
	job.MetadataMap()["trace"] = "changed"
	if got, _ := job.MetadataValue("trace"); got != `a"b` {
		t.Errorf("changing MetadataMap's map changed the job: %q", got)
	}
	for _, m := range []string{``, `null`, `[1]`, `"s"`, `{`} {
		j := &kilntype.JobRow{Metadata: json.RawMessage(m)}
		if got := j.MetadataMap(); got == nil || len(got) != 0 {
			t.Errorf("MetadataMap() of %q = %v, want an empty map", m, got)
		}
	}
}

func ExampleJobRow_MetadataValue() {
	// A job a recurring entry enqueued, as JobGet returns it.
	job := &kilntype.JobRow{Metadata: json.RawMessage(`{"team":"billing","kiln.recurring_id":"nightly-report","kiln.parent_ids":[7]}`)}
	id, ok := job.MetadataValue("kiln.recurring_id") // kiln.MetadataRecurringID
	fmt.Println(id, ok)
	parents, _ := job.MetadataValue("kiln.parent_ids") // not a string: its JSON
	fmt.Println(parents)
	_, ok = job.MetadataValue("missing")
	fmt.Println(ok)
	// Output:
	// nightly-report true
	// [7]
	// false
}
