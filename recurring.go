package kiln

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/internal/release"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
	"github.com/kilnjobs/kiln/store"
)

// RecurringRow is a stored recurring entry, re-exported from kilntype.
type RecurringRow = kilntype.RecurringRow

// OverlapPolicy says what a recurring entry does when an occurrence comes
// due while the job of an earlier occurrence has not finished; re-exported from kilntype
// (OverlapSkip, OverlapAllow, OverlapQueueOne).
type OverlapPolicy = kilntype.OverlapPolicy

// The overlap policies, re-exported from kilntype.
const (
	// OverlapSkip skips the new occurrence while an earlier run of the
	// entry is unfinished (pending, scheduled, available, running or
	// retryable); the default.
	OverlapSkip = kilntype.OverlapSkip
	// OverlapAllow enqueues every occurrence, so runs may overlap.
	OverlapAllow = kilntype.OverlapAllow
	// OverlapQueueOne enqueues the new occurrence while at most one earlier
	// run is unfinished and it is running, and keeps it pending until that
	// run has ended: one run at a time plus one waiting.
	OverlapQueueOne = kilntype.OverlapQueueOne
)

// MisfirePolicy says what a recurring entry does with occurrences that were
// missed because no scheduler ran at their time; re-exported from kilntype (MisfireRunOnce, MisfireSkip,
// MisfireRunAll).
type MisfirePolicy = kilntype.MisfirePolicy

// The misfire policies, re-exported from kilntype.
const (
	// MisfireRunOnce runs one job now for all the missed occurrences (the
	// latest one), then follows the schedule; the default.
	MisfireRunOnce = kilntype.MisfireRunOnce
	// MisfireSkip drops the missed occurrences and waits for the next one.
	MisfireSkip = kilntype.MisfireSkip
	// MisfireRunAll runs one job for every missed occurrence (the latest
	// ones), up to the entry's MisfireMax (DefaultMisfireMax when 0).
	MisfireRunAll = kilntype.MisfireRunAll
)

// DefaultMisfireMax caps how many missed occurrences MisfireRunAll catches
// up on when RecurringJob.MisfireMax is 0.
const DefaultMisfireMax = 100

// Metadata keys Kiln sets on the jobs it enqueues for recurring entries.
// They are reserved: EnqueueOpts.Metadata (and a recurring entry's) may
// not hold them.
const (
	MetadataRecurringID  = "kiln.recurring_id"
	MetadataOccurrenceAt = "kiln.occurrence_at" // RFC 3339, UTC
)

// RecurringJob defines a recurring entry: a job enqueued at every
// occurrence of a schedule (Hangfire's RecurringJob.AddOrUpdate, Quartz's
// cron trigger). Define entries in Config.Recurring, or at run time with
// Client.RecurringAddOrUpdate.
type RecurringJob struct {
	// ID identifies the entry; defining an entry with an existing ID
	// updates it. 1 to 200 bytes.
	ID string
	// Schedule is a cron expression (5 fields, or 6 with leading seconds),
	// a descriptor (@hourly, @daily, ...), "@every <duration>" (at least
	// 1 s), or "@every <duration> from <RFC 3339 time>". See package
	// schedule, and its helpers such as schedule.Daily(9, 30).
	Schedule string
	// TimeZone is the IANA zone cron fields are read in ("Europe/Berlin");
	// "" means UTC. Intervals ignore it. See package schedule for the
	// daylight-saving rules.
	TimeZone string
	// Args is the job's args, encoded to JSON when the entry is defined.
	Args JobArgs
	// Opts are the enqueue options of every job (Queue, Priority,
	// MaxAttempts, Tags, Metadata, Partition); RunAt, RunIn and Unique are
	// not allowed. The partition key is Opts.Partition, else the args'
	// Partitioner's, computed once when the entry is defined and stored
	// with it (RecurringRow.Partition): every occurrence's job carries it.
	Opts *EnqueueOpts
	// Overlap is what happens when an occurrence comes while an earlier
	// run is unfinished; default OverlapSkip.
	Overlap OverlapPolicy
	// Misfire is what happens to occurrences missed while no scheduler ran;
	// default MisfireRunOnce.
	Misfire MisfirePolicy
	// MisfireMax caps the occurrences MisfireRunAll catches up on: 1 to
	// MisfireMaxLimit; 0 means DefaultMisfireMax.
	MisfireMax int
}

