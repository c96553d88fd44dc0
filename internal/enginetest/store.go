// Package enginetest helps the engine's packages (producer, heartbeat,
// leader, hosted, registry, ...) test themselves alone, without the root
// package: a fake store that keeps in memory the little the engine's
// background parts use, records every call, and fails or stalls any of them
// on demand; a manual clock; a logger that records what it logs; and a
// polling helper with a deadline.
package enginetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// WaitTimeout bounds every wait of this package: generous, so that it only
// ends a hung test (the machine running the tests may be heavily loaded).
const WaitTimeout = 30 * time.Second

// The methods Store answers, as recorded in Call.Method and named to Fail,
// Stall and Calls.
const (
	JobClaim               = "JobClaim"
	JobLeaseRenew          = "JobLeaseRenew"
	JobListCancelRequested = "JobListCancelRequested"
	JobFinishMany          = "JobFinishMany"
	LeaderAttemptElect     = "LeaderAttemptElect"
	LeaderResign           = "LeaderResign"
	ServerUpsert           = "ServerUpsert"
	ServerList             = "ServerList"
	ServerDelete           = "ServerDelete"
	ServerDeleteStale      = "ServerDeleteStale"
	ServiceReport          = "ServiceReport"
	ServiceList            = "ServiceList"
	ServiceDeleteStale     = "ServiceDeleteStale"
	AuditInsert            = "AuditInsert"
	AuditList              = "AuditList"
	AuditDeleteOld         = "AuditDeleteOld"
	JobCountMatching       = "JobCountMatching"
	BulkCreate             = "BulkCreate"
	BulkGet                = "BulkGet"
	BulkList               = "BulkList"
	BulkRunBatch           = "BulkRunBatch"
	BulkCancel             = "BulkCancel"
	BulkResume             = "BulkResume"
	BulkRelease            = "BulkRelease"
	BulkDeleteOld          = "BulkDeleteOld"
	SchemaCheck            = "SchemaCheck"
	MigrationsHeld         = "MigrationsHeld"
	RecurringGet           = "RecurringGet"
	RecurringUpsert        = "RecurringUpsert"
	RateLimitList          = "RateLimitList"
)

// Call is one call a Store received: the method and its params (the params
// pointer or the slice of params; for a method whose params hold only an
// ID or a row, that ID or row).
type Call struct {
	Method string
	Params any
}

// Store is a store.Store for unit tests. It keeps in memory the jobs added
// with AddJobs, their leases and cancel requests, leader terms (timed by
// the params' Now), server rows, service reports, audit entries, bulk
// operations (whose batches change no job) and recurring entries, and
// answers the methods named by this package's constants from them
// (SchemaCheck: a current schema; MigrationsHeld: none held;
// RateLimitList: none), enough for a client with maintenance disabled. Every other method
// of store.Store panics (the embedded interface is nil). Every call is
// recorded before it runs; Fail makes a method return an error and Stall
// makes it block. The zero value is not usable: create it with NewStore. A
// Store is safe for concurrent use.
type Store struct {
	store.Store // nil: the methods the engine's parts do not use panic

	mu       sync.Mutex // guards every field below
	calls    []Call
	changed  chan struct{} // closed and replaced on every call
	fail     map[string]error
	stall    map[string]chan struct{}
	jobs     []*kilntype.JobRow       // due, in claim order
	leased   map[int64]lease          // job ID -> its claim
	cancels  map[int64]bool           // cancel requested
	finished []*store.JobFinishParams // applied finishes, in order
	terms    map[string]term          // leader name -> term
	servers  map[string]*kilntype.ServerRow
	services map[[2]string]*kilntype.ServiceRow // (name, process) -> report
	audit    []*kilntype.AuditEntry             // oldest first
	bulks    []*kilntype.BulkOperation          // by ID, from 1
	recur    map[string]*kilntype.RecurringRow  // by ID
}

type lease struct {
	holder string
	at     time.Time // the claim's AttemptedAt
}

type term struct {
	leader  string
	expires time.Time
}

var _ store.Store = (*Store)(nil)

// SingleWriter reports false: a Completer writes to a Store with several
// writers, as to PostgreSQL.
func (s *Store) SingleWriter() bool { return false }

// NotificationsAvailable reports false: a Store carries no notifications.
func (s *Store) NotificationsAvailable() bool { return false }

