package kiln_test

import (
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

// TestReexportedValues checks the values that the doc comments of the
// root's constants give: their definitions name internal packages, which
// go doc shows instead of the value.
func TestReexportedValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"DefaultJobListLimit", kiln.DefaultJobListLimit, 100},
		{"MaxJobListLimit", kiln.MaxJobListLimit, 10_000},
		{"DefaultAuditListLimit", kiln.DefaultAuditListLimit, 100},
		{"MaxAuditListLimit", kiln.MaxAuditListLimit, 1000},
		{"MetadataParentIDs", kiln.MetadataParentIDs, "kiln.parent_ids"},
		{"JobLogMaxLines", kiln.JobLogMaxLines, 1000},
		{"JobLogMaxLineBytes", kiln.JobLogMaxLineBytes, 2048},
		{"MaxHistoryPoints", kiln.MaxHistoryPoints, 10_080},
		{"MetadataTraceParent", kiln.MetadataTraceParent, "kiln.traceparent"},
		{"MetadataTraceState", kiln.MetadataTraceState, "kiln.tracestate"},
		{"RecurringSkipOverlap", kiln.RecurringSkipOverlap, "overlap"},
		{"RecurringSkipMisfire", kiln.RecurringSkipMisfire, "misfire"},
		{"PriorityHighest", kiln.PriorityHighest, 1},
		{"PriorityLowest", kiln.PriorityLowest, 4},
		{"MaxAuditActorBytes", kiln.MaxAuditActorBytes, 200},
		{"MaxAuditActionBytes", kiln.MaxAuditActionBytes, 100},
		{"MaxAuditTargetBytes", kiln.MaxAuditTargetBytes, 1000},
		{"MaxAuditAddrBytes", kiln.MaxAuditAddrBytes, 100},
		{"MaxAuditDetailBytes", kiln.MaxAuditDetailBytes, 4096},
		{"MaxRateLimitPeriod", kiln.MaxRateLimitPeriod, 366 * 24 * time.Hour},
		{"MaxRateLimitBucket", kiln.MaxRateLimitBucket, 100 * 365 * 24 * time.Hour},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v as its doc comment says", c.name, c.got, c.want)
		}
	}
}
