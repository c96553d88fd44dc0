package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/httpapi"
)

// maxLimitsShown bounds the rate limits the Limits page lists: the first
// ones by kind.
const maxLimitsShown = 1000

// limitsData is the Limits page's data: the kinds' rate limits (at most
// maxLimitsShown; Truncated when there are more), the kinds this process
// has workers for, offered by the form, and the kinds' concurrency limits
// with their use (at most maxLimitsShown; ConcurrencyTruncated when there
// are more).
type limitsData struct {
	RateLimits           []*rateLimitRow
	Truncated            bool
	Kinds                []string
	ConcurrencyLimits    []*concurrencyRow
	ConcurrencyTruncated bool
}

// concurrencyRow is one kind's concurrency limits on the Limits page: its
// view as the HTTP API shows it, and each limit with its use in words
// ("-" for no limit of that sort).
type concurrencyRow struct {
	*httpapi.ConcurrencyLimitView
	// ProcessText is this process's running jobs of MaxConcurrency
	// ("3 of 5"), ClusterText every process's of ClusterMaxConcurrency,
	// KeyText the per-key limit and how many keys run ("2 per key, 9
	// keys running").
	ProcessText, ClusterText, KeyText string
	// AtProcess and AtCluster say that a limit is reached.
	AtProcess, AtCluster bool
	// Busiest are the busiest keys ("acme 2"), AtKey for those at the
	// per-key limit.
	Busiest []busyKey
}

// busyKey is one of a kind's busiest partition keys on the Limits page.
type busyKey struct {
	Key     string
	Running int
	AtLimit bool
}

// concurrencyRowOf returns st as the Limits page shows it.
func concurrencyRowOf(st *kiln.ConcurrencyLimitState) *concurrencyRow {
	v := &concurrencyRow{ConcurrencyLimitView: st, ProcessText: "-", ClusterText: "-", KeyText: "-"}
	if st.MaxConcurrency > 0 {
		v.ProcessText = fmt.Sprintf("%d of %d", st.RunningHere, st.MaxConcurrency)
		v.AtProcess = st.RunningHere >= st.MaxConcurrency
	}
	if st.ClusterMaxConcurrency > 0 {
		v.ClusterText = fmt.Sprintf("%d of %d", st.Running, st.ClusterMaxConcurrency)
		v.AtCluster = st.Running >= st.ClusterMaxConcurrency
	}
	if st.PartitionMaxConcurrency > 0 {
		v.KeyText = fmt.Sprintf("%d per key, %s running", st.PartitionMaxConcurrency, plural(st.Keys, "key"))
		for _, k := range st.BusiestKeys {
			v.Busiest = append(v.Busiest, busyKey{Key: k.Key, Running: k.Running, AtLimit: k.Running >= st.PartitionMaxConcurrency})
		}
	}
	return v
}

// rateLimitRow is one kind's rate limit on the Limits page: its view as
// the HTTP API shows it, and its limits and next slot in words.
type rateLimitRow struct {
	*httpapi.RateLimitView
	LimitText, DefaultText string
	// NextText is "now", or when the next job may start and how far off.
	NextText string
}

// rateLimitRowOf returns st as the Limits page shows it.
func rateLimitRowOf(st *kiln.RateLimitState) *rateLimitRow {
	v := &rateLimitRow{RateLimitView: httpapi.NewRateLimitView(st), LimitText: "none", DefaultText: "none", NextText: "now"}
	if st.Limit.Enabled() {
		v.LimitText = budgetText(st.Limit)
		if d := st.NextSlot.Sub(st.At); d > 0 {
			v.NextText = fmt.Sprintf("%s (in %s)", formatTime(st.NextSlot), formatDuration(d))
		}
	}
	if st.Default.Enabled() {
		v.DefaultText = budgetText(st.Default)
	}
	return v
}

