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
// maxLimitsShown; Truncated when there are more) and the kinds this
// process has workers for, offered by the form.
type limitsData struct {
	RateLimits []*rateLimitRow
	Truncated  bool
	Kinds      []string
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
// its budget's use and next slot, and a form to set or remove one.
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
	h.render(w, r, http.StatusOK, "limits", &page{Title: "Limits", Nav: "limits", Data: d})
}

// rateLimitSet serves POST /limits/rate: sets the rate limit of the form's
// kind to limit jobs per period (a duration such as "1m") plus burst,
// for every process.
func (h *handler) rateLimitSet(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/limits")
	kind := strings.TrimSpace(r.PostFormValue("kind"))
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
	if err := h.client.RateLimitSet(r.Context(), kind, false, l); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: limitError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Rate limit of %s set to %s for every process.", kind, budgetText(l))})
}

// rateLimitRemove serves POST /limits/rate/delete: removes the run-time
// rate limit of the form's kind.
func (h *handler) rateLimitRemove(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/limits")
	kind := r.PostFormValue("kind")
	if err := h.client.RateLimitRemove(r.Context(), kind, false); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: limitError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Rate limit of %s removed; its worker's default, if any, applies again.", kind)})
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
