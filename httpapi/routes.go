package httpapi

import (
	"context"
	"net/http"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// route is one API endpoint. The table in routes is the one list of
// endpoints: New registers it with the ServeMux, and a test checks it
// against openapi.yaml both ways.
type route struct {
	method string // GET, POST, PUT or DELETE
	// path is a ServeMux pattern path, which is also the OpenAPI path:
	// "/jobs/{id}".
	path string
	// mutates marks routes that change state: refused in read-only mode.
	mutates bool
	handle  handlerFunc
}

// handlerFunc handles one route's request: it writes the answer, or returns
// the error to answer (see api.toError).
type handlerFunc func(a *api, w http.ResponseWriter, r *http.Request) error

// routes returns every endpoint of the API.
func routes() []route {
	return []route{
		{"GET", "/openapi.yaml", false, (*api).openAPIYAML},
		{"GET", "/openapi.json", false, (*api).openAPIJSON},
		{"GET", "/kinds", false, (*api).kinds},

		{"POST", "/jobs", true, (*api).jobEnqueue},
		{"POST", "/jobs/batch", true, (*api).jobEnqueueBatch},
		{"POST", "/jobs/bulk", true, (*api).bulkStart},
		{"GET", "/jobs/bulk", false, (*api).bulkList},
		{"GET", "/jobs/bulk/{id}", false, byBulkID((*kiln.Client).JobBulkGet)},
		{"DELETE", "/jobs/bulk/{id}", true, byBulkID((*kiln.Client).JobBulkCancel)},
		{"POST", "/jobs/bulk/{id}/cancel", true, byBulkID((*kiln.Client).JobBulkCancel)},
		{"POST", "/jobs/bulk/{id}/resume", true, byBulkID((*kiln.Client).JobBulkResume)},
		{"GET", "/jobs", false, (*api).jobList},
		{"GET", "/jobs/{id}", false, byJobID((*kiln.Client).JobGet)},
		{"DELETE", "/jobs/{id}", true, byJobID((*kiln.Client).JobDelete)},
		{"POST", "/jobs/{id}/cancel", true, byJobID((*kiln.Client).JobCancel)},
		{"POST", "/jobs/{id}/retry", true, byJobID((*kiln.Client).JobRetry)},
		{"GET", "/jobs/{id}/attempts", false, (*api).jobAttempts},
		{"GET", "/jobs/{id}/logs", false, (*api).jobLogs},
		{"GET", "/jobs/{id}/workflow", false, (*api).jobWorkflow},
		{"GET", "/batches/{id}", false, (*api).batchGet},
		{"GET", "/batches/{id}/jobs", false, (*api).batchJobs},

		{"GET", "/recurring", false, (*api).recurringList},
		{"GET", "/recurring/{id}", false, byRecurringID((*kiln.Client).RecurringGet)},
		{"PUT", "/recurring/{id}", true, (*api).recurringPut},
		{"DELETE", "/recurring/{id}", true, byRecurringID((*kiln.Client).RecurringRemove)},
		{"POST", "/recurring/{id}/trigger", true, (*api).recurringTrigger},
		{"POST", "/recurring/{id}/pause", true, byRecurringID((*kiln.Client).RecurringPause)},
		{"POST", "/recurring/{id}/resume", true, byRecurringID((*kiln.Client).RecurringResume)},
		{"GET", "/recurring/{id}/next", false, (*api).recurringNext},
		{"GET", "/recurring/{id}/occurrences", false, (*api).recurringOccurrences},
		{"GET", "/recurring/{id}/runs", false, (*api).recurringRuns},
		{"GET", "/schedules/next", false, (*api).scheduleNext},

		{"GET", "/queues", false, listOf("queues", (*kiln.Client).QueueList)},
		{"POST", "/queues/{name}/pause", true, (*api).queuePause},
		{"POST", "/queues/{name}/resume", true, (*api).queueResume},

		{"GET", "/retention", false, (*api).retentionList},
		{"PUT", "/retention", true, (*api).retentionPut},
		{"DELETE", "/retention", true, (*api).retentionDelete},

		{"GET", "/rate-limits", false, (*api).rateLimitList},
		{"GET", "/rate-limits/{kind}", false, (*api).rateLimitGet},
		{"PUT", "/rate-limits/{kind}", true, (*api).rateLimitPut},
		{"DELETE", "/rate-limits/{kind}", true, (*api).rateLimitDelete},
		{"GET", "/concurrency-limits", false, (*api).concurrencyLimitList},

		{"GET", "/audit", false, (*api).auditList},

		{"GET", "/servers", false, listOf("servers", serverList)},
		{"GET", "/stats", false, (*api).stats},
		{"GET", "/stats/history", false, (*api).statsHistory},
	}
}

// byJobID returns the handler of a route that answers the job fn (a Client
// method) returns for the path's ID.
func byJobID(fn func(*kiln.Client, context.Context, int64) (*kilntype.JobRow, error)) handlerFunc {
	return func(a *api, w http.ResponseWriter, r *http.Request) error {
		id, err := pathID(r)
		if err != nil {
			return err
		}
		row, err := fn(a.client, r.Context(), id)
		if err != nil {
			return err
		}
		a.redactJobs(r, row)
		return writeJSON(w, http.StatusOK, row)
	}
}

// byRecurringID returns the handler of a route that answers the recurring
// entry fn (a Client method) returns for the path's ID.
func byRecurringID(fn func(*kiln.Client, context.Context, string) (*kilntype.RecurringRow, error)) handlerFunc {
	return func(a *api, w http.ResponseWriter, r *http.Request) error {
		row, err := fn(a.client, r.Context(), r.PathValue("id"))
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, a.viewOf(r, row))
	}
}

// listOf returns the handler of a route without parameters that answers
// the list fn (a Client method) returns, as {key: [...]}.
func listOf[T any](key string, fn func(*kiln.Client, context.Context) ([]T, error)) handlerFunc {
	return func(a *api, w http.ResponseWriter, r *http.Request) error {
		if _, err := query(r); err != nil {
			return err
		}
		list, err := fn(a.client, r.Context())
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusOK, map[string]any{key: nonNil(list)})
	}
}
