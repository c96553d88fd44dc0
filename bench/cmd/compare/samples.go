package main

import (
	"fmt"
	"maps"
	"runtime/metrics"
	"slices"
	"strings"
	"time"
)

// sampleTrace is what --kiln-trace records of one latency sample, for the
// per-sample causes (causesReport): its timeline and what ran beside it.
type sampleTrace struct {
	id              int64
	t0, t1, started time.Time // before the enqueue, when it returned, the worker's start
	gc0, gc1        uint64    // GC cycles ended, at t0 and just after the start
	wait0, wait1    int64     // the pool's acquires that waited, at t0 and just after the start
}

// gcCycles returns how many GC cycles have ended (runtime/metrics: no stop
// of the world, unlike runtime.ReadMemStats).
func gcCycles() uint64 {
	s := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// sampleSegments cuts a sample's time into consecutive parts: the enqueue
// call; from its return to the notification's arrival (0 if it came
// first); from then to the start of the claim that took the job (the
// producer's wake); the claim; from its end to the worker's start.
type sampleSegments struct {
	total, enqueue, notify, wake, claim, dispatch time.Duration
	others                                        []string // other store calls in flight during the sample
	gc, poolWait                                  bool
	found                                         bool // the claim that took the job was logged
}

var segmentNames = []string{"enqueue", "notify", "wake", "claim", "dispatch"}

func (s *sampleSegments) parts() []time.Duration {
	return []time.Duration{s.enqueue, s.notify, s.wake, s.claim, s.dispatch}
}

// segment returns the segments of sample st, given the logged calls and
// notifications of its phase.
func segment(st sampleTrace, events []callEvent, notices []time.Time) sampleSegments {
	s := sampleSegments{total: st.started.Sub(st.t0), enqueue: st.t1.Sub(st.t0),
		gc: st.gc1 > st.gc0, poolWait: st.wait1 > st.wait0}
	recv := st.t1
	for _, n := range notices {
		if !n.Before(st.t0) && !n.After(st.started) {
			recv = n
			break
		}
	}
	s.notify = max(0, recv.Sub(st.t1))
	var cs, ce time.Time
	for _, e := range events {
		if e.name == "JobClaim" && slices.Contains(e.ids, st.id) {
			cs, ce, s.found = e.start, e.end, true
			break
		}
	}
	if !s.found {
		return s
	}
	from := st.t1
	if recv.After(from) {
		from = recv
	}
	s.wake = max(0, cs.Sub(from))
	s.claim = ce.Sub(cs)
	s.dispatch = max(0, st.started.Sub(ce))
	for _, e := range events {
		if e.name == "JobInsertMany" || (e.name == "JobClaim" && e.start.Equal(cs)) {
			continue
		}
		if e.end.After(st.t0) && e.start.Before(st.started) {
			name := e.name
			if e.name == "JobClaim" && len(e.ids) == 0 {
				name = "JobClaim (empty)"
			}
			s.others = append(s.others, name)
		}
	}
	return s
}

// causesReport returns lines on the causes of the phase's slow samples:
// the median of each segment over all samples, then, for the slowest 5 %
// and 1 %, which segment exceeded its median most, and how often a GC
// cycle, a pool wait or another store call coincided with them, against
// how often they did with any sample.
func causesReport(phase string, traces []sampleTrace, events []callEvent, notices []time.Time) []string {
	if len(traces) == 0 {
		return nil
	}
	segs := make([]sampleSegments, len(traces))
	for i, st := range traces {
		segs[i] = segment(st, events, notices)
	}
	medians := make([]time.Duration, len(segmentNames))
	for j := range segmentNames {
		var v []time.Duration
		for _, s := range segs {
			if s.found {
				v = append(v, s.parts()[j])
			}
		}
		slices.Sort(v)
		if len(v) > 0 {
			medians[j] = percentile(v, 50)
		}
	}
	var med []string
	for j, n := range segmentNames {
		med = append(med, fmt.Sprintf("%s %s", n, fmtDuration(medians[j])))
	}
	out := []string{fmt.Sprintf("causes %s: medians over %d samples: %s", phase, len(segs), strings.Join(med, ", "))}
	// describe counts, over a set of samples, the dominant segments and the
	// coincidences.
	describe := func(set []sampleSegments) string {
		dom := map[string]int{}
		with := map[string]int{}
		for _, s := range set {
			if !s.found {
				dom["claim not logged"]++
				continue
			}
			best, bestX := "", time.Duration(-1<<62)
			for j, d := range s.parts() {
				if x := d - medians[j]; x > bestX {
					best, bestX = segmentNames[j], x
				}
			}
			dom[best]++
			if s.gc {
				with["GC cycle"]++
			}
			if s.poolWait {
				with["pool wait"]++
			}
			seen := map[string]bool{}
			for _, o := range s.others {
				if !seen[o] {
					seen[o] = true
					with[o]++
				}
			}
		}
		var d, w []string
		for _, k := range slices.Sorted(maps.Keys(dom)) {
			d = append(d, fmt.Sprintf("%s %d", k, dom[k]))
		}
		for _, k := range slices.Sorted(maps.Keys(with)) {
			w = append(w, fmt.Sprintf("%s %d", k, with[k]))
		}
		return fmt.Sprintf("%d samples; longest beyond its median: %s; coinciding: %s", len(set),
			strings.Join(d, ", "), strings.Join(w, ", "))
	}
	order := make([]int, len(segs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(segs[b].total - segs[a].total) })
	pick := func(frac float64) []sampleSegments {
		n := max(1, int(float64(len(segs))*frac+0.5))
		set := make([]sampleSegments, n)
		for i := range n {
			set[i] = segs[order[i]]
		}
		return set
	}
	out = append(out,
		fmt.Sprintf("causes %s: all: %s", phase, describe(segs)),
		fmt.Sprintf("causes %s: slowest 5%%: %s", phase, describe(pick(0.05))),
		fmt.Sprintf("causes %s: slowest 1%%: %s", phase, describe(pick(0.01))))
	for _, s := range pick(0.01) {
		var parts []string
		for j, d := range s.parts() {
			parts = append(parts, fmt.Sprintf("%s %s", segmentNames[j], fmtDuration(d)))
		}
		out = append(out, fmt.Sprintf("causes %s: slow sample %s: %s; GC %v, pool wait %v, beside: %s", phase,
			fmtDuration(s.total), strings.Join(parts, ", "), s.gc, s.poolWait, strings.Join(s.others, ", ")))
	}
	return out
}
