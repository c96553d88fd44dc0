package kilntype

import (
	"encoding/json"
	"time"
)

// AuditEntry is one row of the audit log: a state-changing action made
// through the dashboard, the HTTP API or the CLI (or one they refused), who
// made it, when and from where. Its JSON form is the HTTP API's.
type AuditEntry struct {
	// ID orders the entries (newest has the highest); 0 before it is
	// stored.
	ID int64 `json:"id"`
	// At is when the action was made, in UTC with microsecond precision.
	At time.Time `json:"at"`
	// Actor names who made it: the dashboard user or token name, "local"
	// for the CLI and for unauthenticated requests from this machine.
	Actor string `json:"actor"`
	// Role is the actor's role when it is known ("operator", "viewer"),
	// else empty.
	Role string `json:"role,omitempty"`
	// Action names what was done, as "<entity>.<verb>": "job.retry",
	// "job.cancel", "job.delete", "job.enqueue", "queue.pause",
	// "recurring.upsert", "retention.set", ... (see kiln's Audit*
	// constants); "request.refused" for a state change refused for the
	// actor's role.
	Action string `json:"action"`
	// Target names what it was done to: a job ID, a queue or recurring
	// entry name, a retention rule's key; empty when the action has none.
	Target string `json:"target,omitempty"`
	// Detail is a JSON object with more about the action (the job's kind
	// and queue, a rule's keep, the refused request's method and path),
	// at most MaxAuditDetailBytes; nil when there is none.
	Detail json.RawMessage `json:"detail,omitempty"`
	// Addr is the client's address (IP) for an action made over HTTP,
	// empty for the CLI.
	Addr string `json:"addr,omitempty"`
	// Refused is true when the action was refused (and so not made).
	Refused bool `json:"refused,omitempty"`
}

// MaxAuditDetailBytes bounds AuditEntry.Detail: a longer detail is
// replaced by {"truncated": true, "bytes": n} when recorded.
const MaxAuditDetailBytes = 4096

// Bounds of an AuditEntry's text fields, in bytes: longer values are cut
// when recorded.
const (
	MaxAuditActorBytes  = 200
	MaxAuditActionBytes = 100
	MaxAuditTargetBytes = 1000
	MaxAuditAddrBytes   = 100
)
