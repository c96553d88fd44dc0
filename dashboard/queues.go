package dashboard

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/kilntype"
)

// queueView is one queue on the Queues page.
type queueView struct {
	*kiln.QueueRow
	// Size is the jobs that wait or run: available, scheduled, running
	// and retryable.
	Size int
	// Latency is how long the oldest available job has waited; 0 if none.
	Latency time.Duration
	// Busy and Workers are the queue's busy and total workers across the
	// live servers.
	Busy, Workers int
}

// queueList serves the Queues page: each queue's size, the age of its
// oldest available job, its busy workers, and pause/resume.
func (h *handler) queueList(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rows, err := h.client.QueueList(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	servers, err := h.servers(ctx)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	now := time.Now().UTC()
	d := &queuesData{Queues: queueViews(rows, servers, now), States: []kilntype.JobState{kilntype.JobStateCompleted,
		kilntype.JobStateCancelled, kilntype.JobStateDiscarded}}
	if r.URL.Query().Get("partial") == "" { // the live part polled every 2 s shows no rules
		if d.Retention, err = h.client.RetentionList(ctx); err != nil {
			h.serverError(w, r, err)
			return
		}
	}
	h.render(w, r, http.StatusOK, "queues", &page{Title: "Queues", Nav: "queues", Data: d})
}

// queuesData is the Queues page's data: the queues, and the retention
// rules in effect with the states a rule can name.
type queuesData struct {
	Queues    []*queueView
	Retention []*kiln.RetentionRule
	States    []kilntype.JobState
}

// retentionSet serves POST /retention: stores the rule of the form's
// state, kind, queue and keep ("forever", "1h", "90d").
func (h *handler) retentionSet(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/queues")
	keep, err := kilntype.ParseKeep(r.PostFormValue("keep"))
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: err.Error()})
		return
	}
	rule := kiln.RetentionRule{State: kilntype.JobState(r.PostFormValue("state")), Kind: strings.TrimSpace(r.PostFormValue("kind")),
		Queue: strings.TrimSpace(r.PostFormValue("queue")), Keep: keep}
	if err := h.client.RetentionSet(r.Context(), rule); err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: strings.TrimPrefix(err.Error(), "kiln: ")})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Retention of %s jobs%s set to %s for every process.", rule.State,
		kilntype.RetentionScope(rule.Kind, rule.Queue), rule.KeepText())})
}

// retentionDelete serves POST /retention/delete: deletes the stored rule
// of the form's state, kind and queue.
func (h *handler) retentionDelete(w http.ResponseWriter, r *http.Request) {
	back := backPath(r, "/queues")
	state, kind, queue := kilntype.JobState(r.PostFormValue("state")), r.PostFormValue("kind"), r.PostFormValue("queue")
	ok, err := h.client.RetentionDelete(r.Context(), state, kind, queue)
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: actionError(err)})
		return
	}
	if !ok {
		h.redirect(w, r, back, flash{Error: true, Text: fmt.Sprintf("No stored retention rule for %s jobs%s.", state, kilntype.RetentionScope(kind, queue))})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Retention rule for %s jobs%s deleted.", state, kilntype.RetentionScope(kind, queue))})
}

// queueViews joins the stored queues with the workers the live servers run
// for them; a queue that servers run but that holds no job is listed too.
func queueViews(rows []*kiln.QueueRow, servers []*kilntype.ServerRow, now time.Time) []*queueView {
	byName := map[string]*queueView{}
	var out []*queueView
	for _, q := range rows {
		v := &queueView{QueueRow: q, Size: q.Available + q.Scheduled + q.Running + q.Retryable}
		if q.OldestAvailableAt != nil {
			v.Latency = max(now.Sub(*q.OldestAvailableAt), 0)
		}
		byName[q.Name] = v
		out = append(out, v)
	}
	for _, s := range servers {
		for _, sq := range s.Queues {
			v, ok := byName[sq.Name]
			if !ok {
				v = &queueView{QueueRow: &kiln.QueueRow{Name: sq.Name}}
				byName[sq.Name] = v
				out = append(out, v)
			}
			v.Busy += sq.Busy
			v.Workers += sq.MaxWorkers
		}
	}
	return out
}

// queueAction serves POST /queues/{name}/{pause|resume}.
func (h *handler) queueAction(w http.ResponseWriter, r *http.Request) {
	name, action := r.PathValue("name"), r.PathValue("action")
	back := backPath(r, "/queues")
	var err error
	switch action {
	case "pause":
		err = h.client.QueuePause(r.Context(), name)
	case "resume":
		err = h.client.QueueResume(r.Context(), name)
	default:
		h.notFound(w, r)
		return
	}
	if err != nil {
		h.redirect(w, r, back, flash{Error: true, Text: actionError(err)})
		return
	}
	h.redirect(w, r, back, flash{Text: fmt.Sprintf("Queue %q %sd for every process.", name, action)})
}

// serverView is one server on the Servers page.
type serverView struct {
	*kilntype.ServerRow
	Busy, Workers int
	// Alive is false when the server's last refresh is older than
	// serverStaleAfter: the process is likely gone and the leader will
	// remove it.
	Alive bool
}

// serverStaleAfter is the age of a refresh after which a server is shown as
// not alive.
const serverStaleAfter = 30 * time.Second

// serverList serves the Servers page: every registered process, whether
// it is alive, its last refresh, queues and busy/total workers.
func (h *handler) serverList(w http.ResponseWriter, r *http.Request) {
	servers, err := h.servers(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	now := time.Now().UTC()
	views := make([]*serverView, 0, len(servers))
	for _, s := range servers {
		busy, total := s.Busy()
		views = append(views, &serverView{ServerRow: s, Busy: busy, Workers: total, Alive: now.Sub(s.RefreshedAt) < serverStaleAfter})
	}
	h.render(w, r, http.StatusOK, "servers", &page{Title: "Servers", Nav: "servers", Data: views})
}

// serviceSilentAfter is the age of a hosted service report after which
// its process is taken for gone: processes report every 5 s.
const serviceSilentAfter = 15 * time.Second

// serviceData is the Services page's data: the reports of live processes,
// and apart those of processes that stopped reporting (the leader's
// cleaner deletes them after 24 h).
type serviceData struct {
	Live, Silent []*kilntype.ServiceRow
	SilentAfter  time.Duration
}

// serviceList serves the Services page: the hosted services' states as
// each process last reported them, those of silent processes apart.
func (h *handler) serviceList(w http.ResponseWriter, r *http.Request) {
	rows, err := h.client.HostedServiceReports(r.Context())
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	now := time.Now().UTC()
	d := &serviceData{SilentAfter: serviceSilentAfter}
	for _, row := range rows {
		if now.Sub(row.UpdatedAt) > serviceSilentAfter {
			d.Silent = append(d.Silent, row)
		} else {
			d.Live = append(d.Live, row)
		}
	}
	h.render(w, r, http.StatusOK, "services", &page{Title: "Hosted services", Nav: "services", Data: d})
}