// recurringRow validates def and turns it into a row whose NextRunAt is the
// first occurrence after now. Errors caused by def wrap a *ValidationError.
func (c *Client) recurringRow(def RecurringJob, now time.Time) (*RecurringRow, error) {
	if def.ID == "" || len(def.ID) > 200 {
		return nil, fmt.Errorf("recurring job ID %q: %w", def.ID, invalid("id", "%d bytes; want 1 to 200", len(def.ID)))
	}
	fail := func(err error) (*RecurringRow, error) {
		return nil, fmt.Errorf("recurring job %q: %w", def.ID, err)
	}
	if err := store.CheckText("id", def.ID); err != nil {
		return fail(err)
	}
	sched, err := schedule.Parse(def.Schedule, def.TimeZone)
	if err != nil {
		field := "schedule"
		if _, zoneErr := schedule.Parse("@daily", def.TimeZone); zoneErr != nil {
			field = "time_zone"
		}
		return fail(&ValidationError{Field: field, Message: "invalid", Err: err})
	}
	if def.Opts != nil {
		for _, o := range []struct {
			field string
			set   bool
		}{{"run_at", !def.Opts.RunAt.IsZero()}, {"run_in", def.Opts.RunIn != 0}, {"unique", def.Opts.Unique != nil}} {
			if o.set {
				return fail(invalid(o.field, "not allowed in a recurring entry: the schedule decides when jobs run, and each occurrence runs once"))
			}
		}
	}
	if def.Overlap == "" {
		def.Overlap = OverlapSkip
	}
	if !def.Overlap.Valid() {
		return fail(invalid("overlap", "unknown overlap policy %q (want skip, allow or queue_one)", def.Overlap))
	}
	if def.Misfire == "" {
		def.Misfire = MisfireRunOnce
	}
	if !def.Misfire.Valid() {
		return fail(invalid("misfire", "unknown misfire policy %q (want run_once, skip or run_all)", def.Misfire))
	}
	if def.MisfireMax == 0 {
		def.MisfireMax = DefaultMisfireMax
	}
	if err := store.CheckRange("misfire_max", int64(def.MisfireMax), 1, MisfireMaxLimit); err != nil {
		return fail(err)
	}
	// The job template is validated as an enqueue would be.
	job, err := c.insertParams(EnqueueParams{Args: def.Args, Opts: def.Opts}, now)
	if err != nil {
		return fail(err)
	}
	return &RecurringRow{
		ID: def.ID, Schedule: sched.String(), TimeZone: def.TimeZone,
		Kind: job.Kind, Args: job.Args, Queue: job.Queue, Priority: job.Priority, MaxAttempts: job.MaxAttempts,
		Tags: job.Tags, Metadata: job.Metadata, Partition: job.Partition,
		Overlap: def.Overlap, Misfire: def.Misfire, MisfireMax: def.MisfireMax,
		NextRunAt: sched.Next(now), CreatedAt: now, UpdatedAt: now,
	}, nil
}

// RecurringAddOrUpdate stores def: it creates the entry, or updates the one
// with the same ID (as Hangfire's AddOrUpdate). An update keeps the entry's
// paused state and history; it keeps its next run unless the schedule or
// time zone changed. It returns the stored entry, or an error that names
// the entry and what is wrong (a malformed schedule names the field; an
// unknown time zone names the zone; an unknown kind wraps ErrUnknownKind).
func (c *Client) RecurringAddOrUpdate(ctx context.Context, def RecurringJob) (*RecurringRow, error) {
	row, created, err := c.upsertRecurring(ctx, def)
	if err != nil {
		return nil, fmt.Errorf("kiln: %w", err)
	}
	c.audit(ctx, AuditRecurringUpsert, row.ID, map[string]any{"created": created, "kind": row.Kind,
		"schedule": row.Schedule, "time_zone": row.TimeZone, "queue": row.Queue})
	c.revealRecurring(row)
	c.wakeRecurring()
	return row, nil
}

