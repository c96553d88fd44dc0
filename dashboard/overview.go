package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// overviewPoll is how often the overview's live block is refreshed (the
// hx-trigger of overview.html).
const overviewPoll = 2 * time.Second

// overviewData is the Overview page's data.
type overviewData struct {
	States []stateCount
	// Queues are the queues that hold jobs or that live servers run, with
	// their count per state (QueueStates orders the columns) and busy
	// workers.
	Queues      []*overviewQueue
	QueueStates []kilntype.JobState
	// Servers and Busy/Workers sum up the live servers.
	Servers, Busy, Workers int
	// Live is the throughput of the last minutes, per second; Hourly and
	// Daily the history.
	Live, Hourly, Daily *chart
}

// overview serves the Overview page: jobs per state and per queue, the
// live throughput (its "live" block is polled every overviewPoll) and the
// history per hour and per day (its "history" block, every minute). A
// poll of one block reads only that block's data.
func (h *handler) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	part := r.URL.Query().Get("partial")
	now := time.Now().UTC()
	d := &overviewData{QueueStates: kilntype.JobStates()}
	if part != "history" {
		if err := h.overviewLive(ctx, d, now); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	if part != "live" {
		var err error
		if d.Hourly, d.Daily, err = h.historyCharts(ctx, now); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "overview", &page{Title: "Overview", Nav: "overview", Data: d})
}

// overviewLive reads the live block's data into d: counts, throughput,
// queues and servers.
func (h *handler) overviewLive(ctx context.Context, d *overviewData, now time.Time) error {
	stats, err := h.client.Stats(ctx)
	if err != nil {
		return err
	}
	for _, st := range kilntype.JobStates() {
		d.States = append(d.States, stateCount{State: st, Count: stats.States[st]})
	}
	// The counters of finished attempts only grow: their growth between
	// two polls is the throughput (a failed attempt left its job
	// retryable or discarded).
	fin := stats.Finished
	h.rate.add(fin[kilntype.JobStateCompleted], fin[kilntype.JobStateRetryable]+fin[kilntype.JobStateDiscarded])
	d.Live = newChart(h.rate.points(), int(rateWindow/overviewPoll), "jobs/s", "15:04:05")
	// Not QueueList: its cost grows with the jobs waiting (see the
	// Queues page); the counters give every count.
	servers, err := h.servers(ctx)
	if err != nil {
		return err
	}
	d.Queues = overviewQueues(stats, queueViews(nil, servers, now))
	for _, s := range servers {
		if now.Sub(s.RefreshedAt) < serverStaleAfter {
			busy, total := s.Busy()
			d.Servers, d.Busy, d.Workers = d.Servers+1, d.Busy+busy, d.Workers+total
		}
	}
	return nil
}

// overviewQueue is one queue of the Overview: its jobs per state, and its
// busy and total workers across the live servers.
type overviewQueue struct {
	Name          string
	States        map[kilntype.JobState]int
	Busy, Workers int
}

// overviewQueues lists the queues that hold jobs (from the counters) and
// those that live servers run, by name.
func overviewQueues(stats *kiln.Stats, workers []*queueView) []*overviewQueue {
	byName := map[string]*overviewQueue{}
	var out []*overviewQueue
	for _, q := range stats.Queues {
		oq := &overviewQueue{Name: q.Name, States: q.States}
		byName[q.Name] = oq
		out = append(out, oq)
	}
	for _, v := range workers {
		oq, ok := byName[v.Name]
		if !ok {
			oq = &overviewQueue{Name: v.Name}
			out = append(out, oq)
		}
		oq.Busy, oq.Workers = v.Busy, v.Workers
	}
	slices.SortFunc(out, func(a, b *overviewQueue) int { return strings.Compare(a.Name, b.Name) })
	return out
}
