package kiln_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/kilnjobs/kiln"
	"github.com/kilnjobs/kiln/internal/testutil"
	"github.com/kilnjobs/kiln/store"
)

// bucketArgs are the args of TestRateLimitLongBucket's kind.
type bucketArgs struct{ N int }

func (bucketArgs) Kind() string { return "bucket" }

// bucketWorker counts the jobs it ran; its kind's default rate limit is
// the longest bucket a limit may have at an interval of 366 days: 99
// starts, then one per 366 days.
type bucketWorker struct {
	kiln.WorkerDefaults[bucketArgs]
	done *atomic.Int64
}

// longestBucket is bucketWorker's rate limit.
var longestBucket = kiln.RateLimit{Limit: 1, Period: kiln.MaxRateLimitPeriod, Burst: 98}

func (bucketWorker) RateLimit() kiln.RateLimit { return longestBucket }

func (w bucketWorker) Work(context.Context, *kiln.Job[bucketArgs]) error {
	w.done.Add(1)
	return nil
}

// TestRateLimitLongBucket: on both stores, RateLimitSet refuses a limit
// whose spent budget would take more than MaxRateLimitBucket to fill
// (one job per 366 days with a burst of 1,000: a bucket of 1,001 years,
// which used to be accepted and never ran out, the debt capped at about
// 292 years, and whose full bucket, which cuts the debt when a limit is
// set, wrapped negative and reset a spent budget to full), naming the
// field; and under the longest bucket it accepts (99 starts of one per
// 366 days, the worker's default) a spent budget stays spent when the
// same limit is set again at run time.
func TestRateLimitLongBucket(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store.Store{
		"SQLite":     func(t *testing.T) store.Store { return openStore(t, filepath.Join(t.TempDir(), "kiln.db")) },
		"PostgreSQL": func(t *testing.T) store.Store { return callerClockPostgres(t, 1)[0] },
	} {
		t.Run(name, func(t *testing.T) {
			var done atomic.Int64
			rc := startRateCluster(t, []store.Store{open(t)}, newClock(), func(w *kiln.Workers) {
				kiln.AddWorker(w, bucketWorker{done: &done})
			})
			c, ctx := rc.clients[0], t.Context()
			var ve *kiln.ValidationError
			err := c.RateLimitSet(ctx, "bucket", false, kiln.RateLimit{Limit: 1, Period: kiln.MaxRateLimitPeriod, Burst: 1000})
			if !errors.As(err, &ve) || ve.Field != "burst" {
				t.Fatalf("RateLimitSet(1/366 days+1000) = %v; want a *ValidationError of field burst", err)
			}
			// The limit is the worker's default, in force from the first
			// claim (an override reaches a running client's claims at its
			// next read of the overrides).
			longest := longestBucket
			var batch []kiln.EnqueueParams
			for i := range 120 {
				batch = append(batch, kiln.EnqueueParams{Args: bucketArgs{N: i}})
			}
			if _, err := c.EnqueueMany(ctx, batch); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, "99 jobs run", func() bool { return done.Load() >= 99 })
			for _, step := range []string{"spent", "set again"} {
				if step == "set again" {
					if err := c.RateLimitSet(ctx, "bucket", false, longest); err != nil {
						t.Fatal(err)
					}
				}
				st, err := c.RateLimitGet(ctx, "bucket", false)
				if err != nil {
					t.Fatal(err)
				}
				if st.Used != 99 || !st.NextSlot.After(st.At) {
					t.Fatalf("%s: used %d, next slot %v at %v; want 99 used, the next slot later", step, st.Used, st.NextSlot, st.At)
				}
			}
			if n := done.Load(); n != 99 {
				t.Fatalf("%d jobs ran under a budget of 99 starts on a clock that does not move", n)
			}
		})
	}
}
