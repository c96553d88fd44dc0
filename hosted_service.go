package kiln

import (
	"context"
	"fmt"
	"time"

	"github.com/kilnjobs/kiln/internal/hosted"
	"github.com/kilnjobs/kiln/kilntype"
)

// HostedService is a long-running loop that Kiln runs next to the jobs, as
// ASP.NET Core runs a BackgroundService: a pinger of an upstream, a queue consumer,
// a cache warmer. Run must return when its context is cancelled (at shutdown,
// or when a singleton loses its lease). Kiln restarts it with backoff when
// it returns an error or panics; panics are recovered and logged with their
// stack.
type HostedService struct {
	// Name identifies the service in logs and statuses; unique per client.
	Name string
	// Run is the service's loop. A type with a Run(ctx) error method can be
	// passed as its method value (svc.Run).
	Run func(ctx context.Context) error
	// Restart says when Run is started again after it returns: default
	// RestartAlways.
	Restart RestartPolicy
	// Singleton runs the service in exactly one of the processes sharing
	// the store, as Puck advises for work that must not run on every
	// instance of a cluster. The process holding it renews a lease every
	// third of Config.LeaderTTL; when it dies, another process takes the
	// service over within LeaderTTL (10 s by default).
	Singleton bool
	// MinBackoff is the first wait before a restart (default 1 s); it
	// doubles after each quick failure up to MaxBackoff (default 1 min). A
	// run longer than MaxBackoff resets it.
	MinBackoff, MaxBackoff time.Duration
}

// RestartPolicy says when a hosted service whose Run returned is started
// again.
type RestartPolicy string

const (
	// RestartAlways restarts after an error, a panic, or a nil return.
	RestartAlways RestartPolicy = "always"
	// RestartOnFailure restarts after an error or a panic, not after nil.
	RestartOnFailure RestartPolicy = "on_failure"
	// RestartNever runs the service once.
	RestartNever RestartPolicy = "never"
)

// HostedServiceState is where a hosted service is: waiting (a singleton
// held by another process, or not yet elected), running, restarting
// (waiting for its backoff) or stopped.
type HostedServiceState string

// The hosted service states.
const (
	HostedServiceWaiting    HostedServiceState = "waiting"
	HostedServiceRunning    HostedServiceState = "running"
	HostedServiceRestarting HostedServiceState = "restarting"
	HostedServiceStopped    HostedServiceState = "stopped"
)

// HostedServiceStatus is a hosted service's state in this process.
type HostedServiceStatus struct {
	Name      string             // HostedService.Name
	State     HostedServiceState // what the service is doing now
	Singleton bool               // HostedService.Singleton
	// Restarts counts the times Run was started again since Start.
	Restarts int
	// LastError is the last error Run returned, or its last panic with a
	// trimmed stack; LastErrorAt is when (UTC).
	LastError   string
	LastErrorAt *time.Time
	// StartedAt is when the current or last run began (UTC).
	StartedAt *time.Time
	// Holder is the ID of the process running the service when it runs
	// here; "" otherwise.
	Holder string
}

// HostedServices returns the status of this client's hosted services, in
// the order of Config.HostedServices.
func (c *Client) HostedServices() []HostedServiceStatus {
	c.mu.RLock()
	sup := c.services
	c.mu.RUnlock()
	out := make([]HostedServiceStatus, 0, len(c.cfg.HostedServices))
	if sup == nil {
		for _, hs := range c.cfg.HostedServices {
			out = append(out, HostedServiceStatus{Name: hs.Name, State: HostedServiceStopped, Singleton: hs.Singleton})
		}
		return out
	}
	for _, st := range sup.Statuses() {
		out = append(out, HostedServiceStatus{
			Name: st.Name, State: HostedServiceState(st.State), Singleton: st.Singleton, Restarts: st.Restarts,
			LastError: st.LastError, LastErrorAt: st.LastErrorAt, StartedAt: st.StartedAt, Holder: st.Holder,
		})
	}
	return out
}

// hostedSpecs validates the hosted services of cfg and applies defaults.
func hostedSpecs(services []HostedService) ([]hosted.Spec, error) {
	seen := make(map[string]bool, len(services))
	specs := make([]hosted.Spec, 0, len(services))
	for i, hs := range services {
		switch {
		case hs.Name == "":
			return nil, fmt.Errorf("kiln: Config.HostedServices[%d]: empty Name", i)
		case seen[hs.Name]:
			return nil, fmt.Errorf("kiln: Config.HostedServices: name %q used twice", hs.Name)
		case hs.Run == nil:
			return nil, fmt.Errorf("kiln: hosted service %q: nil Run", hs.Name)
		}
		seen[hs.Name] = true
		restart := hs.Restart
		if restart == "" {
			restart = RestartAlways
		}
		if restart != RestartAlways && restart != RestartOnFailure && restart != RestartNever {
			return nil, fmt.Errorf("kiln: hosted service %q: unknown restart policy %q (want always, on_failure or never)", hs.Name, restart)
		}
		minB, maxB := hs.MinBackoff, hs.MaxBackoff
		if minB == 0 {
			minB = time.Second
		}
		if maxB == 0 {
			maxB = max(time.Minute, minB)
		}
		if minB < 0 || maxB < minB {
			return nil, fmt.Errorf("kiln: hosted service %q: backoff %s to %s: want 0 < MinBackoff <= MaxBackoff", hs.Name, minB, maxB)
		}
		specs = append(specs, hosted.Spec{
			Name: hs.Name, Run: hs.Run, Restart: hosted.Restart(restart), Singleton: hs.Singleton,
			MinBackoff: minB, MaxBackoff: maxB,
		})
	}
	return specs, nil
}

// ServiceRow is a hosted service's state as one process last reported it,
// re-exported from kilntype.
type ServiceRow = kilntype.ServiceRow

// HostedServiceReports returns the states that every process sharing the
// store last reported for its hosted services (each process reports on
// every change and every 5 s), ordered by service name then process: the
// cluster-wide view that `kiln services list` prints. A report whose
// UpdatedAt is older than about 15 s comes from a process that is gone.
func (c *Client) HostedServiceReports(ctx context.Context) ([]*ServiceRow, error) {
	rows, err := c.cfg.Store.ServiceList(ctx)
	if err != nil {
		return nil, fmt.Errorf("kiln: list hosted services: %w", err)
	}
	return rows, nil
}
