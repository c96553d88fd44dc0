// Package storetest is the contract suite of [store.Store]: every backend's
// tests call [Run] once, and a backend is correct when the suite passes
// unchanged.
//
// The suite passes every time in as a parameter (Now, cut-offs, lease ends),
// starting from a fixed base time, and never sleeps, so it is deterministic
// and fast. Every subtest runs in parallel on a store of its own.
package storetest

import (
	"testing"

	"github.com/kilnjobs/kiln/store"
)

// NewStoreFunc returns a fresh, migrated store that no other test uses. It
// must register its own cleanup (closing the store) with t.Cleanup, and it is
// called from parallel subtests, so it must be safe for concurrent use.
type NewStoreFunc func(t *testing.T) store.Store

// Run runs the whole contract suite against the stores newStore returns:
// one group of parallel subtests per part of [store.Store], named after the
// part's interface (JobStore, RecurringStore, ...), and in it one group per
// method or concern.
func Run(t *testing.T, newStore NewStoreFunc) {
	t.Helper()
	type group struct {
		name string
		run  func(t *testing.T, newStore NewStoreFunc)
	}
	parts := []struct {
		name   string
		groups []group
	}{
		{"Store", []group{
			{"Schema", testSchema},
			{"Validation", testValidation},
		}},
		{"JobStore", []group{
			{"JobInsertMany", testInsert},
			{"JobInsertManyUniqueReplace", testUniqueReplace},
			{"JobGet", testGet},
			{"JobPartition", testPartition},
			{"JobList", testList},
			{"JobListArgsPreview", testListArgsPreview},
			{"JobCountByState", testCountByState},
			{"JobRunningCount", testRunningCount},
			{"JobClaim", testClaim},
			{"JobClaimFront", testClaimFront},
			{"JobClaimClusterKindLimits", testClaimClusterKindLimits},
			{"JobClaimRateLimits", testRateLimits},
			{"JobClaimKeyRateLimits", testKeyRateLimits},
			{"JobClaimPartitioned", testClaimPartitioned},
			{"JobLeaseRenew", testLeaseRenew},
			{"JobListCancelRequested", testListCancelRequested},
			{"JobFinishMany", testFinish},
			{"JobCancel", testCancel},
			{"JobRetry", testRetry},
			{"JobDelete", testDelete},
			{"JobAttemptList", testAttemptList},
			{"JobScheduleDue", testScheduleDue},
			{"JobRescueExpired", testRescue},
			{"JobDeleteFinished", testDeleteFinished},
		}},
		{"BulkStore", []group{
			{"Bulk", testBulk},
		}},
		{"RetentionStore", []group{
			{"Retention", testRetention},
		}},
		{"AuditStore", []group{
			{"Audit", testAudit},
		}},
		{"LeaderStore", []group{
			{"Leader", testLeader},
		}},
		{"RecurringStore", []group{
			{"RecurringUpsert", testRecurringUpsert},
			{"RecurringGetList", testRecurringGetList},
			{"RecurringDelete", testRecurringDelete},
			{"RecurringPauseError", testRecurringPauseError},
			{"RecurringDue", testRecurringDue},
			{"RecurringEnqueue", testRecurringEnqueue},
			{"RecurringOverlap", testRecurringOverlap},
			{"RecurringOccurrenceList", testRecurringOccurrenceList},
			{"RecurringOccurrenceTimes", testRecurringOccurrenceTimes},
			{"RecurringSkips", testRecurringSkips},
		}},
		{"DependencyStore", []group{
			{"Dependencies", testDependencies},
			{"CleanerKeepsParents", testCleanerKeepsParents},
			{"JobRelatives", testJobRelatives},
		}},
		{"PruneStore", []group{
			{"Prune", testPrune},
		}},
		{"QueueStore", []group{
			{"Queues", testQueues},
		}},
		{"JobProgressStore", []group{
			{"Progress", testProgress},
		}},
		{"JobOutputStore", []group{
			{"Outputs", testOutputs},
		}},
		{"StatsStore", []group{
			{"Stats", testStats},
		}},
		{"ServerStore", []group{
			{"Servers", testServers},
		}},
		{"ServiceStore", []group{
			{"Services", testServices},
		}},
		{"Notifier", []group{
			{"Availability", testNotifierAvailability},
		}},
	}
	for _, part := range parts {
		t.Run(part.name, func(t *testing.T) {
			t.Parallel()
			for _, g := range part.groups {
				t.Run(g.name, func(t *testing.T) {
					t.Parallel()
					g.run(t, newStore)
				})
			}
		})
	}
}
