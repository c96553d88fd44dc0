package dashboard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/dustin/go-humanize"
)

// TestJobListCutsLongArgs checks that the Jobs page shows a job with
// long args (up to Config.MaxArgsBytes, 1 MiB by default) by their first KiB, marked as cut with their size and
// linked to the job, and that the job's page shows them whole, with their
// size.
func TestJobListCutsLongArgs(t *testing.T) {
	e := newEnv(t, nil)
	text := strings.Repeat("<é>", 60_000) // encoded as \u003cé\u003e: 840 kB of args
	id := e.enqueue(t, okArgs{Text: text}, nil)
	job, err := e.client.JobGet(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	size := humanize.IBytes(uint64(job.ArgsBytes))

	_, list := e.get(t, "/jobs")
	if len(list) > job.ArgsBytes/10 {
		t.Errorf("the Jobs page has %d bytes for one job with %s of args: they were not cut", len(list), size)
	}
	if !strings.Contains(list, `<code>{&#34;text&#34;:&#34;&lt;é&gt;&lt;é&gt;`) {
		t.Errorf("the Jobs page does not start the args, with < and > as written:\n%s", list)
	}
	if want := fmt.Sprintf(`<a class="muted args-cut" href="/jobs/%d">… cut: %s in all</a>`, id, size); !strings.Contains(list, want) {
		t.Errorf("the Jobs page does not say the args were cut, with their size and a link:\nwant %s\n%s", want, list)
	}

	_, page := e.get(t, fmt.Sprintf("/jobs/%d", id))
	if n := strings.Count(page, "&lt;é&gt;"); n != 60_000 {
		t.Errorf("the job's page shows %d of the 60000 <é> of its args", n)
	}
	if !strings.Contains(page, `<small class="muted" id="job-args-size">(`+size+`)</small>`) {
		t.Errorf("the job's page does not give the size of the args (%s)", size)
	}
}
