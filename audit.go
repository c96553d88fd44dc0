package kiln

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// Actor is who makes a state-changing call: the dashboard and the HTTP
// API put the authenticated user or token into each request's context,
// the CLI puts ActorLocal. A Client call made in a context that carries an
// Actor (WithActor) is recorded in the audit log; calls without one (the
// application's own enqueues, retries, ...) are not.
type Actor struct {
	// Name names the actor: a user or token name, or "local".
	Name string
	// Role is the actor's role when known ("operator", "viewer"); it is
	// recorded, not checked (the dashboard checks it).
	Role string
	// Addr is the client's IP address for a call made over HTTP; empty
	// otherwise.
	Addr string
}

// ActorLocal is the actor of the CLI and of unauthenticated requests from
// this machine.
const ActorLocal = "local"

// The actions the client records (AuditEntry.Action). Other packages may
// record their own with Client.AuditRecord; the names are "<entity>.<verb>".
const (
	AuditJobEnqueue       = "job.enqueue"       // target: the first job's ID; detail: count, ids, kinds, queues, batch
	AuditJobRetry         = "job.retry"         // target: the job's ID; detail: kind, queue, state before
	AuditJobCancel        = "job.cancel"        // target: the job's ID; detail: kind, queue, state after
	AuditJobDelete        = "job.delete"        // target: the job's ID; detail: kind, queue, state
	AuditQueuePause       = "queue.pause"       // target: the queue
	AuditQueueResume      = "queue.resume"      // target: the queue
	AuditRecurringUpsert  = "recurring.upsert"  // target: the entry's ID; detail: created, kind, schedule, time zone
	AuditRecurringPause   = "recurring.pause"   // target: the entry's ID
	AuditRecurringResume  = "recurring.resume"  // target: the entry's ID
	AuditRecurringTrigger = "recurring.trigger" // target: the entry's ID; detail: the job's ID
	AuditRecurringRemove  = "recurring.remove"  // target: the entry's ID; detail: kind, schedule
	AuditRetentionSet     = "retention.set"     // target: "completed of kind X in queue Y"; detail: state, kind, queue, keep
	AuditRetentionDelete  = "retention.delete"  // target: as retention.set's; detail: state, kind, queue, found
	AuditBulkStart        = "bulk.start"        // target: the operation's ID; detail: action, filter, target queue
	AuditBulkCancel       = "bulk.cancel"       // target: the operation's ID; detail: action, state after
	AuditBulkResume       = "bulk.resume"       // target: the operation's ID; detail: action
	// AuditRequestRefused records a state change the dashboard refused for
	// the actor's role (Refused set; detail: method and path).
	AuditRequestRefused = "request.refused"
)

// DefaultAuditRetention is how long audit entries are kept when
// Config.AuditRetention is 0: 90 days.
const DefaultAuditRetention = 90 * 24 * time.Hour

type actorKey struct{}

// WithActor returns a copy of ctx that carries a: the Client's
// state-changing calls made with it are recorded in the audit log as a's.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries (see WithActor), and whether it
// carries one.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// AuditEntry is one entry of the audit log (see Client.AuditList),
// re-exported from kilntype.
type AuditEntry = kilntype.AuditEntry

// Bounds of an AuditEntry's fields, in bytes, re-exported from kilntype:
// Client.AuditRecord (and every store) cuts a longer Actor or Role to
// MaxAuditActorBytes, Action to MaxAuditActionBytes, Target to
// MaxAuditTargetBytes and Addr to MaxAuditAddrBytes, and replaces a
// Detail longer than MaxAuditDetailBytes by {"truncated": true, "bytes": n}.
const (
	MaxAuditActorBytes  = kilntype.MaxAuditActorBytes  // 200
	MaxAuditActionBytes = kilntype.MaxAuditActionBytes // 100
	MaxAuditTargetBytes = kilntype.MaxAuditTargetBytes // 1000
	MaxAuditAddrBytes   = kilntype.MaxAuditAddrBytes   // 100
	MaxAuditDetailBytes = kilntype.MaxAuditDetailBytes // 4096
)

// AuditListParams filters and pages Client.AuditList. The zero value lists
// the newest DefaultAuditListLimit entries.
type AuditListParams struct {
	Actor  string    // exact match; empty means any
	Action string    // exact match (AuditJobRetry, ...); empty means any
	Since  time.Time // entries at or after it; zero means no bound
	Until  time.Time // entries before it; zero means no bound
	// Cursor is the ID of the last entry of the previous page (its
	// NextCursor); 0 starts at the newest.
	Cursor int64
	Limit  int // 1 to MaxAuditListLimit; 0 means DefaultAuditListLimit
}

// DefaultAuditListLimit (100) is AuditList's page size when Limit is 0, and
// MaxAuditListLimit (1,000) the largest (larger limits are cut to it).
const (
	DefaultAuditListLimit = store.DefaultAuditListLimit
	MaxAuditListLimit     = store.MaxAuditListLimit
)

// AuditList returns the audit log's entries matching p (nil: the newest
// page), newest first: every state-changing call made through the
// dashboard, the HTTP API or the CLI (any call made in a context carrying
// an Actor), and the state changes the dashboard refused. Entries older
// than Config.AuditRetention are deleted by the maintenance leader.
func (c *Client) AuditList(ctx context.Context, p *AuditListParams) ([]*AuditEntry, error) {
	if p == nil {
		p = &AuditListParams{}
	}
	rows, err := c.cfg.Store.AuditList(ctx, &store.AuditListParams{Actor: p.Actor, Action: p.Action, Since: p.Since,
		Until: p.Until, Cursor: p.Cursor, Limit: p.Limit})
	if err != nil {
		return nil, fmt.Errorf("kiln: list audit entries: %w", err)
	}
	return rows, nil
}

