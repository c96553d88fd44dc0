package kilntype

import "testing"

func TestRetentionScope(t *testing.T) {
	for _, c := range []struct{ kind, queue, want string }{
		{"", "", ""},
		{"email", "", " of kind email"},
		{"", "bulk", " in queue bulk"},
		{"email", "bulk", " of kind email in queue bulk"},
	} {
		if got := RetentionScope(c.kind, c.queue); got != c.want {
			t.Errorf("RetentionScope(%q, %q) = %q, want %q", c.kind, c.queue, got, c.want)
		}
	}
}
