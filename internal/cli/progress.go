package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// progress shows how far a long phase is: a progress bar when w is a
// terminal, else a plain line at most once per second. It is used from one
// goroutine.
type progress struct {
	w     io.Writer
	label string
	total int64
	bar   *progressbar.ProgressBar // nil when w is not a terminal
	last  time.Time                // when the last plain line was printed
}

func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: total, last: time.Now()}
	if isTerminal(w) {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription(fmt.Sprintf("%-9s", label)),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("jobs"),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.StartWithoutRender() // rates count from now, not the first set
	}
	return p
}

// set shows that n of the total are done.
func (p *progress) set(n int64) {
	if p.bar != nil {
		_ = p.bar.Set64(n)
		return
	}
	if time.Since(p.last) >= time.Second && n < p.total {
		p.last = time.Now()
		fmt.Fprintf(p.w, "  %s: %s/%s jobs (%d%%)\n", p.label, comma(n), comma(p.total), n*100/p.total)
	}
}

// finish ends the display; the bar is cleared.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
