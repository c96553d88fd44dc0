package kilntype

import "encoding/json"

// JobOutput is the output of one job as a continuation or a batch callback
// reads it (kiln.ParentOutputs, kiln.BatchOutputs): the job, its state, and
// what its worker recorded when it completed.
type JobOutput struct {
	// JobID is the job's ID.
	JobID int64 `json:"job_id"`
	// State is the job's state when the output was read: completed, or the
	// state of a job that did not complete (its Output is then nil).
	State JobState `json:"state"`
	// Output is the JSON the job's worker recorded (kiln.Job.SetOutput);
	// nil when it recorded none. Encrypted outputs are decrypted by the
	// client that returns them.
	Output json.RawMessage `json:"output,omitempty"`
}
