package kilntype

import (
	"bytes"
	"encoding/json"
)

// MetadataValue returns the value of key in the job's Metadata, and
// whether the key is there: a string value as it is (those of
// kiln.EnqueueOpts.Metadata, and Kiln's kiln.recurring_id), any other
// value (Kiln's kiln.parent_ids, kiln.batch_total) as its compact JSON
// text. Metadata that is not a JSON object has no keys.
func (r *JobRow) MetadataValue(key string) (string, bool) {
	v, ok := metadataMap(r.Metadata)[key]
	return v, ok
}

// MetadataMap returns the job's Metadata as a map, with each value as
// MetadataValue gives it: what kiln.EnqueueOpts.Metadata set, plus the keys
// Kiln added. It is never nil; changing it changes nothing in the job.
func (r *JobRow) MetadataMap() map[string]string { return metadataMap(r.Metadata) }

// MetadataValue returns the value of key in the metadata of the entry's
// jobs, as JobRow.MetadataValue does.
func (r *RecurringRow) MetadataValue(key string) (string, bool) {
	v, ok := metadataMap(r.Metadata)[key]
	return v, ok
}

// MetadataMap returns the metadata of the entry's jobs as a map, as
// JobRow.MetadataMap does.
func (r *RecurringRow) MetadataMap() map[string]string { return metadataMap(r.Metadata) }

// metadataMap decodes metadata, a JSON object: string values as they are,
// others as their compact JSON. It returns an empty map for anything else.
func metadataMap(metadata json.RawMessage) map[string]string {
	var raw map[string]json.RawMessage
	out := map[string]string{}
	if json.Unmarshal(metadata, &raw) != nil {
		return out
	}
	for k, v := range raw {
		var s string
		if len(v) > 0 && v[0] == '"' && json.Unmarshal(v, &s) == nil {
			out[k] = s
			continue
		}
		var b bytes.Buffer
		if json.Compact(&b, v) == nil {
			out[k] = b.String()
		}
	}
	return out
}
