package kiln_test

import (
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/store"
)

// tenantArgs carries its partition key: the tenant.
type tenantArgs struct {
	Tenant string `json:"tenant"`
	N      int    `json:"n"`
}

func (tenantArgs) Kind() string        { return "tenant_task" }
func (a tenantArgs) Partition() string { return a.Tenant }

// TestPartitionKey: a job's partition key comes from EnqueueOpts.Partition,
// else from the args' Partition method (also in a client without the
// kind's worker), and a key no store can keep is refused, on both stores.
func TestPartitionKey(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		c := newCheckClient(t, st, kiln.Config{})
		// A client with no workers enqueues any kind: the key still comes
		// from the args' method.
		bare, err := kiln.NewClient(&kiln.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		for _, tc := range []struct {
			name string
			enq  func() (*kiln.EnqueueResult, error)
			want string
		}{
			{"FromArgs", func() (*kiln.EnqueueResult, error) { return bare.Enqueue(ctx, tenantArgs{Tenant: "acme"}, nil) }, "acme"},
			{"OptsWin", func() (*kiln.EnqueueResult, error) {
				return bare.Enqueue(ctx, tenantArgs{Tenant: "acme"}, &kiln.EnqueueOpts{Partition: "other"})
			}, "other"},
			{"PlainArgs", func() (*kiln.EnqueueResult, error) { return c.Enqueue(ctx, testArgs{}, nil) }, ""},
			{"PlainArgsWithOpts", func() (*kiln.EnqueueResult, error) {
				return c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{Partition: "customer-7"})
			}, "customer-7"},
		} {
			res, err := tc.enq()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := c.JobGet(ctx, res.Job.ID)
			if err != nil {
				t.Fatal(err)
			}
			if res.Job.Partition != tc.want || got.Partition != tc.want {
				t.Errorf("%s: Partition = %q (stored %q), want %q", tc.name, res.Job.Partition, got.Partition, tc.want)
			}
		}

		n := len(mustList(t, c))
		for _, tc := range []struct{ key, msg string }{
			{strings.Repeat("k", kiln.MaxPartitionKeyBytes+1), "256 bytes; at most 255"},
			{"a\x00b", "NUL"},
			{"\xff", "UTF-8"},
		} {
			_, err := c.Enqueue(ctx, testArgs{}, &kiln.EnqueueOpts{Partition: tc.key})
			wantInvalid(t, "Enqueue", err, "partition", tc.msg)
			_, err = bare.Enqueue(ctx, tenantArgs{Tenant: tc.key}, nil)
			wantInvalid(t, "Enqueue from args", err, "partition", tc.msg)
		}
		if got := len(mustList(t, c)); got != n {
			t.Errorf("refused enqueues stored %d jobs", got-n)
		}
	})
}

// mustList returns the first page of c's jobs.
func mustList(t *testing.T, c *kiln.Client) []*kiln.JobRow {
	t.Helper()
	res, err := c.JobList(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Jobs
}
