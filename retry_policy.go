package kiln

import (
	"math/rand/v2"
	"time"
)

// DefaultMaxAttempts is how many attempts a job gets unless its enqueue
// options, its args or its worker say otherwise: 25, as Sidekiq's default
// of 25 retries (about 20 days of backoff in total).
const DefaultMaxAttempts = 25

// RetryPolicy gives the wait before a failed job's next attempt.
type RetryPolicy interface {
	// Backoff returns how long to wait after failed attempt number attempt
	// (1 for the first attempt) before the next one.
	Backoff(attempt int) time.Duration
}

// DefaultRetryPolicy is Sidekiq's backoff: attempt⁴ + 15 s plus a random
// jitter of up to 10×(attempt+1) s (Sidekiq's "count ** 4 + 15 +
// rand(10) * (count + 1)"). The first retry comes after 16–36 s, the tenth
// after about 2.8 h, the 24th after about 3.8 days. Waits are capped at 30
// days, so jobs allowed hundreds of attempts keep a sane backoff. It is safe
// for concurrent use.
type DefaultRetryPolicy struct{}

// Backoff implements RetryPolicy.
func (DefaultRetryPolicy) Backoff(attempt int) time.Duration {
	a := float64(max(attempt, 1))
	secs := a*a*a*a + 15 + rand.Float64()*10*(a+1)
	return time.Duration(min(secs, maxBackoff.Seconds()) * float64(time.Second))
}

// maxBackoff caps DefaultRetryPolicy's wait.
const maxBackoff = 30 * 24 * time.Hour
