package demo

import (
	"errors"

	"github.com/kilnjobs/kiln"
)

// reported returns err when it says the job's lease is lost, so that the
// worker stops (its outcome would be ignored), and nil for the other errors
// of kiln.Job's Progress, Log and Logf: progress and log lines are
// informative, so a failed write is not a reason to fail the job (the
// client logs it and retries it with the next report).
func reported(err error) error {
	if errors.Is(err, kiln.ErrLeaseLost) {
		return err
	}
	return nil
}
