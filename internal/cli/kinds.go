package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

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

// knownArgs decodes the --args of each kind that knownWorkers has into its
// Go args type, so that enqueue rejects unknown fields and invalid values
// before the job is stored.
var knownArgs = map[string]func(raw []byte) (kiln.JobArgs, error){
	httpjob.Kind:                decodeArgs[httpjob.Args],
	demo.WriteFileArgs{}.Kind(): decodeArgs[demo.WriteFileArgs],
	demo.ChecksumArgs{}.Kind():  decodeArgs[demo.ChecksumArgs],
	demo.HTTPCallArgs{}.Kind():  decodeArgs[demo.HTTPCallArgs],
	demo.FlakyArgs{}.Kind():     decodeArgs[demo.FlakyArgs],
	demo.SleepArgs{}.Kind():     decodeArgs[demo.SleepArgs],
}

// decodeArgs decodes raw into T, rejecting fields T does not have, and
// validates it if T has a Validate method.
func decodeArgs[T kiln.JobArgs](raw []byte) (kiln.JobArgs, error) {
	var args T
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return nil, fmt.Errorf("args do not fit kind %q: %w", args.Kind(), err)
	}
	if v, ok := any(args).(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("args of kind %q: %w", args.Kind(), err)
		}
	}
	return args, nil
}
