package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kilnjobs/kiln/kilntype"
)

// failType is env.fail with a Content-Type of choice ("" for none).
func (e *env) failType(method, path, body string, status int, field, msg, contentType string) {
	e.t.Helper()
	rec := e.doType(method, path, body, contentType)
	var got Error
	if rec.Code != status {
		e.t.Fatalf("%s %s %q (Content-Type %q): status %d, want %d; body %s", method, path, body, contentType, rec.Code, status, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got.Field != field || !strings.Contains(got.Message, msg) {
		e.t.Fatalf("%s %s %q (Content-Type %q): error %s; want field %q and a message containing %q", method, path, body, contentType, rec.Body, field, msg)
	}
}

// TestFormPostRefused: an HTML form of another site (a CORS "simple"
// request, sent by a browser without asking, with the user's cookies or
// basic auth) gets 415 from the routes without a body too, and changes
// nothing: it used to pause queues and cancel jobs.
func TestFormPostRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	job := e.enqueue(`{"kind":"echo","run_in":3600}`)
	for _, path := range []string{"/queues/default/pause", "/jobs/" + itoa(job.ID) + "/cancel"} {
		for _, c := range []struct{ body, ctype string }{
			{"x=1", "application/x-www-form-urlencoded"},
			{"", "application/x-www-form-urlencoded"}, // a form without fields
			{"--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--\r\n", "multipart/form-data; boundary=b"},
			{"x=1", "text/plain"},
			{"", "text/plain;charset=UTF-8"},
		} {
			e.failType("POST", path, c.body, http.StatusUnsupportedMediaType, "", "want application/json", c.ctype)
		}
	}
	if q, err := e.client.QueueList(t.Context()); err != nil || len(q) != 1 || q[0].Paused {
		t.Errorf("queues after the forms: %+v, %v; want default, not paused", q, err)
	}
	if row := e.job(job.ID); row.State != kilntype.JobStateScheduled {
		t.Errorf("job after the forms: %s, want scheduled", row.State)
	}
	// The same requests without a body and without a Content-Type, as
	// curl -X POST sends them, are served.
	e.call("POST", "/queues/default/pause", "", http.StatusOK, nil)
	e.call("POST", "/jobs/"+itoa(job.ID)+"/cancel", "", http.StatusOK, nil)
}

// TestContentTypeEveryChange: every state-changing route refuses a
// Content-Type other than application/json and a body without a
// Content-Type (of known length, or chunked) with 415, before its handler
// runs; application/json with parameters is accepted; GET routes do not
// look at it.
func TestContentTypeEveryChange(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, false)
	for _, rt := range routes() {
		path := strings.NewReplacer("{id}", "1", "{name}", "default", "{kind}", "echo").Replace(rt.path)
		if rt.method == "GET" {
			if rec := e.doType("GET", path, "x=1", "application/x-www-form-urlencoded"); rec.Code == http.StatusUnsupportedMediaType {
				t.Errorf("GET %s with a form's Content-Type: 415", path)
			}
			continue
		}
		e.failType(rt.method, path, "x=1", http.StatusUnsupportedMediaType, "", "want application/json", "application/x-www-form-urlencoded")
		e.failType(rt.method, path, "{}", http.StatusUnsupportedMediaType, "", "want application/json", "text/plain")
		e.failType(rt.method, path, "", http.StatusUnsupportedMediaType, "", "want application/json", "not a media type")
		e.failType(rt.method, path, "{}", http.StatusUnsupportedMediaType, "", "without a Content-Type", "")
		// A chunked body (length unknown) without a Content-Type.
		req := httptest.NewRequest(rt.method, "/api"+path, io.MultiReader(strings.NewReader("{}")))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%s %s, a chunked body without a Content-Type: %d %s, want 415", rt.method, path, rec.Code, rec.Body)
		}
		// Two Content-Type headers.
		req = httptest.NewRequest(rt.method, "/api"+path, strings.NewReader("{}"))
		req.Header["Content-Type"] = []string{"application/json", "text/plain"}
		rec = httptest.NewRecorder()
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%s %s with two Content-Types: %d %s, want 415", rt.method, path, rec.Code, rec.Body)
		}
		if rec := e.doType(rt.method, path, "{}", "Application/JSON; charset=utf-8"); rec.Code == http.StatusUnsupportedMediaType {
			t.Errorf("%s %s with application/json; charset=utf-8: 415 %s", rt.method, path, rec.Body)
		}
	}
	// An empty chunked body without a Content-Type is no body.
	req := httptest.NewRequest("POST", "/api/queues/default/pause", io.MultiReader(strings.NewReader("")))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Errorf("POST /queues/default/pause, an empty chunked body: %d %s, want 200", rec.Code, rec.Body)
	}
}
