package storetest

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// testPartition checks that a job's partition key is stored as given and
// returned by every read: insert, get, list, claim and a recurring
// occurrence's insert.
func testPartition(t *testing.T, newStore NewStoreFunc) {
	t.Run("StoredAndReturned", func(t *testing.T) {
		f := newFixture(t, newStore)
		longest := strings.Repeat("é", kilntype.MaxPartitionKeyBytes/2) + "k" // 255 bytes
		keys := []string{"", "tenant-1", "Ünïcode ✓", longest}
		ps := make([]*store.JobInsertParams, len(keys))
		for i, k := range keys {
			ps[i] = params(partition(k))
		}
		res := f.insertMany(ps...)
		for i, r := range res {
			if r.Job.Partition != keys[i] {
				t.Errorf("insert %d: Partition = %q, want %q", i, r.Job.Partition, keys[i])
			}
			if got := f.get(r.Job.ID).Partition; got != keys[i] {
				t.Errorf("get %d: Partition = %q, want %q", r.Job.ID, got, keys[i])
			}
		}
		listed := f.list(&store.JobListParams{OrderAsc: true})
		claimed := f.claim(claimParams("default", len(keys), base))
		for _, jobs := range [][]*kilntype.JobRow{listed, claimed} {
			if len(jobs) != len(keys) {
				t.Fatalf("%d jobs, want %d", len(jobs), len(keys))
			}
			for i, j := range jobs {
				if j.Partition != keys[i] {
					t.Errorf("job %d: Partition = %q, want %q", j.ID, j.Partition, keys[i])
				}
			}
		}
	})

	t.Run("RecurringOccurrenceKeepsIt", func(t *testing.T) {
		f := newFixture(t, newStore)
		f.recurring("r1")
		res := f.enqueue(enqueueParams("r1", kilntype.OverlapAllow,
			store.RecurringOccurrenceInsert{At: base, Job: params(partition("tenant-r"))}))
		if res[0].Job == nil || res[0].Job.Partition != "tenant-r" {
			t.Fatalf("occurrence job %+v, want Partition tenant-r", res[0].Job)
		}
		if got := f.get(res[0].Job.ID).Partition; got != "tenant-r" {
			t.Errorf("stored Partition = %q, want tenant-r", got)
		}
	})
}