// NewStore returns an empty Store.
func NewStore() *Store {
	return &Store{
		changed: make(chan struct{}), fail: map[string]error{}, stall: map[string]chan struct{}{},
		leased: map[int64]lease{}, cancels: map[int64]bool{}, terms: map[string]term{},
		servers: map[string]*kilntype.ServerRow{}, services: map[[2]string]*kilntype.ServiceRow{},
		recur: map[string]*kilntype.RecurringRow{},
	}
}

// Fail makes every later call of method return err, until Fail(method, nil).
func (s *Store) Fail(method string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.fail, method)
	} else {
		s.fail[method] = err
	}
}

// Stall makes every later call of method block until its context is done
// (it then returns the context's error) or until release is called (it
// then runs as usual). Release is idempotent.
func (s *Store) Stall(method string) (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.stall[method] = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall[method] == ch {
				delete(s.stall, method)
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// enter records a call and applies the method's fault, if any: it returns
// the error the call must return, or nil to go on (with s.mu locked).
func (s *Store) enter(ctx context.Context, method string, params any) error {
	s.mu.Lock()
	s.calls = append(s.calls, Call{Method: method, Params: params})
	close(s.changed)
	s.changed = make(chan struct{})
	stall := s.stall[method]
	s.mu.Unlock()
	if stall != nil {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stall:
		}
	}
	s.mu.Lock()
	if err := s.fail[method]; err != nil {
		s.mu.Unlock()
		return err
	}
	return nil
}

// Calls returns the calls of method received so far, oldest first (every
// call when method is "").
func (s *Store) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until method has received at least n calls (recorded as
// they begin, before a stall) and returns them; it fails the test after
// WaitTimeout.
func (s *Store) WaitCalls(t testing.TB, method string, n int) []Call {
	t.Helper()
	deadline := time.NewTimer(WaitTimeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		if calls := s.Calls(method); len(calls) >= n {
			return calls
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("%s: %d calls within %s, want %d", method, len(s.Calls(method)), WaitTimeout, n)
		}
	}
}

// AddJobs makes rows due: JobClaim returns them in this order.
func (s *Store) AddJobs(rows ...*kilntype.JobRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs = append(s.jobs, rows...)
}

// Due returns how many added jobs are not claimed yet.
func (s *Store) Due() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.jobs)
}

// TakeBack ends the lease of job id, as a rescue would: a renewal then
// misses it and its outcome does not apply.
func (s *Store) TakeBack(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.leased, id)
}

// RequestCancel requests the cancel of job id (JobListCancelRequested
// lists it while it is leased).
func (s *Store) RequestCancel(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cancels[id] = true
}

// Finished returns the finishes that applied, in order.
func (s *Store) Finished() []*store.JobFinishParams {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.finished)
}

// Leader returns the leader of name whose term has not expired at now, or "".
func (s *Store) Leader(name string, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.terms[name]; ok && t.expires.After(now) {
		return t.leader
	}
	return ""
}

// Servers returns the registered servers by ID.
func (s *Store) Servers() map[string]*kilntype.ServerRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.servers)
}

// Service returns the last report of service name by process, or nil.
func (s *Store) Service(name, process string) *kilntype.ServiceRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.services[[2]string{name, process}]
}

// JobClaim takes up to Max added jobs in order, skipping those of kinds
// the params exclude (Kinds unless AnyKind, KindLimits); each is returned
// running, leased by LeasedBy, with its attempt counted and AttemptedAt
// Now. ClusterKindLimits are ignored.
func (s *Store) JobClaim(ctx context.Context, p *store.JobClaimParams) ([]*kilntype.JobRow, error) {
	if err := s.enter(ctx, JobClaim, p); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*kilntype.JobRow
	taken := map[string]int{}
	rest := s.jobs[:0:0]
	for _, row := range s.jobs {
		limit, limited := p.KindLimits[row.Kind]
		if len(out) == p.Max || (!p.AnyKind && !slices.Contains(p.Kinds, row.Kind)) ||
			(limited && taken[row.Kind] >= limit) {
			rest = append(rest, row)
			continue
		}
		taken[row.Kind]++
		c := *row
		at := p.Now
		c.State, c.LeasedBy, c.AttemptedAt, c.Attempt = kilntype.JobStateRunning, p.LeasedBy, &at, c.Attempt+1
		s.leased[c.ID] = lease{holder: p.LeasedBy, at: at}
		out = append(out, &c)
	}
	s.jobs = rest
	return out, nil
}

// JobLeaseRenew returns the IDs still leased by LeasedBy.
func (s *Store) JobLeaseRenew(ctx context.Context, p *store.JobLeaseRenewParams) ([]int64, error) {
	if err := s.enter(ctx, JobLeaseRenew, p); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []int64
	for _, id := range p.IDs {
		if l, ok := s.leased[id]; ok && l.holder == p.LeasedBy {
			out = append(out, id)
		}
	}
	return out, nil
}