// AuditRecord records e in the audit log and returns its ID. A zero At is
// the client's clock now; an empty Actor is the actor of ctx (see
// WithActor), else ActorLocal, and so with Role and Addr. A Detail over
// MaxAuditDetailBytes is replaced by {"truncated": true, "bytes":
// n}; one that is not a JSON object gives an error. The dashboard records
// its refusals with it; the client's own calls record themselves.
func (c *Client) AuditRecord(ctx context.Context, e AuditEntry) (int64, error) {
	if e.At.IsZero() {
		e.At = c.now()
	}
	if e.Actor == "" {
		a, ok := ActorFrom(ctx)
		if !ok || a.Name == "" {
			a.Name = ActorLocal
		}
		e.Actor = a.Name
		if e.Role == "" {
			e.Role = a.Role
		}
		if e.Addr == "" {
			e.Addr = a.Addr
		}
	}
	if len(e.Detail) > kilntype.MaxAuditDetailBytes {
		e.Detail = json.RawMessage(`{"truncated":true,"bytes":` + strconv.Itoa(len(e.Detail)) + `}`)
	}
	id, err := c.cfg.Store.AuditInsert(ctx, &store.AuditInsertParams{Entry: &e})
	if err != nil {
		return 0, fmt.Errorf("kiln: record audit entry: %w", err)
	}
	return id, nil
}

// auditTx returns the context of the one store call that makes a change
// of ctx's actor: it asks the store to record action in the transaction
// of the change (store.WithAudit), with the target and detail (a value
// json.Marshal takes, or nil) that of returns from the store's result, so
// that the entry is stored exactly when the change is; an entry that
// cannot be stored fails the call, changing nothing. Without an actor in
// ctx it returns ctx.
func (c *Client) auditTx(ctx context.Context, action string, of func(result any) (target string, detail any)) context.Context {
	a, ok := ActorFrom(ctx)
	if !ok {
		return ctx
	}
	return store.WithAudit(ctx, func(result any) (*AuditEntry, error) {
		target, detail := of(result)
		e := &AuditEntry{At: c.now(), Actor: a.Name, Role: a.Role, Addr: a.Addr, Action: action, Target: target}
		if e.Actor == "" {
			e.Actor = ActorLocal
		}
		if detail != nil {
			b, err := json.Marshal(detail)
			if err != nil {
				return nil, fmt.Errorf("audit detail: %w", err)
			}
			e.Detail = b
		}
		if len(e.Detail) > kilntype.MaxAuditDetailBytes {
			e.Detail = json.RawMessage(`{"truncated":true,"bytes":` + strconv.Itoa(len(e.Detail)) + `}`)
		}
		return e, nil
	})
}

// auditJob is auditTx's target and detail of an action on one job: its ID,
// and its kind, queue and state as the store returns it.
func auditJob(result any) (string, any) {
	row, ok := result.(*JobRow)
	if !ok || row == nil {
		return "", nil
	}
	return strconv.FormatInt(row.ID, 10), jobDetail(row)
}

// audit records action on target with detail (a value json.Marshal takes,
// or nil) when ctx carries an actor, after the change: a failure to record
// it is logged, not returned. The changes whose store method records
// their entry in their own transaction use auditTx instead. It uses context.WithoutCancel
// so that a request ending right after its change still gets its entry.
func (c *Client) audit(ctx context.Context, action, target string, detail any) {
	a, ok := ActorFrom(ctx)
	if !ok {
		return
	}
	e := AuditEntry{Actor: a.Name, Role: a.Role, Addr: a.Addr, Action: action, Target: target}
	if e.Actor == "" {
		e.Actor = ActorLocal
	}
	if detail != nil {
		b, err := json.Marshal(detail)
		if err != nil {
			b = nil
		}
		e.Detail = b
	}
	if _, err := c.AuditRecord(context.WithoutCancel(ctx), e); err != nil {
		c.cfg.Logger.ErrorContext(ctx, "kiln: audit entry not recorded", "action", action, "target", target,
			"actor", e.Actor, "error", err)
	}
}

// jobDetail is the detail of an action on one job.
func jobDetail(row *JobRow) map[string]any {
	return map[string]any{"kind": row.Kind, "queue": row.Queue, "state": row.State}
}

// enqueueDetail is the detail of an enqueue of rows: how many, the first
// 20 IDs, and the kinds and queues (at most 10 of each).
func enqueueDetail(rows []*JobRow, batch string) (string, map[string]any) {
	var ids []int64
	var kinds, queues []string
	add := func(list []string, s string) []string {
		for _, x := range list {
			if x == s {
				return list
			}
		}
		if len(list) < 10 {
			list = append(list, s)
		}
		return list
	}
	for _, r := range rows {
		if len(ids) < 20 {
			ids = append(ids, r.ID)
		}
		kinds, queues = add(kinds, r.Kind), add(queues, r.Queue)
	}
	d := map[string]any{"count": len(rows), "ids": ids, "kinds": kinds, "queues": queues}
	if batch != "" {
		d["batch"] = batch
	}
	target := ""
	if len(rows) > 0 {
		target = strconv.FormatInt(rows[0].ID, 10)
	}
	return target, d
}
