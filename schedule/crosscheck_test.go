package schedule

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	cron "github.com/netresearch/go-cron"
)

// TestMatchesGoCronInUTC checks the field parsing and the wall-clock search
// against go-cron's own Next, in UTC where no DST rule applies, for random
// specs. go-cron is set to Vixie's "either day field" rule (DowOrDom); it
// treats "*/n" in a day field as restricted where Kiln (like Vixie) does
// not, so the generator leaves stepped stars out of the day fields.
func TestMatchesGoCronInUTC(t *testing.T) {
	t.Parallel()
	lib := cron.MustNewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month |
		cron.Dow | cron.Descriptor | cron.DowOrDom)
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: reproducible
	field := func(lo, hi int, allowStep bool, names []string) string {
		var items []string
		for range 1 + rng.IntN(3) {
			v := func() string {
				n := lo + rng.IntN(hi-lo+1)
				if names != nil && rng.IntN(3) == 0 && n-lo < len(names) {
					return names[n-lo]
				}
				return fmt.Sprint(n)
			}
			switch rng.IntN(6) {
			case 0:
				return "*"
			case 1:
				if allowStep {
					return fmt.Sprintf("*/%d", 1+rng.IntN((hi-lo)/2+1))
				}
				items = append(items, v())
			case 2:
				a, b := lo+rng.IntN(hi-lo+1), lo+rng.IntN(hi-lo+1)
				items = append(items, fmt.Sprintf("%d-%d", a, b))
			default:
				items = append(items, v())
			}
		}
		return strings.Join(items, ",")
	}
	months := []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}
	days := []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}
	checked := 0
	for range 3000 {
		spec := strings.Join([]string{
			field(0, 59, true, nil), field(0, 59, true, nil), field(0, 23, true, nil),
			field(1, 31, false, nil), field(1, 12, true, months), field(0, 6, false, days),
		}, " ")
		if rng.IntN(2) == 0 {
			spec = spec[strings.Index(spec, " ")+1:] // five fields
		}
		ours, err := Parse(spec, "")
		theirs, libErr := lib.Parse("TZ=UTC " + spec)
		if err != nil || libErr != nil {
			// Both reject, or we reject what can never fire (go-cron accepts
			// "0 0 31 2 *" and then never fires).
			if err == nil {
				t.Errorf("%q: we accept, go-cron rejects: %v", spec, libErr)
			}
			continue
		}
		after := time.Date(2026, time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
		a, b := after, after
		for range 5 {
			a, b = ours.Next(a), theirs.Next(b).UTC()
			if b.IsZero() { // beyond go-cron's five-year search
				break
			}
			if !a.Equal(b) {
				t.Errorf("%q after %v: Next = %v, go-cron says %v", spec, after, a, b)
				break
			}
		}
		checked++
	}
	t.Logf("compared %d specs", checked)
	if checked < 1000 {
		t.Errorf("only %d specs were compared", checked)
	}
}
