package kiln

import (
	"fmt"

	"github.com/kilnjobs/kiln/kilntype"
)

// Kinds returns the job kinds this client has workers for, sorted; nil for
// an enqueue-only client (Config.Workers nil), which enqueues any kind. The
// HTTP API and the dashboard offer these kinds in their forms.
func (c *Client) Kinds() []string { return c.cfg.Workers.Kinds() }

// EnqueueCheck validates one enqueue as Enqueue does, storing nothing: the
// kind has a worker (else the error wraps ErrUnknownKind), args encode to
// JSON, and the options are valid. It also decodes args into the kind's
// worker args type, which catches RawArgs whose JSON does not fit that type
// (the error then wraps encoding/json's, such as *json.UnmarshalTypeError)
// before a worker fails on them. Parent jobs are not looked up. Errors name
// the kind and the fault, as Enqueue's do; they are the caller's fault (an
// HTTP API answers 400), unlike the store errors Enqueue may add.
func (c *Client) EnqueueCheck(args JobArgs, opts *EnqueueOpts) error {
	ip, err := c.insertParams(EnqueueParams{Args: args, Opts: opts}, c.now())
	if err == nil {
		err = c.checkDecode(ip.Kind, ip.Args)
	}
	if err != nil {
		return fmt.Errorf("kiln: enqueue: %w", err)
	}
	return nil
}

// RecurringCheck validates def as RecurringAddOrUpdate does, storing
// nothing: the ID, the schedule and time zone (errors from package
// schedule), the policies, and the job as EnqueueCheck checks it. Errors
// name the entry and the fault.
func (c *Client) RecurringCheck(def RecurringJob) error {
	row, err := c.recurringRow(def, c.now())
	if err == nil {
		if err = c.checkDecode(row.Kind, row.Args); err != nil {
			err = fmt.Errorf("recurring job %q: %w", def.ID, err)
		}
	}
	if err != nil {
		return fmt.Errorf("kiln: %w", err)
	}
	return nil
}

// checkDecode decodes args into the args type of kind's worker, if the
// client has one.
func (c *Client) checkDecode(kind string, args []byte) error {
	e, ok := c.cfg.Workers.entry(kind)
	if !ok {
		return nil
	}
	if err := e.unit(&kilntype.JobRow{Kind: kind, Args: args}).Decode(); err != nil {
		return fmt.Errorf("kind %q: args do not decode into the worker's args type: %w", kind, err)
	}
	return nil
}