// limitsPage serves the Limits page: each kind's rate limit in force with
// its budget's use and next slot, and a form to set or remove one; and the
// concurrency limits that workers declare, this process's or those live
// processes published, with their use
// (Client.ConcurrencyLimits), read only.
func (h *handler) limitsPage(w http.ResponseWriter, r *http.Request) {
	list, err := h.client.RateLimitList(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	d := &limitsData{Kinds: h.client.Kinds()}
	if len(list) > maxLimitsShown {
		list, d.Truncated = list[:maxLimitsShown], true
	}
	for _, st := range list {
		d.RateLimits = append(d.RateLimits, rateLimitRowOf(st))
	}
	limits, err := h.client.ConcurrencyLimits(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	if len(limits) > maxLimitsShown {
		limits, d.ConcurrencyTruncated = limits[:maxLimitsShown], true
	}
	for _, st := range limits {
		d.ConcurrencyLimits = append(d.ConcurrencyLimits, concurrencyRowOf(st))
	}
	h.render(w, r, http.StatusOK, "limits", &page{Title: "Limits", Nav: "limits", Data: d})
}

// rateLimitSet serves POST /limits/rate: sets the rate limit of the form's
// kind to limit jobs per period (a duration such as "1m") plus burst,
// for every process; with per_key checked, the limit of each of the
// kind's partition keys (Client.RateLimitSet with perKey).
func (h *handler) rateLimitSet(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/limits")
	kind := strings.TrimSpace(r.PostFormValue("kind"))
	perKey := formPerKey(r)
	limit, err := formInt(r, "limit", 0)
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: err.Error()})
		return
	}
	burst, err := formInt(r, "burst", 0)
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: err.Error()})
		return
	}
	per := strings.TrimSpace(r.PostFormValue("period"))
	period, err := time.ParseDuration(per)
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: fmt.Sprintf("Period %q: want a duration such as 1s, 1m or 24h.", per)})
		return
	}
	l := kiln.RateLimit{Limit: limit, Period: period, Burst: burst}
	if err := h.client.RateLimitSet(r.Context(), kind, perKey, l); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: limitError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Rate limit of %s set to %s for every process.", limitName(kind, perKey),
		budgetText(l))})
}

// rateLimitRemove serves POST /limits/rate/delete: removes the run-time
// rate limit of the form's kind (of each of its keys with per_key).
func (h *handler) rateLimitRemove(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/limits")
	kind, perKey := r.PostFormValue("kind"), formPerKey(r)
	if err := h.client.RateLimitRemove(r.Context(), kind, perKey); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: limitError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Rate limit of %s removed; its worker's default, if any, applies again.",
		limitName(kind, perKey))})
}

// formPerKey reports whether the form's per_key field is set (a checked
// box sends "on"; the row's remove button "true").
func formPerKey(r *http.Request) bool {
	switch r.PostFormValue("per_key") {
	case "on", "true", "1":
		return true
	}
	return false
}

// limitName names the limit of kind in flashes: "email.send", or
// "sync (per partition key)" for a per-key limit.
func limitName(kind string, perKey bool) string {
	if perKey {
		return kind + " (per partition key)"
	}
	return kind
}

// formInt returns the form's integer field name, def when empty, or an
// error saying what was wrong.
func formInt(r *http.Request, name string, def int) (int, error) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a whole number", strings.ToUpper(name[:1])+name[1:], s)
	}
	return n, nil
}

// limitError is the flash text of a refused or failed limit change.
func limitError(err error) string {
	var ve *kiln.ValidationError
	if errors.As(err, &ve) || errors.Is(err, kiln.ErrNotFound) {
		return strings.TrimPrefix(err.Error(), "kiln: ")
	}
	return actionError(err)
}

// budgetText is l in words: "10 per 1m0s, burst 2".
func budgetText(l kiln.RateLimit) string {
	if l.Burst == 0 {
		return fmt.Sprintf("%d per %v", l.Limit, l.Period)
	}
	return fmt.Sprintf("%d per %v, burst %d", l.Limit, l.Period, l.Burst)
}
