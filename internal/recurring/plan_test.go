package recurring

import (
	"slices"
	"testing"
	"time"

	"github.com/kilnjobs/kiln/kilntype"
	"github.com/kilnjobs/kiln/schedule"
)

func TestPlanOccurrences(t *testing.T) {
	hourly, err := schedule.Parse("0 * * * *", "")
	if err != nil {
		t.Fatal(err)
	}
	at := func(h, m int) time.Time { return time.Date(2030, 1, 1, h, m, 0, 0, time.UTC) }
	const threshold = time.Minute
	for _, tc := range []struct {
		name   string
		next   time.Time
		now    time.Time
		policy kilntype.MisfirePolicy
		max    int
		want   []time.Time
	}{
		{"on time", at(10, 0), at(10, 0), kilntype.MisfireRunOnce, 0, []time.Time{at(10, 0)}},
		{"late within the threshold", at(10, 0), at(10, 0).Add(59 * time.Second), kilntype.MisfireSkip, 0, []time.Time{at(10, 0)}},
		{"not due", at(11, 0), at(10, 30), kilntype.MisfireRunOnce, 0, nil},
		{"skip drops missed", at(7, 0), at(10, 30), kilntype.MisfireSkip, 0, nil},
		{"run once runs the latest missed", at(7, 0), at(10, 30), kilntype.MisfireRunOnce, 0, []time.Time{at(10, 0)}},
		{"run once prefers an on-time occurrence", at(7, 0), at(10, 0).Add(30 * time.Second), kilntype.MisfireRunOnce, 0, []time.Time{at(10, 0)}},
		{"run all runs every missed", at(7, 0), at(10, 30), kilntype.MisfireRunAll, 100, []time.Time{at(7, 0), at(8, 0), at(9, 0), at(10, 0)}},
		{"run all is capped, keeping the latest", at(7, 0), at(10, 30), kilntype.MisfireRunAll, 2, []time.Time{at(9, 0), at(10, 0)}},
		{"run all with an on-time one", at(8, 0), at(10, 0).Add(10 * time.Second), kilntype.MisfireRunAll, 100, []time.Time{at(8, 0), at(9, 0), at(10, 0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanOccurrences(hourly, tc.next, tc.now, threshold, tc.policy, tc.max)
			if !slices.EqualFunc(p.Enqueue, tc.want, time.Time.Equal) {
				t.Errorf("enqueue %v, want %v", p.Enqueue, tc.want)
			}
			if want := hourly.Next(tc.now); !p.Next.Equal(want) && !tc.next.After(tc.now) {
				t.Errorf("next %v, want %v", p.Next, want)
			}
			if !p.Next.After(tc.now) {
				t.Errorf("next %v is not after now %v", p.Next, tc.now)
			}
		})
	}
}

func TestPlanOccurrencesFarBehindIsBounded(t *testing.T) {
	every, err := schedule.Every(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	next := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	now := next.Add(30 * 24 * time.Hour) // 2.6 million occurrences behind
	p := PlanOccurrences(every, next, now, time.Minute, kilntype.MisfireRunAll, 10)
	if len(p.Enqueue) > 10+61 {
		t.Fatalf("enqueued %d occurrences", len(p.Enqueue))
	}
	if !p.Next.After(now) || p.Next.Sub(now) > time.Second {
		t.Fatalf("next %v, want within a second after %v", p.Next, now)
	}
}
