package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// stopSignals says how a long-running command (serve, demo, bench) is
// stopped: which signals it listens for and how to tell the user.
type stopSignals struct {
	// interrupt reports whether SIGINT (Ctrl+C) stops the command. It does
	// not when the process started with SIGINT ignored, as a shell ignores
	// it for a background job of a script (`kiln serve &`): the command
	// respects that, as Unix programs do, and listens for SIGTERM only.
	interrupt bool
}

// newStopSignals reads how the process started: whether SIGINT was
// ignored. Call it before anything calls signal.Notify for SIGINT, which
// would un-ignore it.
func newStopSignals() stopSignals {
	return stopSignals{interrupt: !signal.Ignored(os.Interrupt)}
}

// notify returns a context cancelled by the first stop signal (SIGTERM,
// and SIGINT unless it was ignored), and the function that stops listening.
// Calling it after the first signal lets a second one have its default
// effect: it ends the process at once.
func (s stopSignals) notify(parent context.Context) (context.Context, context.CancelFunc) {
	sigs := []os.Signal{syscall.SIGTERM}
	if s.interrupt {
		sigs = append(sigs, os.Interrupt)
	}
	return signal.NotifyContext(parent, sigs...)
}

// toStop is the hint that says how to stop the command, such as "press
// Ctrl+C to stop".
func (s stopSignals) toStop() string {
	if s.interrupt {
		return "press Ctrl+C to stop"
	}
	return "send SIGTERM to stop (SIGINT is ignored: the process started with it ignored)"
}

// toQuit is the hint, once stopping, that says how to quit at once, such
// as "press Ctrl+C again to quit at once".
func (s stopSignals) toQuit() string {
	if s.interrupt {
		return "press Ctrl+C again to quit at once"
	}
	return "send SIGTERM again to quit at once"
}
