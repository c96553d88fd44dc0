package kiln

import (
	"context"
	"fmt"

	"github.com/kilnjobs/kiln/internal/jobexec"
	"github.com/kilnjobs/kiln/internal/jobreport"
	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/store"
)

// JobLogLine is one line a worker logged with [Job.Log], re-exported from
// kilntype.
type JobLogLine = kilntype.JobLogLine

// JobLogsParams selects log lines of one job. The zero value, and nil,
// read the job's first 100 kept lines.
type JobLogsParams struct {
	// AfterSeq skips the lines whose Seq is AfterSeq or less: pass the
	// last Seq read to follow a running job's log. 0 reads from the first
	// kept line.
	AfterSeq int64
	// Limit is how many lines at most: 0 or less means 100, more than
	// 10,000 is cut to 10,000 (a job keeps JobLogMaxLines).
	Limit int
	// Tail reads the last Limit lines after AfterSeq instead of the first
	// ones: the end of the log. Lines are oldest first either way.
	Tail bool
}

// JobLogs returns log lines of job id, logged by its workers with
// [Job.Log] in any process sharing the store, oldest first (by Seq), while
// the job runs and after, until the job is deleted. A job keeps its
// JobLogMaxLines newest lines. An unknown job, or one that logged nothing,
// gives an empty list. It returns an error if the read fails.
func (c *Client) JobLogs(ctx context.Context, id int64, params *JobLogsParams) ([]*JobLogLine, error) {
	p := store.JobLogListParams{JobID: id}
	if params != nil {
		p.AfterSeq, p.Limit, p.Tail = params.AfterSeq, params.Limit, params.Tail
	}
	lines, err := c.cfg.Store.JobLogList(ctx, &p)
	if err != nil {
		return nil, fmt.Errorf("kiln: list log of job %d: %w", id, err)
	}
	return lines, nil
}

// jobUnits returns the jobexec.UnitFactory of the client's producers: the
// Workers' units, whose jobs report progress and log lines to the store
// when it keeps them.
func (c *Client) jobUnits() jobexec.UnitFactory {
	u := &jobUnits{workers: c.cfg.Workers, encryptor: c.cfg.Encryptor,
		env: &jobEnv{store: c.cfg.Store, encryptor: c.cfg.Encryptor, maxOutputBytes: c.cfg.MaxOutputBytes}}
	u.report = &jobreport.Config{Store: c.cfg.Store, Now: c.now, Interval: jobreport.DefaultInterval, Logger: c.cfg.Logger}
	return u
}
