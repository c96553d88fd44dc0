package kilntype

import "time"

// ServerRow is one Kiln process (a client that was started) as it last
// registered itself in the store: what it runs and how busy it is. Every
// process refreshes its row every few seconds; the leader deletes rows not
// refreshed for the server TTL, and the jobs such a process was
// running come back through lease expiry (as Hangfire's servers page and
// Sidekiq's process set).
type ServerRow struct {
	// ID is the process's client ID (Config.ID), unique among live processes.
	ID string `json:"id"`
	// Host is the machine's host name, PID the operating-system process ID.
	Host string `json:"host"`
	PID  int    `json:"pid"`
	// Queues are the queues the process runs, ordered by name, each with
	// its worker count and how many of them were busy at the last refresh.
	Queues []ServerQueue `json:"queues"`
	// Kinds are the job kinds the process has workers for, sorted.
	Kinds []string `json:"kinds"`
	// Limits are the limits the process's workers declare in code, one
	// entry per kind that declares one, sorted by kind: what processes
	// that do not run the kind (a dashboard, the kiln CLI) show as its
	// limits. Empty (not nil) when none does, and for the rows of
	// processes older than this field.
	Limits []KindLimits `json:"limits"`
	// StartedAt is when the process's client started; RefreshedAt when it
	// last refreshed this row (both UTC).
	StartedAt   time.Time `json:"started_at"`
	RefreshedAt time.Time `json:"refreshed_at"`
}

// ServerQueue is one queue of a ServerRow.
type ServerQueue struct {
	Name       string `json:"name"`
	MaxWorkers int    `json:"max_workers"`
	// Busy is how many of the queue's workers were running a job at the
	// process's last refresh.
	Busy int `json:"busy"`
}

// Busy returns the process's busy workers across its queues, and MaxWorkers
// their total.
func (s *ServerRow) Busy() (busy, maxWorkers int) {
	for _, q := range s.Queues {
		busy += q.Busy
		maxWorkers += q.MaxWorkers
	}
	return busy, maxWorkers
}

// KindLimits are the limits a process's worker of one kind declares in
// code (ServerRow.Limits): its concurrency limits (0: none) and its
// default rate limits (nil: none; a limit set at run time replaces a
// default in every process).
type KindLimits struct {
	Kind string `json:"kind"`
	// MaxConcurrency is the kind's running jobs allowed in one process,
	// ClusterMaxConcurrency in every process together,
	// PartitionMaxConcurrency per partition key in every process.
	MaxConcurrency          int `json:"max_concurrency,omitempty"`
	ClusterMaxConcurrency   int `json:"cluster_max_concurrency,omitempty"`
	PartitionMaxConcurrency int `json:"partition_max_concurrency,omitempty"`
	// RateLimit is the kind's default rate limit, PartitionRateLimit the
	// default of each of its partition keys.
	RateLimit          *RateLimit `json:"rate_limit,omitempty"`
	PartitionRateLimit *RateLimit `json:"partition_rate_limit,omitempty"`
}
