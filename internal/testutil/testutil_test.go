package testutil

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fakeT records what Fatalf would report and stops the goroutine there,
// as testing.T does.
type fakeT struct {
	testing.TB
	msg string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f)
}

// fails runs f with a fakeT and returns the message it failed with, or ""
// when it returned normally.
func fails(f func(t testing.TB)) (msg string) {
	ft := &fakeT{}
	defer func() {
		if r := recover(); r != nil {
			if r != ft {
				panic(r)
			}
			msg = ft.msg
		}
	}()
	f(ft)
	return ""
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	n := 0
	Eventually(t, "three calls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
}

func TestEventuallyNilFailsWithTheLastError(t *testing.T) {
	n := 0
	msg := fails(func(t testing.TB) {
		Poll{Timeout: 20 * time.Millisecond, Interval: time.Millisecond}.EventuallyNil(t, "job 1 to complete", func() error {
			n++
			return fmt.Errorf("job 1 is running (call %d)", n)
		})
	})
	if !strings.HasPrefix(msg, "timed out after 20ms waiting for job 1 to complete: job 1 is running (call ") ||
		!strings.HasSuffix(msg, fmt.Sprintf("(call %d)", n)) {
		t.Errorf("failure %q, want the timeout, what was awaited and the last error (call %d)", msg, n)
	}
}

func TestPollEventuallyFailsNamingTheCondition(t *testing.T) {
	msg := fails(func(t testing.TB) {
		Poll{Timeout: 10 * time.Millisecond}.Eventually(t, "nothing", func() bool { return false })
	})
	if want := "timed out after 10ms waiting for nothing: the condition is still false"; msg != want {
		t.Errorf("failure %q, want %q", msg, want)
	}
}

func TestReceiveSkipsValuesThatDoNotMatch(t *testing.T) {
	ch := make(chan int, 3)
	ch <- 1
	ch <- 2
	ch <- 3
	if got := Receive(t, ch, "an even number", func(v int) bool { return v%2 == 0 }); got != 2 {
		t.Errorf("Receive = %d, want 2", got)
	}
	if got := Receive(t, ch, "any value", nil); got != 3 {
		t.Errorf("Receive = %d, want 3", got)
	}
}

func TestReceiveTakesAClosedChannelAsASignal(t *testing.T) {
	ch := make(chan int)
	close(ch)
	if got := Receive(t, ch, "the close", nil); got != 0 {
		t.Errorf("Receive = %d, want the zero value", got)
	}
	if msg := fails(func(t testing.TB) { Receive(t, ch, "a 1", func(v int) bool { return v == 1 }) }); msg != "channel closed while waiting for a 1" {
		t.Errorf("failure %q", msg)
	}
}
