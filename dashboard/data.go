package dashboard

import (
	"context"
	"slices"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// countByState returns the number of jobs in each state, from the
// store's counters (their cost does not grow with the jobs kept).
func (h *handler) countByState(ctx context.Context) (map[kilntype.JobState]int, error) {
	st, err := h.client.Stats(ctx)
	if err != nil {
		return nil, err
	}
	return st.States, nil
}

// History spans: per hour over two days, per day over the week the
// maintenance leader keeps the history.
const (
	historyHours = 48
	historyDays  = 7
)

// historyCharts returns the throughput history per hour and per day.
func (h *handler) historyCharts(ctx context.Context, now time.Time) (hourly, daily *chart, err error) {
	hours, err := h.client.JobHistory(ctx, now.Add(-(historyHours-1)*time.Hour), now, time.Hour)
	if err != nil {
		return nil, nil, err
	}
	days, err := h.client.JobHistory(ctx, now.Add(-(historyDays-1)*24*time.Hour), now, 24*time.Hour)
	if err != nil {
		return nil, nil, err
	}
	return newChart(historyPoints(hours), 0, "jobs/hour", "Jan 2 15:04"), newChart(historyPoints(days), 0, "jobs/day", "Mon Jan 2"), nil
}

// historyPoints converts history buckets to chart points.
func historyPoints(buckets []kiln.HistoryPoint) []chartPoint {
	out := make([]chartPoint, len(buckets))
	for i, b := range buckets {
		out[i] = chartPoint{At: b.At, Succeeded: float64(b.Completed), Failed: float64(b.Failed)}
	}
	return out
}

// servers returns the registered servers, ordered by ID.
func (h *handler) servers(ctx context.Context) ([]*kilntype.ServerRow, error) {
	return h.client.ServerList(ctx)
}

// registeredKinds returns the kinds the client has workers for and those
// of the registered servers, sorted.
func (h *handler) registeredKinds(ctx context.Context) []string {
	servers, err := h.servers(ctx)
	if err != nil {
		h.opts.Logger.Warn("dashboard: list servers for their kinds", "error", err)
	}
	kinds := h.client.Kinds()
	for _, s := range servers {
		kinds = append(kinds, s.Kinds...)
	}
	slices.Sort(kinds)
	return slices.Compact(kinds)
}

// jobLogLines is how many of a job's newest log lines the job page shows.
const jobLogLines = 500

// jobExtras is what a job reported about itself: its newest log lines.
type jobExtras struct {
	Logs []*kilntype.JobLogLine
	// LogsCut is true when older lines exist than those shown.
	LogsCut bool
}

// loadJobExtras reads the job's newest log lines.
func (h *handler) loadJobExtras(ctx context.Context, job *kilntype.JobRow, x *jobExtras) error {
	lines, err := h.client.JobLogs(ctx, job.ID, &kiln.JobLogsParams{Limit: jobLogLines, Tail: true})
	if err != nil {
		return err
	}
	x.Logs = lines
	x.LogsCut = len(lines) == jobLogLines || len(lines) > 0 && lines[0].Seq > 1
	return nil
}
