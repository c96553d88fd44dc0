package dashboard

import (
	"sync"
	"time"
)

// rateWindow is how far back the live throughput graph goes, and
// rateMinGap the least time between two samples.
const (
	rateWindow = 2 * time.Minute
	rateMinGap = time.Second
)

// rateSampler turns cumulative counters (attempts succeeded and failed
// since the store's counters began: kiln.Stats.Finished) into per-second
// rates for the live graph: the rate between two samples is the counters'
// growth over the time between them. It owns no goroutine: the overview's
// polls feed it, at most one sample per rateMinGap however many browsers
// poll, and it keeps rateWindow of samples. It is safe for concurrent use.
type rateSampler struct {
	now func() time.Time

	mu      sync.Mutex // guards samples
	samples []rateSample
}

// rateSample is the counters' values at one time.
type rateSample struct {
	At                time.Time
	Succeeded, Failed int
}

func newRateSampler(now func() time.Time) *rateSampler { return &rateSampler{now: now} }

// add records the counters' values now (ignored when the last sample is
// younger than rateMinGap) and drops samples older than rateWindow.
// Counters that went down (another store, or its counters reset) start a
// new series.
func (s *rateSampler) add(succeeded, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if n := len(s.samples); n > 0 {
		last := s.samples[n-1]
		if now.Sub(last.At) < rateMinGap {
			return
		}
		if succeeded < last.Succeeded || failed < last.Failed {
			s.samples = s.samples[:0]
		}
	}
	s.samples = append(s.samples, rateSample{At: now, Succeeded: succeeded, Failed: failed})
	cut := 0
	for cut < len(s.samples) && now.Sub(s.samples[cut].At) > rateWindow {
		cut++
	}
	s.samples = append(s.samples[:0], s.samples[cut:]...)
}

// points returns the rates between successive samples, oldest first: jobs
// per second succeeded and failed in each interval, stamped with its end.
// The first sample only starts the series: the graph begins with the
// second.
func (s *rateSampler) points() []chartPoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []chartPoint
	for i := 1; i < len(s.samples); i++ {
		a, b := s.samples[i-1], s.samples[i]
		secs := b.At.Sub(a.At).Seconds()
		out = append(out, chartPoint{
			At:        b.At,
			Succeeded: float64(b.Succeeded-a.Succeeded) / secs,
			Failed:    float64(b.Failed-a.Failed) / secs,
		})
	}
	return out
}
