package httpapi

import (
	"net/http"

	"github.com/kilnjobs/kiln"
)

// maxConcurrencyLimitList bounds the kinds GET /concurrency-limits
// answers: the first ones by kind, with truncated set when there are more.
const maxConcurrencyLimitList = 1000

// ConcurrencyLimitView is a kind's concurrency limits and their use as GET
// /concurrency-limits shows them, and as `kiln concurrency list --json`
// prints them: kiln.ConcurrencyLimitState's JSON form (limits in jobs, 0
// for none; running counts in jobs; busiest_keys never null). See
// openapi.yaml's ConcurrencyLimit.
type ConcurrencyLimitView = kiln.ConcurrencyLimitState

// ConcurrencyLimitList is the body of GET /concurrency-limits.
type ConcurrencyLimitList struct {
	ConcurrencyLimits []*ConcurrencyLimitView `json:"concurrency_limits"`
	// Truncated says that more than 1,000 kinds have a limit: the first
	// 1,000 by kind are listed.
	Truncated bool `json:"truncated"`
}

// concurrencyLimitList is GET /concurrency-limits: the concurrency limits
// of each kind whose worker declares one, in the serving process or in a
// live process that published it, with their use (Client.ConcurrencyLimits), by kind, at most
// maxConcurrencyLimitList.
func (a *api) concurrencyLimitList(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	list, err := a.client.ConcurrencyLimits(r.Context())
	if err != nil {
		return err
	}
	out := ConcurrencyLimitList{ConcurrencyLimits: list, Truncated: len(list) > maxConcurrencyLimitList}
	if out.Truncated {
		out.ConcurrencyLimits = list[:maxConcurrencyLimitList]
	}
	if out.ConcurrencyLimits == nil {
		out.ConcurrencyLimits = []*ConcurrencyLimitView{}
	}
	return writeJSON(w, http.StatusOK, out)
}
