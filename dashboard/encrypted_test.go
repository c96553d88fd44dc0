package dashboard_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

// TestEncryptedArgs checks how the pages show encrypted args: decrypted
// with a badge "encrypted" when the client holds the key and
// Options.RevealArgs lets the viewer see them; only a badge "encrypted,
// hidden" when it does not (pages, mounted API and recurring form hold no
// plain args); a badge "encrypted, key not held" naming the key in a
// process without it; never the redacted stand-in's JSON.
func TestEncryptedArgs(t *testing.T) {
	st := clienttest.OpenStore(t)
	enc := clienttest.Encryptor(t)
	newClient := func(enc *kiln.Encryptor) *kiln.Client {
		workers := kiln.NewWorkers()
		kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[okArgs]) error { return nil }))
		c, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Encryptor: enc, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	holder, other := newClient(enc), newClient(nil)
	ctx := context.Background()
	short, err := holder.Enqueue(ctx, okArgs{Text: "secret-short"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	long, err := holder.Enqueue(ctx, okArgs{Text: "secret-long" + strings.Repeat("x", 2000)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Enqueue(ctx, okArgs{Text: "public"}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := holder.RecurringAddOrUpdate(ctx, kiln.RecurringJob{ID: "r1", Schedule: "@daily", Args: okArgs{Text: "secret-recurring"}}); err != nil {
		t.Fatal(err)
	}

	handler := func(c *kiln.Client, opts *dashboard.Options) http.Handler {
		opts.AllowRemote, opts.Logger = true, slog.New(slog.DiscardHandler)
		h, err := dashboard.New(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	reveal := func(r *http.Request) bool { return r.Header.Get("X-Reveal") == "yes" }
	withKey := handler(holder, &dashboard.Options{RevealArgs: reveal})
	withoutKey := handler(other, &dashboard.Options{})
	get := func(h http.Handler, path string, revealed bool) string {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		if revealed {
			req.Header.Set("X-Reveal", "yes")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		if rec.Code != http.StatusOK {
			t.Fatalf("GET %s: status %d\n%s", path, rec.Code, body)
		}
		return string(body)
	}
	want := func(what, page string, has []string, hasNot ...string) {
		t.Helper()
		for _, s := range has {
			if !strings.Contains(page, s) {
				t.Errorf("%s does not have %q:\n%s", what, s, page)
			}
		}
		for _, s := range hasNot {
			if strings.Contains(page, s) {
				t.Errorf("%s has %q:\n%s", what, s, page)
			}
		}
	}
	badge := func(text string) string { return `<span class="badge args-encrypted">` + text + `</span>` }
	jobBadge := func(text string) string {
		return `<span class="badge args-encrypted" id="job-args-encrypted">` + text + `</span>`
	}
	shortPage, longPage := fmt.Sprintf("/jobs/%d", short.Job.ID), fmt.Sprintf("/jobs/%d", long.Job.ID)

	// Revealed: decrypted, marked; a list cut of the ciphertext links to
	// the job, whose page shows the args whole.
	want("the revealed Jobs page", get(withKey, "/jobs", true),
		[]string{badge("encrypted"), "secret-short", `>open the job for its args</a>`, "public"}, "kiln_enc", "secret-long", "encrypted, ")
	want("the revealed job page", get(withKey, shortPage, true), []string{jobBadge("encrypted"), "secret-short", `id="job-args-size"`}, "kiln_enc")
	want("the revealed long job page", get(withKey, longPage, true), []string{jobBadge("encrypted"), "secret-long"}, "kiln_enc")
	want("the revealed recurring form", get(withKey, "/recurring/r1/edit", true), []string{"secret-recurring"}, "kiln_enc")

	// Hidden from this viewer: only the badge, everywhere.
	want("the hidden Jobs page", get(withKey, "/jobs", false), []string{badge("encrypted, hidden"), "public"}, "secret", "kiln_enc")
	want("the hidden job page", get(withKey, shortPage, false),
		[]string{jobBadge("encrypted, hidden"), "The args are encrypted and hidden from you."}, "secret", "kiln_enc", `id="job-args-size"`)
	want("the hidden API job", get(withKey, "/api"+shortPage, false), []string{`"kiln_enc":{"kid":"","redacted":true}`}, "secret")
	want("the revealed API job", get(withKey, "/api"+shortPage, true), []string{"secret-short"}, "kiln_enc")
	want("the hidden recurring form", get(withKey, "/recurring/r1/edit", false), nil, "secret")

	// A process without the key.
	want("the Jobs page without the key", get(withoutKey, "/jobs", true),
		[]string{badge("encrypted, key not held"), "public"}, "secret", "kiln_enc")
	want("the job page without the key", get(withoutKey, shortPage, true),
		[]string{jobBadge("encrypted, key not held"), "The args are encrypted with key &#34;k1&#34;, which this process does not hold."}, "secret", "kiln_enc")
}