// revealRecurring gives a reader row's args as reveal gives a job's.
func (c *Client) revealRecurring(row *RecurringRow) {
	if row == nil {
		return
	}
	j := &JobRow{Kind: row.Kind, Args: row.Args}
	c.reveal(j, 0)
	row.Args, row.ArgsEncrypted = j.Args, j.ArgsEncrypted
}

// upsertRecurring stores def and reports whether it created the entry.
func (c *Client) upsertRecurring(ctx context.Context, def RecurringJob) (*RecurringRow, bool, error) {
	now := c.now()
	row, err := c.recurringRow(def, now)
	if err != nil {
		return nil, false, err
	}
	old, err := c.cfg.Store.RecurringGet(ctx, &store.RecurringGetParams{ID: def.ID})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, false, fmt.Errorf("recurring job %q: %w", def.ID, err)
	}
	reset := old != nil && (old.Schedule != row.Schedule || old.TimeZone != row.TimeZone)
	stored, _, err := c.cfg.Store.RecurringUpsert(ctx, &store.RecurringUpsertParams{Row: row, ResetNextRun: reset, Now: now})
	if err != nil {
		return nil, false, fmt.Errorf("recurring job %q: %w", def.ID, err)
	}
	return stored, old == nil, nil
}

// RecurringGet returns the entry, or an error wrapping ErrNotFound.
func (c *Client) RecurringGet(ctx context.Context, id string) (*RecurringRow, error) {
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: get recurring job %q: %w", id, err)
	}
	row, err := c.cfg.Store.RecurringGet(ctx, &store.RecurringGetParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: get recurring job %q: %w", id, err)
	}
	c.revealRecurring(row)
	return row, nil
}

// RecurringList returns up to limit entries (0: 100) ordered by ID, after
// cursor (the last ID of the previous page; "" for the first).
func (c *Client) RecurringList(ctx context.Context, cursor string, limit int) ([]*RecurringRow, error) {
	rows, err := c.cfg.Store.RecurringList(ctx, &store.RecurringListParams{Cursor: cursor, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("kiln: list recurring jobs: %w", err)
	}
	for _, row := range rows {
		c.revealRecurring(row)
	}
	return rows, nil
}

// RecurringPause stops the entry from enqueuing jobs until resumed. Jobs
// already enqueued are not touched. Returns the entry, or ErrNotFound.
func (c *Client) RecurringPause(ctx context.Context, id string) (*RecurringRow, error) {
	return c.setPaused(ctx, id, true)
}

// RecurringResume lets a paused entry enqueue again, from its next
// occurrence after now: occurrences during the pause are not caught up.
// Returns the entry, or ErrNotFound.
func (c *Client) RecurringResume(ctx context.Context, id string) (*RecurringRow, error) {
	return c.setPaused(ctx, id, false)
}

func (c *Client) setPaused(ctx context.Context, id string, paused bool) (*RecurringRow, error) {
	verb := map[bool]string{true: "pause", false: "resume"}[paused]
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: %s recurring job %q: %w", verb, id, err)
	}
	now := c.now()
	p := &store.RecurringSetPausedParams{ID: id, Paused: paused, Now: now}
	if !paused {
		row, err := c.cfg.Store.RecurringGet(ctx, &store.RecurringGetParams{ID: id})
		if err != nil {
			return nil, fmt.Errorf("kiln: %s recurring job %q: %w", verb, id, err)
		}
		sched, err := schedule.Parse(row.Schedule, row.TimeZone)
		if err != nil {
			return nil, fmt.Errorf("kiln: %s recurring job %q: stored schedule: %w", verb, id, err)
		}
		p.NextRunAt = sched.Next(now)
	}
	row, err := c.cfg.Store.RecurringSetPaused(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("kiln: %s recurring job %q: %w", verb, id, err)
	}
	c.revealRecurring(row)
	c.wakeRecurring()
	c.audit(ctx, map[bool]string{true: AuditRecurringPause, false: AuditRecurringResume}[paused], id, nil)
	return row, nil
}

