// Package httpjob is Kiln's built-in "http" job kind: a job that makes one
// HTTP request, for webhooks and calls to other services.
//
// Register it in a client's Workers and enqueue [Args]:
//
//	workers := kiln.NewWorkers()
//	httpjob.Register(workers, nil) // nil: http.DefaultClient
//	...
//	_, err := client.Enqueue(ctx, httpjob.Args{
//		URL:  "https://example.com/hooks/order",
//		Body: json.RawMessage(`{"order":42}`),
//	}, nil)
//
// A 2xx response completes the job. A 5xx, 408 or 429 response, a network
// error or a timeout fails the attempt, so the job is retried with backoff.
// Any other response (a 1xx, 3xx that was not followed, or a 4xx) cancels
// the job: sending the same request again would get the same answer. Args
// that cannot make a request (a relative URL, a bad header) cancel it too.
// Error messages name the method, the URL (without its password), the
// status and the first 512 bytes of the response body.
//
// From the command line: kiln enqueue http --args '{"url":"https://example.com"}'.
package httpjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kilnjobs/kiln"
)

// Kind is the kind of HTTP jobs.
const Kind = "http"

// maxErrorBody is how much of a response body an error message quotes.
const maxErrorBody = 512

// maxDrain is how much of a successful response body is read (and thrown
// away) so that the connection can be reused.
const maxDrain = 1 << 20

// Args is one HTTP request. Its JSON field names are what `kiln enqueue http
// --args` takes.
type Args struct {
	// URL is the absolute http or https URL to call. Required.
	URL string `json:"url"`
	// Method is the HTTP method: default GET, or POST when Body is set.
	Method string `json:"method,omitempty"`
	// Headers are added to the request. They may override the
	// Content-Type that a Body sets.
	Headers map[string]string `json:"headers,omitempty"`
	// Body, if set (and not JSON null), is sent as the request body with
	// Content-Type: application/json.
	Body json.RawMessage `json:"body,omitempty"`
	// TimeoutSeconds bounds each attempt, the whole request included; 0
	// means the client's Config.JobTimeout (1 minute by default).
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Kind returns "http".
func (Args) Kind() string { return Kind }

// hasBody reports whether a has a body to send.
func (a Args) hasBody() bool {
	return len(bytes.TrimSpace(a.Body)) > 0 && string(bytes.TrimSpace(a.Body)) != "null"
}

// method returns the method the request uses.
func (a Args) method() string {
	switch {
	case a.Method != "":
		return strings.ToUpper(a.Method)
	case a.hasBody():
		return http.MethodPost
	default:
		return http.MethodGet
	}
}

// Validate returns an error saying what is wrong with a, or nil if a can
// make a request: an absolute http or https URL with a host, a method and
// header names that are HTTP tokens, header values without line breaks, a
// Body that is valid JSON and a TimeoutSeconds that is not negative.
func (a Args) Validate() error {
	u, err := url.Parse(a.URL)
	if err != nil {
		return fmt.Errorf("httpjob: invalid url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("httpjob: url %q must be an absolute http or https URL", u.Redacted())
	}
	if a.Method != "" && !isToken(a.Method) {
		return fmt.Errorf("httpjob: invalid method %q", a.Method)
	}
	for name, value := range a.Headers {
		if !isToken(name) {
			return fmt.Errorf("httpjob: invalid header name %q", name)
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return fmt.Errorf("httpjob: header %s: value must not contain line breaks or NUL", name)
		}
	}
	if a.hasBody() && !json.Valid(a.Body) {
		return errors.New("httpjob: body is not valid JSON")
	}
	if a.TimeoutSeconds < 0 {
		return fmt.Errorf("httpjob: timeout_seconds is %d; want 0 or more", a.TimeoutSeconds)
	}
	return nil
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Worker runs HTTP jobs. It is safe for concurrent use. Its zero value uses
// http.DefaultClient.
type Worker struct {
	kiln.WorkerDefaults[Args]
	// Client makes the requests; nil means http.DefaultClient. Its own
	// Timeout, if any, applies on top of the job's.
	Client *http.Client
}

var _ kiln.Worker[Args] = (*Worker)(nil)

// Register adds a Worker using client (nil: http.DefaultClient) for the
// "http" kind to workers. Like kiln.AddWorker, it panics if the kind
// already has a worker.
func Register(workers *kiln.Workers, client *http.Client) {
	kiln.AddWorker(workers, &Worker{Client: client})
}

// Timeout returns the job's TimeoutSeconds, or 0 (the client's JobTimeout).
func (w *Worker) Timeout(job *kiln.Job[Args]) time.Duration {
	if job.Args.TimeoutSeconds > 0 {
		return time.Duration(job.Args.TimeoutSeconds) * time.Second
	}
	return 0
}

// Work makes the request described by the job's args under ctx. It returns
// nil for a 2xx response; an error (retried) for a 5xx, 408 or 429
// response or a network error; and a kiln.JobCancel error (not retried)
// for invalid args and for any other response.
func (w *Worker) Work(ctx context.Context, job *kiln.Job[Args]) error {
	a := job.Args
	if err := a.Validate(); err != nil {
		return kiln.JobCancel(err)
	}
	method := a.method()
	var body io.Reader
	if a.hasBody() {
		body = bytes.NewReader(a.Body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.URL, body)
	if err != nil {
		return kiln.JobCancel(fmt.Errorf("httpjob: make request: %w", err))
	}
	req.Header.Set("User-Agent", "kiln-httpjob")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for name, value := range a.Headers {
		req.Header.Set(name, value)
	}
	where := method + " " + req.URL.Redacted()

	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // Do's error repeats the method and URL
		}
		return fmt.Errorf("httpjob: %s: %w", where, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	err = fmt.Errorf("httpjob: %s: status %s%s", where, resp.Status, formatBody(snippet))
	if retryable(resp.StatusCode) {
		return err
	}
	return kiln.JobCancel(err)
}

// retryable reports whether a request that got status code may succeed if
// sent again later.
func retryable(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

// formatBody returns the start of a response body for an error message:
// empty for an empty body, else "; body: " and the body quoted on one line.
func formatBody(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return fmt.Sprintf("; body: %q", s)
}
