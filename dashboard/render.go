package dashboard

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/dustin/go-humanize"

	"github.com/kilnjobs/kiln/kilntype"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// staticHandler serves the embedded CSS, JavaScript and vendored files
// under /static/, cacheable for an hour. It serves files only: a path that
// names a directory (such as /static/ or /static/vendor/) gets 404, not a
// listing.
func staticHandler() http.Handler {
	files := http.FileServerFS(staticFS)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if fi, err := fs.Stat(staticFS, name); err != nil || fi.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// renderer holds the parsed pages: each page template is the layout plus
// the shared partials plus its own file.
type renderer struct {
	pages map[string]*template.Template
}

// newRenderer parses the embedded templates.
func newRenderer(prefix string) (*renderer, error) {
	funcs := template.FuncMap{
		"url":          func(p string, parts ...any) string { return prefix + p + pathParts(parts) },
		"ts":           formatTime,
		"inZone":       inZone,
		"ago":          ago,
		"dur":          formatDuration,
		"prettyJSON":   prettyJSON,
		"json":         compactJSON,
		"query":        queryString,
		"add":          func(a, b int) int { return a + b },
		"pct":          percent,
		"number":       number,
		"list":         func(v ...any) []any { return v },
		"took":         took,
		"plural":       plural,
		"jobTook":      jobTook,
		"size":         size,
		"unescapeHTML": unescapeHTML,
		"argsNote":     noteArgs,
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: parse layout: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	r := &renderer{pages: map[string]*template.Template{}}
	for _, name := range names {
		base := path.Base(name)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(templateFS, name)
		if err != nil {
			return nil, fmt.Errorf("dashboard: parse %s: %w", base, err)
		}
		r.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return r, nil
}

// pathParts joins path segments, each escaped: url "/jobs/" 5 "/retry".
func pathParts(parts []any) string {
	var b strings.Builder
	for _, p := range parts {
		s := fmt.Sprint(p)
		if strings.HasPrefix(s, "/") {
			b.WriteString(s)
			continue
		}
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// page is what every page template receives: the layout's fields and the
// page's own Data.
type page struct {
	Prefix   string
	Title    string
	Nav      string // the highlighted navigation entry
	ReadOnly bool
	Flash    *flash
	Now      time.Time
	// Back is this page's path and query relative to Prefix, for action
	// forms to come back to; LiveURL is the URL that renders only its
	// "live" block, PartURL the same without the block's name.
	Back, LiveURL, PartURL string
	Data                   any
}

// render writes page name with status, as a whole page, or only one of
// its blocks "live" and "history" when the request asks for it
// (?partial=live, sent by htmx polls).
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := h.pages.pages[name]
	if !ok {
		h.serverError(w, r, fmt.Errorf("dashboard: no page template %q", name))
		return
	}
	p.Prefix = h.opts.Prefix
	p.ReadOnly = h.opts.ReadOnly || isViewer(r)
	p.Now = time.Now().UTC()
	p.Back = pagePath(r)
	sep := "?"
	if strings.Contains(p.Back, "?") {
		sep = "&"
	}
	p.PartURL = h.opts.Prefix + p.Back + sep + "partial="
	p.LiveURL = p.PartURL + "live"
	if p.Flash == nil {
		p.Flash = takeFlash(w, r, h.cookiePath())
	}
	exec := "layout.html"
	switch part := r.URL.Query().Get("partial"); part {
	case "live", "history":
		exec = part
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, exec, p); err != nil {
		h.serverError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// serverError logs err and answers 500 without its details: a store error
// may name tables or paths that the page's viewer need not see.
func (h *handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Logger.Error("dashboard: request failed", "method", r.Method, "path", r.URL.Path, "error", err)
	http.Error(w, "Internal error: see the server's log.", http.StatusInternalServerError)
}

// notFound renders the not-found page.
func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusNotFound, "error", &page{Title: "Not found", Data: "There is no such page: " + r.URL.Path})
}

// flash is a one-time message shown on the page after a redirect.
type flash struct {
	Error bool   `json:"e,omitempty"`
	Text  string `json:"t"`
}

// flashCookie names the cookie that carries a flash across a redirect.
const flashCookie = "kiln_flash"

// cookiePath is the Path of the dashboard's cookies.
func (h *handler) cookiePath() string { return h.opts.Prefix + "/" }

// redirect sends the browser back to the dashboard path back (relative to
// Prefix) with a flash message, after a POST (post/redirect/get).
func (h *handler) redirect(w http.ResponseWriter, r *http.Request, back string, f flash) {
	b, _ := json.Marshal(f)
	http.SetCookie(w, &http.Cookie{
		Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString(b), Path: h.cookiePath(),
		MaxAge: 60, HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, h.opts.Prefix+back, http.StatusSeeOther)
}

// takeFlash returns the flash carried by r, if any, and clears it.
func takeFlash(w http.ResponseWriter, r *http.Request, cookiePath string) *flash {
	c, err := r.Cookie(flashCookie)
	if err != nil || r.URL.Query().Get("partial") != "" {
		return nil
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: cookiePath, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	var f flash
	if json.Unmarshal(b, &f) != nil || f.Text == "" {
		return nil
	}
	return &f
}

// pagePath returns r's path as it was sent (escaped: a recurring ID's "%",
// "?" or "#" stays part of the path) and its query without "partial":
// the page's own address relative to Prefix, for forms to come back to
// and for live updates to poll.
func pagePath(r *http.Request) string {
	return r.URL.EscapedPath() + queryWithout(r, "partial")
}

// backPath returns the form's "back" field when it is a dashboard path
// (relative to Prefix), else fallback: a redirect never leaves the
// dashboard. The field must parse as a URL reference with no scheme, host
// or user info whose path starts with exactly one "/", and hold no
// backslash and no control character, raw or percent-decoded: browsers
// drop TAB, CR and LF from a URL and read "\" as "/", so "/\t/evil" or
// "/\\evil" would otherwise reach another host.
func backPath(r *http.Request, fallback string) string {
	if back := r.PostFormValue("back"); onSite(back) {
		return back
	}
	return fallback
}

// onSite reports whether back is a path (with an optional query) that
// stays on this host; see backPath.
func onSite(back string) bool {
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsRune(back, '\\') || hasControl(back) {
		return false
	}
	u, err := url.Parse(back)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return false
	}
	return strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(u.Path, "//") &&
		!strings.ContainsRune(u.Path, '\\') && !hasControl(u.Path)
}

// hasControl reports whether s holds a control character (C0, DEL or C1)
// or is not valid UTF-8.
func hasControl(s string) bool {
	return !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0
}

// timeOf returns v, a time.Time or a *time.Time, as a time; nil and other
// types give the zero time.
func timeOf(v any) time.Time {
	switch x := v.(type) {
	case time.Time:
		return x
	case *time.Time:
		if x != nil {
			return *x
		}
	}
	return time.Time{}
}

// formatTime formats a UTC time for a page; the zero time and nil give "-".
func formatTime(v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// inZone formats t in the IANA time zone tz ("" or unknown: UTC), with
// the zone's abbreviation: how a recurring entry's runs read in its zone.
func inZone(t time.Time, tz string) string {
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		loc = time.UTC
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// ago describes t relative to now: "3s ago", "in 2m", "-" for none.
func ago(now time.Time, v any) string {
	t := timeOf(v)
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	if d >= 0 {
		return formatDuration(d) + " ago"
	}
	return "in " + formatDuration(-d)
}

// formatDuration gives a short duration: "<1ms", "850ms", "12s",
// "3m05s", "5h02m", "2d".
func formatDuration(d time.Duration) string {
	switch {
	case d > 0 && d < time.Millisecond:
		return "<1ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
}

// took returns how long an attempt ran, or for one under way how long it
// has run by now: "12s so far".
func took(now time.Time, a *kilntype.JobAttempt) string {
	if a.FinishedAt == nil {
		return formatDuration(max(now.Sub(a.StartedAt), 0)) + " so far"
	}
	return formatDuration(a.FinishedAt.Sub(a.StartedAt))
}

// jobTook returns how long a job's last attempt ran, from its start to
// the job's end: for a finished job its duration, for a running one the
// time so far ("12s so far"), else "-" (no attempt, or one that ended
// without finishing the job, whose end the job row does not keep).
func jobTook(now time.Time, j *kilntype.JobRow) string {
	switch {
	case j.AttemptedAt == nil:
		return "-"
	case j.State == kilntype.JobStateRunning:
		return formatDuration(max(now.Sub(*j.AttemptedAt), 0)) + " so far"
	case j.FinalizedAt != nil && !j.FinalizedAt.Before(*j.AttemptedAt):
		return formatDuration(j.FinalizedAt.Sub(*j.AttemptedAt))
	default:
		return "-"
	}
}

// prettyJSON indents a JSON document for display; invalid JSON is shown as
// it is. The result is text, which the templates escape.
func prettyJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return unescapeHTML(b.String())
}

// size writes n bytes for people: "812 B", "1.5 KiB", "48 MiB".
func size(n int) string {
	if n < 0 {
		n = 0
	}
	return humanize.IBytes(uint64(n))
}

// compactJSON is prettyJSON on one line, for lists.
func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return unescapeHTML(b.String())
}

// htmlEscapes are the escapes encoding/json writes for <, > and & (which
// all stored args have): shown as the characters the user wrote, since the
// templates escape them for HTML anyway.
var htmlEscapes = map[string]string{`\u003c`: "<", `\u003e`: ">", `\u0026`: "&"}

// unescapeHTML replaces encoding/json's \u003c, \u003e and \u0026 in a
// JSON text by the characters, except where the backslash is itself
// escaped.
func unescapeHTML(s string) string {
	if !strings.Contains(s, `\u00`) {
		return s
	}
	var b strings.Builder
	backslashes := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && backslashes%2 == 0 && i+6 <= len(s) {
			if ch, ok := htmlEscapes[s[i:i+6]]; ok {
				b.WriteString(ch)
				i += 5
				backslashes = 0
				continue
			}
		}
		if s[i] == '\\' {
			backslashes++
		} else {
			backslashes = 0
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// queryString builds "?k=v&..." from pairs, leaving out empty values.
func queryString(pairs ...any) string {
	q := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		if v := fmt.Sprint(pairs[i+1]); v != "" && v != "0" {
			q.Set(fmt.Sprint(pairs[i]), v)
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// plural writes a count with its noun, in the singular for one: "1 live
// server", "3 live servers". noun is the singular; the plural adds "s".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// percent returns part/whole in whole percents, 0 for an empty whole.
func percent(part, whole int) int {
	if whole <= 0 {
		return 0
	}
	return part * 100 / whole
}
