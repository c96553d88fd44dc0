package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/clienttest"
)

// TestRevealArgs checks Options.RevealArgs: a caller it refuses gets the
// redacted stand-in of encrypted args from every route that answers a job
// or recurring entry, one it allows gets them decrypted, and nil reveals
// them (the client holds the key).
func TestRevealArgs(t *testing.T) {
	st := clienttest.OpenStore(t)
	enc := clienttest.Encryptor(t)
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(context.Context, *kiln.Job[echoArgs]) error { return nil }))
	client, err := kiln.NewClient(&kiln.Config{Store: st, Workers: workers, Encryptor: enc, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	opts := &Options{RevealArgs: func(r *http.Request) bool { return r.Header.Get("X-Reveal") == "yes" }}
	e := &env{t: t, client: client, h: http.StripPrefix("/api", New(client, opts))}
	open := &env{t: t, client: client, h: http.StripPrefix("/api", New(client, nil))}

	// RedactArgs does not know the key ID of args the client decrypted.
	const plain, redacted = `"n":7`, `"args":{"kiln_enc":{"kid":"","redacted":true}}`
	// hidden does a request without X-Reveal: the answer (status want)
	// has the stand-in and not the args; revealed does it with X-Reveal
	// and with a nil RevealArgs: both have the args.
	hidden := func(method, path, body string, want int) {
		t.Helper()
		rec := e.do(method, path, body)
		if got := rec.Body.String(); rec.Code != want || !strings.Contains(got, redacted) || strings.Contains(got, plain) {
			t.Errorf("%s %s hidden: status %d (want %d), body %s; want %s and not %s", method, path, rec.Code, want, got, redacted, plain)
		}
	}
	revealed := func(method, path string, want int) {
		t.Helper()
		for _, h := range []http.Handler{e.h, open.h} {
			req := httptest.NewRequest(method, "/api"+path, nil)
			req.Header.Set("X-Reveal", "yes")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Body.String(); rec.Code != want || !strings.Contains(got, plain) || !strings.Contains(got, `"args_encrypted":true`) {
				t.Errorf("%s %s revealed: status %d (want %d), body %s; want %s", method, path, rec.Code, want, got, plain)
			}
		}
	}

	hidden("POST", "/jobs", `{"kind":"echo","args":{"n":7}}`, http.StatusCreated)
	hidden("POST", "/jobs/batch", `{"jobs":[{"kind":"echo","args":{"n":7}}]}`, http.StatusCreated)
	for _, path := range []string{"/jobs/1", "/jobs"} {
		hidden("GET", path, "", http.StatusOK)
		revealed("GET", path, http.StatusOK)
	}
	hidden("POST", "/jobs/1/cancel", "", http.StatusOK)
	revealed("POST", "/jobs/2/cancel", http.StatusOK)
	hidden("POST", "/jobs/1/retry", "", http.StatusOK)
	hidden("DELETE", "/jobs/1", "", http.StatusOK)

	hidden("PUT", "/recurring/r1", `{"schedule":"@daily","kind":"echo","args":{"n":7}}`, http.StatusOK)
	for _, path := range []string{"/recurring/r1", "/recurring"} {
		hidden("GET", path, "", http.StatusOK)
		revealed("GET", path, http.StatusOK)
	}
	hidden("POST", "/recurring/r1/trigger", "", http.StatusCreated)
	revealed("POST", "/recurring/r1/trigger", http.StatusCreated)
	hidden("POST", "/recurring/r1/pause", "", http.StatusOK)
	hidden("DELETE", "/recurring/r1", "", http.StatusOK)
}
