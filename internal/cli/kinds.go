package cli

import (
	"errors"
	"net/http"
	"strings"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/demo"
	"github.com/kilnjobs/kiln/jobs/httpjob"
)

// knownWorkers returns workers for every kind this binary knows: the
// built-in http kind and the demo kinds.
func knownWorkers(client *http.Client) *kiln.Workers {
	workers := kiln.NewWorkers()
	httpjob.Register(workers, client)
	demo.Register(workers, client)
	return workers
}

// inputError turns an error of the client that wraps a
// *kiln.ValidationError into a usage error naming the flag (or argument)
// that gave the value, by flags: the client's field name (before any "."
// or "[") to the flag. Other errors are returned as they are.
func inputError(err error, flags map[string]string) error {
	var ve *kiln.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	field := ve.Field
	if i := strings.IndexAny(field, ".["); i >= 0 {
		field = field[:i]
	}
	if flag, ok := flags[field]; ok {
		return usageErrorf("invalid %s: %v", flag, ve)
	}
	return &usageError{errors.New(strings.TrimPrefix(err.Error(), "kiln: "))}
}

// jobFlags maps the client's job fields to the flags of enqueue and of
// recurring add and update.
var jobFlags = map[string]string{
	"args": "--args", "queue": "--queue", "priority": "--priority", "max_attempts": "--max-attempts",
	"tags": "--tag", "run_in": "--in", "run_at": "--at", "schedule": "--schedule", "time_zone": "--tz",
	"overlap": "--overlap", "misfire": "--misfire", "misfire_max": "--misfire-max", "partition": "--partition",
}