// RecurringTrigger enqueues the entry's job now, outside its schedule and
// whatever its overlap policy (Hangfire's Trigger), also when paused. The
// schedule is not moved. Returns the enqueued job, or ErrNotFound.
func (c *Client) RecurringTrigger(ctx context.Context, id string) (*JobRow, error) {
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: trigger recurring job %q: %w", id, err)
	}
	row, err := c.cfg.Store.RecurringGet(ctx, &store.RecurringGetParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: trigger recurring job %q: %w", id, err)
	}
	now := c.now()
	job, err := recurringJobParams(row, now, now)
	if err != nil {
		return nil, fmt.Errorf("kiln: trigger recurring job %q: %w", id, err)
	}
	res, err := c.cfg.Store.RecurringEnqueue(ctx, &store.RecurringEnqueueParams{
		ID: id, Overlap: OverlapAllow, Now: now,
		Occurrences: []store.RecurringOccurrenceInsert{{At: now, Job: job}},
	})
	if err != nil {
		return nil, fmt.Errorf("kiln: trigger recurring job %q: %w", id, err)
	}
	if len(res) != 1 || res[0].Job == nil {
		return nil, fmt.Errorf("kiln: trigger recurring job %q: %w: already triggered at %s", id, ErrJobState, now)
	}
	c.wake(res[0].Job.Queue)
	c.reveal(res[0].Job, 0)
	c.audit(ctx, AuditRecurringTrigger, id, map[string]any{"job": res[0].Job.ID, "kind": res[0].Job.Kind, "queue": res[0].Job.Queue})
	return res[0].Job, nil
}

// RecurringRemove deletes the entry (jobs it enqueued stay) and returns it
// as it was, or an error wrapping ErrNotFound.
func (c *Client) RecurringRemove(ctx context.Context, id string) (*RecurringRow, error) {
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: remove recurring job %q: %w", id, err)
	}
	row, err := c.cfg.Store.RecurringDelete(ctx, &store.RecurringDeleteParams{ID: id})
	if err != nil {
		return nil, fmt.Errorf("kiln: remove recurring job %q: %w", id, err)
	}
	c.revealRecurring(row)
	c.wakeRecurring()
	c.audit(ctx, AuditRecurringRemove, id, map[string]any{"kind": row.Kind, "schedule": row.Schedule})
	return row, nil
}

// checkLookupID returns a wrapped ErrNotFound for an ID that no entry or
// batch can have (a NUL byte or invalid UTF-8, which every enqueue and
// registration refuses), so that both stores answer a lookup of it alike:
// PostgreSQL would refuse the text itself.
func checkLookupID(id string) error {
	if strings.ContainsRune(id, 0) || !utf8.ValidString(id) {
		return fmt.Errorf("%w: no ID holds a NUL byte or invalid UTF-8", ErrNotFound)
	}
	return nil
}

// RecurringNext returns the next n fire times (UTC) of a schedule in a time
// zone after from, for checking an expression before using it.
func RecurringNext(spec, timeZone string, from time.Time, n int) ([]time.Time, error) {
	sched, err := schedule.Parse(spec, timeZone)
	if err != nil {
		return nil, err
	}
	return schedule.NextN(sched, from, n), nil
}

// recurringJobParams builds the job of one occurrence of row: the row's
// template, available now, with the entry and occurrence in its metadata.
func recurringJobParams(row *RecurringRow, at, now time.Time) (*store.JobInsertParams, error) {
	var meta map[string]any
	if len(row.Metadata) > 0 {
		if err := json.Unmarshal(row.Metadata, &meta); err != nil {
			return nil, fmt.Errorf("stored metadata: %w", err)
		}
	}
	if meta == nil { // absent, or a stored null
		meta = map[string]any{}
	}
	meta[MetadataRecurringID] = row.ID
	meta[MetadataOccurrenceAt] = at.UTC().Format(time.RFC3339Nano)
	metadata, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	return &store.JobInsertParams{
		Kind: row.Kind, Queue: row.Queue, Args: row.Args, Priority: row.Priority, MaxAttempts: row.MaxAttempts,
		State: JobStateAvailable, ScheduledAt: now, CreatedAt: now, Tags: row.Tags, Metadata: metadata,
		Partition: row.Partition,
	}, nil
}

