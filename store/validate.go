package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/kilnjobs/kiln/internal/jsoncheck"
	"github.com/kilnjobs/kiln/kilntype"
)

// MaxJSONNumberLength caps the length of a number in args and metadata, in
// bytes: numbers are kept exactly up to this length by every store.
const MaxJSONNumberLength = jsoncheck.MaxNumberLength

// MaxJSONDepth caps how deep arrays and objects nest in args, metadata
// and outputs (SQLite's JSON functions refuse deeper values); see
// CheckJSON.
const MaxJSONDepth = jsoncheck.MaxDepth

// ValidateJobInsert checks the values of p that a store must keep exactly,
// as every backend's JobInsertMany (and RecurringEnqueue) does before it
// writes anything, so that no backend truncates or refuses what another
// keeps: Priority within kilntype.PriorityHighest..PriorityLowest,
// MaxAttempts within 1..kilntype.MaxAttemptsLimit, the text of Kind, Queue,
// Tags, UniqueKey and BatchID (see CheckText), Partition (see
// CheckPartition), Args (see CheckJSON) and Metadata (a JSON object, or
// nil). The error is a *kilntype.ValidationError naming the field.
func ValidateJobInsert(p *JobInsertParams) error {
	if err := CheckRange("priority", int64(p.Priority), kilntype.PriorityHighest, kilntype.PriorityLowest); err != nil {
		return err
	}
	if err := CheckRange("max_attempts", int64(p.MaxAttempts), 1, kilntype.MaxAttemptsLimit); err != nil {
		return err
	}
	if err := CheckPartition(p.Partition); err != nil {
		return err
	}
	return validateTemplate(p.Kind, p.Queue, p.Tags, p.Args, p.Metadata, map[string]string{
		"unique_key": p.UniqueKey, "batch_id": p.BatchID,
	})
}

// ValidateRecurringRow checks the values of a recurring entry as every
// backend's RecurringUpsert does before it writes anything: a non-empty ID,
// known overlap and misfire policies (plain errors), then its job's as
// ValidateJobInsert checks them, MisfireMax within
// 0..kilntype.MisfireMaxLimit, and the text of ID, Schedule and TimeZone
// (a *kilntype.ValidationError naming the field).
func ValidateRecurringRow(r *kilntype.RecurringRow) error {
	switch {
	case r.ID == "":
		return errors.New("empty ID")
	case !r.Overlap.Valid():
		return fmt.Errorf("unknown overlap policy %q", r.Overlap)
	case !r.Misfire.Valid():
		return fmt.Errorf("unknown misfire policy %q", r.Misfire)
	}
	if err := CheckRange("priority", int64(r.Priority), kilntype.PriorityHighest, kilntype.PriorityLowest); err != nil {
		return err
	}
	if err := CheckRange("max_attempts", int64(r.MaxAttempts), 1, kilntype.MaxAttemptsLimit); err != nil {
		return err
	}
	if err := CheckRange("misfire_max", int64(r.MisfireMax), 0, kilntype.MisfireMaxLimit); err != nil {
		return err
	}
	if err := CheckPartition(r.Partition); err != nil {
		return err
	}
	return validateTemplate(r.Kind, r.Queue, r.Tags, r.Args, r.Metadata, map[string]string{
		"id": r.ID, "schedule": r.Schedule, "time_zone": r.TimeZone,
	})
}

// validateTemplate checks the job fields shared by jobs and recurring
// entries, and the other text fields named in text.
func validateTemplate(kind, queue string, tags []string, args, metadata json.RawMessage, text map[string]string) error {
	text["kind"], text["queue"] = kind, queue
	for _, field := range []string{"id", "kind", "queue", "schedule", "time_zone", "unique_key", "batch_id"} {
		if s, ok := text[field]; ok {
			if err := CheckText(field, s); err != nil {
				return err
			}
		}
	}
	for i, t := range tags {
		if err := CheckText(fmt.Sprintf("tags[%d]", i), t); err != nil {
			return err
		}
	}
	if err := CheckJSON("args", args); err != nil {
		return err
	}
	if metadata == nil {
		return nil
	}
	if err := CheckJSON("metadata", metadata); err != nil {
		return err
	}
	if b := bytes.TrimLeft(metadata, " \t\r\n"); len(b) == 0 || b[0] != '{' {
		return &kilntype.ValidationError{Field: "metadata", Message: "want a JSON object"}
	}
	return nil
}

// CheckRange returns a *kilntype.ValidationError for field unless
// lo <= n <= hi.
func CheckRange(field string, n, lo, hi int64) error {
	if n < lo || n > hi {
		return &kilntype.ValidationError{Field: field, Message: fmt.Sprintf("%d is out of range %d to %d", n, lo, hi)}
	}
	return nil
}

// CheckText returns a *kilntype.ValidationError for field unless s is
// valid UTF-8 without NUL: PostgreSQL refuses such text, so no store
// accepts it.
func CheckText(field, s string) error {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return &kilntype.ValidationError{Field: field, Message: fmt.Sprintf("not valid UTF-8 (byte 0x%02x at offset %d)", s[i], i)}
		case r == 0:
			return &kilntype.ValidationError{Field: field, Message: fmt.Sprintf("holds a NUL byte at offset %d; text may not contain NUL", i)}
		}
		i += size
	}
	return nil
}

// CheckPartition returns a *kilntype.ValidationError for the field
// "partition" unless key is at most kilntype.MaxPartitionKeyBytes bytes of
// valid UTF-8 without NUL ("" is no key, and valid).
func CheckPartition(key string) error {
	if len(key) > kilntype.MaxPartitionKeyBytes {
		return &kilntype.ValidationError{Field: "partition", Message: fmt.Sprintf("%d bytes; at most %d", len(key), kilntype.MaxPartitionKeyBytes)}
	}
	return CheckText("partition", key)
}

// CheckJSON returns a *kilntype.ValidationError for field unless b is one
// valid JSON value that every store keeps exactly: valid UTF-8, no \u0000
// (NUL) and no unpaired surrogate escape in its strings (PostgreSQL's
// jsonb refuses both; encode binary data, as base64 for example), and
// numbers of at most MaxJSONNumberLength bytes within float64's range
// (beyond it PostgreSQL's numeric overflows, and encoding/json cannot
// decode them into float64 either). Offsets in messages count bytes from
// the start of b.
func CheckJSON(field string, b []byte) error { return jsoncheck.Check(field, b) }

// CleanText returns s with NUL and bytes that are not UTF-8 replaced by
// U+FFFD. Stores apply it to the text that workers and services produce
// (attempt errors and traces, hosted service errors), which is recorded
// rather than refused: PostgreSQL cannot keep NUL or invalid UTF-8, and
// an outcome that cannot be written would leave its job to run again.
func CleanText(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
