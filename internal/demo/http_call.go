package demo

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/kilnjobs/kiln"
)

// HTTPCallArgs makes a GET request to URL and expects a 2xx response.
type HTTPCallArgs struct {
	// URL is an absolute http or https URL.
	URL string `json:"url" jsonschema:"required,format=uri,description=An absolute http or https URL"`
}

// Kind returns "demo.http_call".
func (HTTPCallArgs) Kind() string { return "demo.http_call" }

// HTTPCallWorker runs demo.http_call jobs. It is safe for concurrent use.
type HTTPCallWorker struct {
	kiln.WorkerDefaults[HTTPCallArgs]
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
}

// Work calls the URL under ctx and logs the response's status, size and
// time with job.Logf. A response other than 2xx, or a network error, fails
// the attempt; an invalid URL cancels the job.
func (w *HTTPCallWorker) Work(ctx context.Context, job *kiln.Job[HTTPCallArgs]) error {
	u, err := url.Parse(job.Args.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return kiln.JobCancel(fmt.Errorf("http_call: url %q must be an absolute http or https URL", job.Args.URL))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return kiln.JobCancel(fmt.Errorf("http_call: %w", err))
	}
	client := w.Client
	if client == nil {
		client = http.DefaultClient
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("http_call: %w", err)
	}
	defer resp.Body.Close()
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if err := reported(job.Logf(ctx, "GET %s: %s, %d bytes in %s", u.Redacted(), resp.Status, n, time.Since(start).Round(time.Millisecond))); err != nil {
		return err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("http_call: GET %s: status %s", u.Redacted(), resp.Status)
	}
	return nil
}