// defineRecurring stores the entries of Config.Recurring at Start, and
// prunes the others when Config.PruneRecurring is set.
func (c *Client) defineRecurring(ctx context.Context) error {
	keep := make([]string, 0, len(c.cfg.Recurring))
	for _, def := range c.cfg.Recurring {
		err := c.startCall(ctx, func(ctx context.Context) error {
			_, _, err := c.upsertRecurring(ctx, def)
			return err
		})
		if err != nil {
			return err
		}
		keep = append(keep, def.ID)
	}
	if c.cfg.PruneRecurring {
		var removed []string
		err := c.startCall(ctx, func(ctx context.Context) (err error) {
			removed, err = c.cfg.Store.RecurringDeleteExcept(ctx, &store.RecurringDeleteExceptParams{Keep: keep})
			return err
		})
		if err != nil {
			return fmt.Errorf("prune recurring jobs: %w", err)
		}
		if len(removed) > 0 {
			c.cfg.Logger.Info("kiln: pruned recurring jobs no longer defined", "ids", removed)
		}
	}
	return nil
}

// RecurringOccurrence is one enqueued occurrence of a recurring entry.
type RecurringOccurrence struct {
	RecurringID string    // the entry's ID
	At          time.Time // the occurrence's time, UTC
	JobID       int64     // the job enqueued for it
	// JobState is the state of the job, or "" if the job was deleted.
	JobState JobState
	// StartedAt is when the job's first attempt started, AttemptedAt when
	// its latest one did, FinalizedAt when it reached a final state; each
	// nil before, and all nil when the job was deleted.
	StartedAt, AttemptedAt, FinalizedAt *time.Time
	// Attempt is the number of attempts the job has started.
	Attempt int
}

// RecurringOccurrences returns the entry's latest enqueued occurrences,
// newest first, at most limit (0: 10), each with its job's current state:
// the entry's run history.
func (c *Client) RecurringOccurrences(ctx context.Context, id string, limit int) ([]*RecurringOccurrence, error) {
	if limit <= 0 {
		limit = 10
	}
	if err := checkLookupID(id); err != nil {
		return nil, fmt.Errorf("kiln: list occurrences of recurring job %q: %w", id, err)
	}
	occ, err := c.cfg.Store.RecurringOccurrenceList(ctx, &store.RecurringOccurrenceListParams{ID: id, Limit: limit})
	if err != nil {
		return nil, fmt.Errorf("kiln: list occurrences of recurring job %q: %w", id, err)
	}
	out := make([]*RecurringOccurrence, len(occ))
	for i, o := range occ {
		out[i] = (*RecurringOccurrence)(o)
	}
	return out, nil
}

// newReleaser returns the releaser of a client being started.
func (c *Client) newReleaser() *release.Releaser {
	return release.New(release.Config{
		Store: c.cfg.Store, Now: c.now, Logger: c.cfg.Logger,
		OnReleased: func(rows []*JobRow) {
			for _, r := range rows {
				c.wake(r.Queue)
			}
		},
	})
}

// releaseWaiting hands a recurring job whose outcome this process has just
// written to the releaser when the job ended: the entry's next occurrence
// may be waiting for it (overlap skip and queue_one), and starts at once
// rather than at the resolver's next pass.
func (c *Client) releaseWaiting(row *JobRow, p *store.JobFinishParams) {
	if p.State.Finalized() && bytes.Contains(row.Metadata, []byte(`"`+MetadataRecurringID+`"`)) {
		c.releaser.Add(row.ID)
	}
}
