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
// one group of parallel subtests per Store method or concern.
func Run(t *testing.T, newStore NewStoreFunc) {
	t.Helper()
	groups := []struct {
		name string
		run  func(t *testing.T, newStore NewStoreFunc)
	}{
		{"Schema", testSchema},
		{"JobInsertMany", testInsert},
		{"JobGet", testGet},
		{"JobList", testList},
		{"JobListArgsPreview", testListArgsPreview},
		{"JobCountByState", testCountByState},
		{"JobClaim", testClaim},
		{"JobClaimClusterKindLimits", testClaimClusterKindLimits},
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
		{"Retention", testRetention},
		{"Leader", testLeader},
		{"RecurringUpsert", testRecurringUpsert},
		{"RecurringGetList", testRecurringGetList},
		{"RecurringDelete", testRecurringDelete},
		{"RecurringPauseError", testRecurringPauseError},
		{"RecurringDue", testRecurringDue},
		{"RecurringEnqueue", testRecurringEnqueue},
		{"RecurringOverlap", testRecurringOverlap},
		{"RecurringOccurrenceList", testRecurringOccurrenceList},
		{"Dependencies", testDependencies},
		{"CleanerKeepsParents", testCleanerKeepsParents},
		{"Prune", testPrune},
		{"Services", testServices},
		{"Servers", testServers},
		{"Queues", testQueues},
		{"Progress", testProgress},
		{"Stats", testStats},
		{"Validation", testValidation},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			t.Parallel()
			g.run(t, newStore)
		})
	}
}
