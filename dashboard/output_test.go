package dashboard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/dashboard"
	"github.com/kilnjobs/kiln/internal/clienttest"
	"github.com/kilnjobs/kiln/kilntest"
)

// resultArgs are the args of kind "result", whose worker records an
// output with HTML in it.
type resultArgs struct{}

func (resultArgs) Kind() string { return "result" }

// TestJobPageShowsOutput: the job page of a completed job shows the output
// its worker recorded, as indented JSON, escaped.
func TestJobPageShowsOutput(t *testing.T) {
	t.Parallel()
	workers := kiln.NewWorkers()
	kiln.AddWorker(workers, kiln.WorkFunc(func(ctx context.Context, job *kiln.Job[resultArgs]) error {
		return job.SetOutput(map[string]any{"rows": 42, "note": "<b>done</b>"})
	}))
	client := clienttest.New(t, workers, kilntest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)), true, false)
	h, err := dashboard.New(client, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	job := clienttest.Enqueue(t, client, resultArgs{}, nil)
	clienttest.WaitState(t, client, job.ID, kiln.JobStateCompleted)
	resp, err := srv.Client().Get(srv.URL + "/jobs/" + strconv.FormatInt(job.ID, 10))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("job page: %d %v", resp.StatusCode, err)
	}
	page := string(body)
	i := strings.Index(page, `id="job-output"`)
	if i < 0 {
		t.Fatalf("job page has no output block:\n%.2000s", page)
	}
	block := page[i:min(len(page), i+300)]
	if !strings.Contains(block, `&#34;rows&#34;: 42`) && !strings.Contains(block, `"rows": 42`) {
		t.Errorf("output block does not show rows 42: %s", block)
	}
	if strings.Contains(block, "<b>done</b>") {
		t.Errorf("output block holds unescaped HTML: %s", block)
	}
}
