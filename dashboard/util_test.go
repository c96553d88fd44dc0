package dashboard_test

import (
	"io"
	"net/http"
	"net/url"
	"testing"
)

// readAll reads a response's body.
func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// encodeForm encodes form values.
func encodeForm(form map[string][]string) string { return url.Values(form).Encode() }
