package kilntype

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// KeepForever as a RetentionRule's Keep keeps the jobs the rule matches
// until they are deleted by hand: the cleaner never deletes them.
const KeepForever time.Duration = -1

// RetentionRule says how long finished jobs of one state are kept, for one
// kind, one queue, or one kind in one queue. Kind and Queue empty make the
// state's default (Config.CompletedRetention and its siblings). A job
// follows the most specific rule that matches it: kind and queue, then
// kind, then queue, then its state's default.
//
// Its JSON form is {"state": "completed", "kind": "email", "queue": "",
// "keep": "1h0m0s"}, with "keep": "forever" for KeepForever; "keep" also
// accepts any time.ParseDuration text ("90m", "2160h").
type RetentionRule struct {
	// State is JobStateCompleted, JobStateCancelled or JobStateDiscarded.
	State JobState `json:"state"`
	// Kind, if not empty, restricts the rule to jobs of this kind.
	Kind string `json:"kind,omitempty"`
	// Queue, if not empty, restricts the rule to jobs of this queue.
	Queue string `json:"queue,omitempty"`
	// Keep is how long after they finished the jobs are kept: 0 deletes
	// them at the cleaner's next pass, KeepForever (any negative value)
	// never.
	Keep time.Duration `json:"-"`
	// Source says where the rule comes from when it is listed: "config"
	// (Config.Retention or the per-state defaults) or "database" (set at
	// run time, which wins over a config rule of the same state, kind and
	// queue). Ignored when setting a rule.
	Source string `json:"source,omitempty"`
	// UpdatedAt is when a database rule was last set (UTC); nil otherwise.
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// Forever reports whether the rule keeps its jobs forever.
func (r *RetentionRule) Forever() bool { return r.Keep < 0 }

// KeepText returns Keep as the JSON form writes it: "forever" or a
// time.Duration string such as "1h0m0s".
func (r *RetentionRule) KeepText() string {
	if r.Forever() {
		return "forever"
	}
	return r.Keep.String()
}

// RetentionScope describes a rule's kind and queue as messages write it
// after the state: " of kind X in queue Y", " of kind X", " in queue Y",
// or "" when both are empty.
func RetentionScope(kind, queue string) string {
	s := ""
	if kind != "" {
		s += " of kind " + kind
	}
	if queue != "" {
		s += " in queue " + queue
	}
	return s
}

// Validate returns an error when the rule's state is not a final one, or
// when Kind or Queue has characters a kind or queue name cannot have
// (control characters) or more than 255 bytes.
func (r *RetentionRule) Validate() error {
	if !r.State.Finalized() {
		return fmt.Errorf("retention rule: state %q: want completed, cancelled or discarded", r.State)
	}
	for what, s := range map[string]string{"kind": r.Kind, "queue": r.Queue} {
		if len(s) > 255 || strings.ContainsFunc(s, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			return fmt.Errorf("retention rule: %s %q: at most 255 bytes, no control characters", what, s)
		}
	}
	return nil
}

// Key returns the rule's identity: state, kind and queue, joined by NUL.
// Two rules with the same key cannot both apply.
func (r *RetentionRule) Key() string {
	return string(r.State) + "\x00" + r.Kind + "\x00" + r.Queue
}

// retentionJSON is RetentionRule's JSON form.
type retentionJSON struct {
	State     JobState   `json:"state"`
	Kind      string     `json:"kind,omitempty"`
	Queue     string     `json:"queue,omitempty"`
	Keep      string     `json:"keep"`
	Source    string     `json:"source,omitempty"`
	UpdatedAt *time.Time `json:"updated_at,omitempty"`
}

// MarshalJSON writes the rule with "keep" as KeepText.
func (r RetentionRule) MarshalJSON() ([]byte, error) {
	return json.Marshal(retentionJSON{State: r.State, Kind: r.Kind, Queue: r.Queue, Keep: r.KeepText(),
		Source: r.Source, UpdatedAt: r.UpdatedAt})
}

// UnmarshalJSON reads the rule; "keep" is required: "forever" or a
// time.ParseDuration text that is not negative.
func (r *RetentionRule) UnmarshalJSON(b []byte) error {
	var v retentionJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	keep, err := ParseKeep(v.Keep)
	if err != nil {
		return err
	}
	*r = RetentionRule{State: v.State, Kind: v.Kind, Queue: v.Queue, Keep: keep, Source: v.Source, UpdatedAt: v.UpdatedAt}
	return nil
}

// ParseKeep parses a retention's keep time: "forever" gives KeepForever;
// anything else must be a time.ParseDuration text that is not negative
// ("1h", "90m", "2160h"), or a number of days followed by "d" ("90d").
func ParseKeep(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "forever" {
		return KeepForever, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err == nil && fmt.Sprint(n) == days && n >= 0 && n < 100_000 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("retention keep %q: want \"forever\", a duration such as \"1h\" or \"90m\", or days such as \"90d\"", s)
	}
	return d, nil
}
