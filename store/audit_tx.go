package store

import (
	"context"

	"github.com/kilnjobs/kiln/kilntype"
)

// AuditBuild returns the audit entry of a change from the store method's
// result (the row it returns, as it returns it), or nil to record none.
type AuditBuild func(result any) (*kilntype.AuditEntry, error)

type auditKey struct{}

// WithAudit returns a copy of ctx that asks the store method it is passed
// to for an audit entry in the transaction of its change: the entry build
// returns from the method's result is inserted (as AuditInsert does)
// before the commit, so that the change and its entry are both stored or
// neither is; an entry the store refuses fails the call, changing
// nothing. The methods that honour it say so (JobCancel, JobRetry,
// JobDelete); the others ignore it. Pass the context to one store call
// only.
func WithAudit(ctx context.Context, build AuditBuild) context.Context {
	return context.WithValue(ctx, auditKey{}, build)
}

// AuditEntryFor returns the entry ctx asks a store method to record for
// its result (see WithAudit), cleaned as AuditClean does, or nil when ctx
// asks for none. Stores call it in the transaction of the change, after
// the change, and insert the entry there.
func AuditEntryFor(ctx context.Context, result any) (*kilntype.AuditEntry, error) {
	build, _ := ctx.Value(auditKey{}).(AuditBuild)
	if build == nil {
		return nil, nil
	}
	e, err := build(result)
	if err != nil || e == nil {
		return nil, err
	}
	clean, err := AuditClean(e)
	if err != nil {
		return nil, err
	}
	return &clean, nil
}
