package kiln

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// ValidationError reports a value Kiln does not accept, naming the field
// at fault in the HTTP API's spelling ("max_attempts", "args.name",
// "tags[2]"); re-exported from kilntype. Errors of Enqueue, EnqueueMany,
// EnqueueTx, EnqueueBatch, EnqueueCheck, RecurringAddOrUpdate and
// RecurringCheck wrap one when the caller's input is at fault: find it
// with errors.As. The HTTP API answers it with 400 and the field, the
// dashboard shows it next to the field, the CLI names the flag.
type ValidationError = kilntype.ValidationError

// JobArgsWithValidate is implemented by args types that check their own
// values. Validate is called at every enqueue of the kind: on the args
// given to Enqueue, and on the args decoded from JSON when they come as
// RawArgs (the HTTP API, the CLI, the dashboard), before anything is
// stored. A non-nil error fails the enqueue with a *ValidationError for
// field "args"; a *ValidationError returned by Validate keeps its field,
// prefixed with "args." (return Field "name" for args.name).
type JobArgsWithValidate interface {
	JobArgs
	Validate() error
}

// MaxAttemptsLimit is the largest MaxAttempts of a job, in EnqueueOpts,
// Config, Worker and RecurringJob alike: 2,147,483,647, what every store
// keeps exactly. The smallest is 1. Re-exported from kilntype.
const MaxAttemptsLimit = kilntype.MaxAttemptsLimit

// MisfireMaxLimit is the largest RecurringJob.MisfireMax: 10,000;
// re-exported from kilntype.
const MisfireMaxLimit = kilntype.MisfireMaxLimit

// DefaultMaxArgsBytes is Config.MaxArgsBytes's default: 1 MiB.
const DefaultMaxArgsBytes = 1 << 20

// maxKindBytes caps the length of a kind.
const maxKindBytes = 255

// maxRunAt is the latest RunAt: the last second RFC 3339 (and so the HTTP
// API and the dashboard) can write.
var maxRunAt = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// invalid returns a *ValidationError for field.
func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// validateKind checks a kind: 1 to 255 bytes of UTF-8 text without control
// characters.
func validateKind(kind string) error {
	if kind == "" || len(kind) > maxKindBytes {
		return invalid("kind", "%d bytes; want 1 to %d", len(kind), maxKindBytes)
	}
	if err := store.CheckText("kind", kind); err != nil {
		return err
	}
	if strings.IndexFunc(kind, unicode.IsControl) >= 0 {
		return invalid("kind", "%q holds a control character", kind)
	}
	return nil
}

// validateOpts checks the options of one enqueue once defaults are
// merged, except those store.ValidateJobInsert checks on the row.
func validateOpts(opts *EnqueueOpts) error {
	if err := validateQueue("queue", opts.Queue); err != nil {
		return err
	}
	if opts.RunIn < 0 {
		return invalid("run_in", "negative delay %s", opts.RunIn)
	}
	if opts.RunAt.After(maxRunAt) {
		return invalid("run_at", "%s is after %s, the latest time accepted", opts.RunAt.UTC().Format(time.RFC3339), maxRunAt.Format(time.RFC3339))
	}
	if len(opts.Tags) > 32 {
		return invalid("tags", "%d tags; at most 32", len(opts.Tags))
	}
	for i, t := range opts.Tags {
		if t == "" || len(t) > 128 {
			return invalid(fmt.Sprintf("tags[%d]", i), "%q: want 1 to 128 bytes", t)
		}
	}
	for k, v := range opts.Metadata {
		field := keyField("metadata", k)
		if err := store.CheckText(field, k); err != nil {
			return err
		}
		if reservedMetadataKey(k) {
			return invalid(field, "the key %q is reserved: Kiln sets it on the jobs it makes a continuation, a batch member or callback, or a recurring entry's run", k)
		}
		if err := store.CheckText(field, v); err != nil {
			return err
		}
	}
	if opts.Unique != nil && opts.Unique.ByPeriod < 0 {
		return invalid("unique.by_period", "negative period %s", opts.Unique.ByPeriod)
	}
	return nil
}

// reservedMetadataKey reports whether key is one of the metadata keys Kiln
// sets itself and reads back as the truth about a job (its parents, its
// batch, its recurring entry), which EnqueueOpts.Metadata may not hold: a
// job enqueued with kiln.batch_id would read that batch's outputs. The
// trace keys (MetadataTraceParent, MetadataTraceState) are not reserved: a
// caller may choose a job's creation context.
func reservedMetadataKey(key string) bool {
	switch key {
	case MetadataParentIDs, MetadataBatchID, MetadataBatchTotal, MetadataBatchCompleted, MetadataBatchFailed,
		MetadataRecurringID, MetadataOccurrenceAt:
		return true
	}
	return false
}

// checkArgs checks args, encoded as raw, against the worker of their kind,
// if this client has one: RawArgs (or args of another Go type) are decoded
// into the worker's args type with unknown fields refused, and the typed
// args are validated if they implement JobArgsWithValidate.
func (c *Client) checkArgs(kind string, args JobArgs, raw []byte) error {
	e, ok := c.cfg.Workers.entry(kind)
	if !ok {
		if v, ok := args.(JobArgsWithValidate); ok {
			return argsValidateError(v.Validate())
		}
		return nil
	}
	return e.checkArgs(args, raw)
}

// keyField names the value of key in the object field: "metadata.trace",
// or `metadata["a key"]` for keys that are not plain words (the HTTP API
// names fields of its bodies the same way).
func keyField(field, key string) string {
	plain := key != ""
	for _, r := range key {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			plain = false
			break
		}
	}
	if plain {
		return field + "." + key
	}
	return field + "[" + strconv.Quote(key) + "]"
}

// decodeArgsStrict decodes raw into v, refusing fields v's type does not
// have, and returns a *ValidationError naming the field at fault.
func decodeArgsStrict(kind string, raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		return nil
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		field := "args"
		if typ.Field != "" {
			field += "." + typ.Field
		}
		return &ValidationError{Field: field, Message: fmt.Sprintf("got a JSON %s: the args of kind %q do not decode into their Go type, which wants a %s there", typ.Value, kind, typ.Type), Err: err}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return invalid("args."+strings.Trim(name, `"`), "unknown field %s: the args of kind %q have no such field", name, kind)
	}
	return &ValidationError{Field: "args", Message: fmt.Sprintf("do not decode into the args of kind %q", kind), Err: err}
}

// argsValidateError turns the error of an args' Validate into a
// *ValidationError for "args", or a field within them.
func argsValidateError(err error) error {
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if errors.As(err, &ve) {
		field := "args"
		if ve.Field != "" {
			field += "." + ve.Field
		}
		return &ValidationError{Field: field, Message: ve.Message, Err: ve.Err}
	}
	return &ValidationError{Field: "args", Message: "invalid", Err: err}
}
