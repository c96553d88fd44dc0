package kilntype

import "time"

// ServiceRow is a hosted service's state as one process last reported it
// (see kiln.HostedService and store.ServiceStore).
type ServiceRow struct {
	Name        string     `json:"name"`
	ProcessID   string     `json:"process_id"`
	State       string     `json:"state"` // waiting, running, restarting or stopped
	Singleton   bool       `json:"singleton"`
	Restarts    int        `json:"restarts"`
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	StartedAt   *time.Time `json:"started_at,omitempty"`
	// UpdatedAt is when the process last reported (UTC); a process reports
	// every few seconds while it runs, so an old UpdatedAt means the
	// process is gone.
	UpdatedAt time.Time `json:"updated_at"`
}
