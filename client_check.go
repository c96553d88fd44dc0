package kiln

import (
	"fmt"
)

// Kinds returns the job kinds this client has workers for, sorted; nil for
// an enqueue-only client (Config.Workers nil), which enqueues any kind. The
// HTTP API and the dashboard offer these kinds in their forms.
func (c *Client) Kinds() []string { return c.cfg.Workers.Kinds() }

// EnqueueCheck validates one enqueue as Enqueue does, storing nothing, and
// returns the error Enqueue would return for the same input: the kind has
// a worker (else the error wraps ErrUnknownKind), args encode to JSON within
// Config.MaxArgsBytes, decode into the worker's args type without unknown
// fields and pass its Validate (see JobArgsWithValidate), and the options
// are valid. Parent jobs are not looked up. Every error it returns wraps a
// *ValidationError naming the field at fault (an HTTP API answers 400),
// unlike the store errors Enqueue may add.
func (c *Client) EnqueueCheck(args JobArgs, opts *EnqueueOpts) error {
	if _, err := c.insertParams(EnqueueParams{Args: args, Opts: opts}, c.now()); err != nil {
		return fmt.Errorf("kiln: enqueue: %w", err)
	}
	return nil
}

// RecurringCheck validates def as RecurringAddOrUpdate does, storing
// nothing: the ID, the schedule and time zone, the policies, and the job
// as EnqueueCheck checks it. Errors name the entry and wrap a
// *ValidationError naming the field at fault ("schedule", "time_zone",
// "misfire_max", "args.name").
func (c *Client) RecurringCheck(def RecurringJob) error {
	if _, err := c.recurringRow(def, c.now()); err != nil {
		return fmt.Errorf("kiln: %w", err)
	}
	return nil
}