// JobListCancelRequested returns the leased jobs of leasedBy whose cancel
// was requested, by ID.
func (s *Store) JobListCancelRequested(ctx context.Context, params *store.JobListCancelRequestedParams) ([]int64, error) {
	leasedBy := params.LeasedBy
	if err := s.enter(ctx, JobListCancelRequested, leasedBy); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []int64
	for id := range s.cancels {
		if l, ok := s.leased[id]; ok && l.holder == leasedBy {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// JobFinishMany applies the finishes of jobs still leased by their
// LeasedBy under the claim of their AttemptedAt (zero: any claim), ending
// the lease, and returns their IDs.
func (s *Store) JobFinishMany(ctx context.Context, params []*store.JobFinishParams) ([]int64, error) {
	if err := s.enter(ctx, JobFinishMany, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []int64
	for _, p := range params {
		if l, ok := s.leased[p.ID]; ok && l.holder == p.LeasedBy && (p.AttemptedAt.IsZero() || p.AttemptedAt.Equal(l.at)) {
			delete(s.leased, p.ID)
			s.finished = append(s.finished, p)
			out = append(out, p.ID)
		}
	}
	return out, nil
}

// LeaderAttemptElect elects LeaderID for TTL after Now when Name has no
// leader whose term ends after Now, or extends LeaderID's own term.
func (s *Store) LeaderAttemptElect(ctx context.Context, p *store.LeaderElectParams) (bool, error) {
	if err := s.enter(ctx, LeaderAttemptElect, p); err != nil {
		return false, err
	}
	defer s.mu.Unlock()
	t, ok := s.terms[p.Name]
	if ok && t.leader != p.LeaderID && t.expires.After(p.Now) {
		return false, nil
	}
	s.terms[p.Name] = term{leader: p.LeaderID, expires: p.Now.Add(p.TTL)}
	return true, nil
}

// LeaderResign ends LeaderID's term on Name, if it leads.
func (s *Store) LeaderResign(ctx context.Context, p *store.LeaderResignParams) error {
	if err := s.enter(ctx, LeaderResign, p); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if s.terms[p.Name].leader == p.LeaderID {
		delete(s.terms, p.Name)
	}
	return nil
}

// SchemaCheck reports a current schema.
func (s *Store) SchemaCheck(ctx context.Context) error {
	if err := s.enter(ctx, SchemaCheck, nil); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// MigrationsHeld reports none held.
func (s *Store) MigrationsHeld(ctx context.Context) ([]store.HeldMigration, error) {
	if err := s.enter(ctx, MigrationsHeld, nil); err != nil {
		return nil, err
	}
	s.mu.Unlock()
	return nil, nil
}

// RecurringGet returns a copy of entry ID, or an error wrapping
// kilntype.ErrNotFound.
func (s *Store) RecurringGet(ctx context.Context, params *store.RecurringGetParams) (*kilntype.RecurringRow, error) {
	if err := s.enter(ctx, RecurringGet, params.ID); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	row, ok := s.recur[params.ID]
	if !ok {
		return nil, fmt.Errorf("recurring job %q: %w", params.ID, kilntype.ErrNotFound)
	}
	c := *row
	return &c, nil
}

// RecurringUpsert keeps a copy of the row (whole, on update too) and
// returns another.
func (s *Store) RecurringUpsert(ctx context.Context, params *store.RecurringUpsertParams) (*kilntype.RecurringRow, bool, error) {
	c := *params.Row
	if err := s.enter(ctx, RecurringUpsert, &c); err != nil {
		return nil, false, err
	}
	defer s.mu.Unlock()
	_, found := s.recur[c.ID]
	s.recur[c.ID] = &c
	out := c
	return &out, !found, nil
}

// RateLimitList reports no rate limit set at run time.
func (s *Store) RateLimitList(ctx context.Context, params *store.RateLimitListParams) ([]*store.RateLimitRow, error) {
	if err := s.enter(ctx, RateLimitList, params); err != nil {
		return nil, err
	}
	s.mu.Unlock()
	return nil, nil
}

// ServerUpsert keeps a copy of row.
func (s *Store) ServerUpsert(ctx context.Context, params *store.ServerUpsertParams) error {
	row := params.Row
	c := *row
	if err := s.enter(ctx, ServerUpsert, &c); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.servers[row.ID] = &c
	return nil
}

// ServerDelete deletes server id's row.
func (s *Store) ServerDelete(ctx context.Context, params *store.ServerDeleteParams) error {
	id := params.ID
	if err := s.enter(ctx, ServerDelete, id); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.servers, id)
	return nil
}

// ServiceReport keeps a copy of row as the report of (Name, ProcessID).
func (s *Store) ServiceReport(ctx context.Context, params *store.ServiceReportParams) error {
	row := params.Row
	c := *row
	if err := s.enter(ctx, ServiceReport, &c); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.services[[2]string{row.Name, row.ProcessID}] = &c
	return nil
}

// ServerList returns the server rows, by ID.
func (s *Store) ServerList(ctx context.Context) ([]*kilntype.ServerRow, error) {
	if err := s.enter(ctx, ServerList, nil); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []*kilntype.ServerRow
	for _, id := range slices.Sorted(maps.Keys(s.servers)) {
		c := *s.servers[id]
		out = append(out, &c)
	}
	return out, nil
}

// ServerDeleteStale deletes the rows whose RefreshedAt is before before,
// and returns their IDs.
func (s *Store) ServerDeleteStale(ctx context.Context, params *store.ServerDeleteStaleParams) ([]string, error) {
	before := params.Before
	if err := s.enter(ctx, ServerDeleteStale, before); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	var out []string
	for _, id := range slices.Sorted(maps.Keys(s.servers)) {
		if s.servers[id].RefreshedAt.Before(before) {
			delete(s.servers, id)
			out = append(out, id)
		}
	}
	return out, nil
}

// ServiceList returns every report, by name then process.
func (s *Store) ServiceList(ctx context.Context) ([]*kilntype.ServiceRow, error) {
	if err := s.enter(ctx, ServiceList, nil); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	keys := slices.SortedFunc(maps.Keys(s.services), func(a, b [2]string) int {
		if a[0] != b[0] {
			return strings.Compare(a[0], b[0])
		}
		return strings.Compare(a[1], b[1])
	})
	var out []*kilntype.ServiceRow
	for _, k := range keys {
		c := *s.services[k]
		out = append(out, &c)
	}
	return out, nil
}

// ServiceDeleteStale deletes the reports not updated since before, and
// returns how many.
func (s *Store) ServiceDeleteStale(ctx context.Context, params *store.ServiceDeleteStaleParams) (int, error) {
	before := params.Before
	if err := s.enter(ctx, ServiceDeleteStale, before); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	for k, r := range s.services {
		if r.UpdatedAt.Before(before) {
			delete(s.services, k)
			n++
		}
	}
	return n, nil
}

// AuditInsert stores the entry as store.AuditClean returns it, with the
// next ID.
func (s *Store) AuditInsert(ctx context.Context, params *store.AuditInsertParams) (int64, error) {
	if err := s.enter(ctx, AuditInsert, params.Entry); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	e, err := store.AuditClean(params.Entry)
	if err != nil {
		return 0, err
	}
	e.ID = int64(len(s.audit)) + 1
	if n := len(s.audit); n > 0 {
		e.ID = s.audit[n-1].ID + 1
	}
	s.audit = append(s.audit, &e)
	return e.ID, nil
}

// AuditList returns copies of the entries matching params, newest first.
func (s *Store) AuditList(ctx context.Context, params *store.AuditListParams) ([]*kilntype.AuditEntry, error) {
	if err := s.enter(ctx, AuditList, params); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	out := []*kilntype.AuditEntry{}
	for _, e := range slices.Backward(s.audit) {
		if len(out) == store.AuditLimit(params.Limit) {
			break
		}
		if (params.Cursor > 0 && e.ID >= params.Cursor) || (params.Actor != "" && e.Actor != params.Actor) ||
			(params.Action != "" && e.Action != params.Action) || (!params.Since.IsZero() && e.At.Before(params.Since)) ||
			(!params.Until.IsZero() && !e.At.Before(params.Until)) {
			continue
		}
		c := *e
		out = append(out, &c)
	}
	return out, nil
}

// AuditDeleteOld deletes up to params.Max entries recorded before
// params.Before, and returns how many.
func (s *Store) AuditDeleteOld(ctx context.Context, params *store.AuditDeleteOldParams) (int, error) {
	if err := s.enter(ctx, AuditDeleteOld, params); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	n := 0
	s.audit = slices.DeleteFunc(s.audit, func(e *kilntype.AuditEntry) bool {
		if n < params.Max && e.At.Before(params.Before) {
			n++
			return true
		}
		return false
	})
	return n, nil
}
