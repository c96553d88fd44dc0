package httpapi

import (
	"net/http"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
)

func TestRetention(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	var res struct{ Rules []*kiln.RetentionRule }
	e.call("GET", "/retention", "", http.StatusOK, &res)
	if len(res.Rules) != 3 || res.Rules[0].Source != "config" {
		t.Fatalf("rules of a new store: %+v, want the 3 per-state ones", res.Rules)
	}
	e.call("PUT", "/retention", `{"state":"completed","kind":"email","keep":"1h"}`, http.StatusOK, &res)
	e.call("PUT", "/retention", `{"state":"discarded","queue":"billing","keep":"forever"}`, http.StatusOK, &res)
	e.call("PUT", "/retention", `{"state":"discarded","keep":"90d"}`, http.StatusOK, &res)
	want := map[string]time.Duration{
		"completed\x00\x00":        24 * time.Hour,
		"completed\x00email\x00":   time.Hour,
		"cancelled\x00\x00":        7 * 24 * time.Hour,
		"discarded\x00\x00":        90 * 24 * time.Hour,
		"discarded\x00\x00billing": kiln.KeepForever,
	}
	if len(res.Rules) != len(want) {
		t.Fatalf("rules %+v, want %d", res.Rules, len(want))
	}
	for _, r := range res.Rules {
		if keep, ok := want[r.Key()]; !ok || keep != r.Keep {
			t.Errorf("rule %q keep %v, want %v (%v)", r.Key(), r.Keep, keep, ok)
		}
		if (r.Kind != "" || r.Queue != "" || r.State == "discarded") != (r.Source == "database") {
			t.Errorf("rule %q source %q", r.Key(), r.Source)
		}
	}
	var del struct{ Deleted bool }
	e.call("DELETE", "/retention?state=completed&kind=email", "", http.StatusOK, &del)
	if !del.Deleted {
		t.Error("deleting a stored rule answered deleted false")
	}
	e.call("DELETE", "/retention?state=completed&kind=email", "", http.StatusOK, &del)
	if del.Deleted {
		t.Error("deleting it again answered deleted true")
	}
	e.fail("PUT", "/retention", `{"state":"running","keep":"1h"}`, http.StatusBadRequest, "state", "want completed")
	e.fail("PUT", "/retention", `{"state":"completed","keep":"soon"}`, http.StatusBadRequest, "keep", "retention keep")
	e.fail("PUT", "/retention", `{"state":"completed","keep":"1h","x":1}`, http.StatusBadRequest, "x", "unknown")
	e.fail("DELETE", "/retention?state=available", "", http.StatusBadRequest, "state", "want completed")
}
