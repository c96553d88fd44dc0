package dashboard

import (
	"fmt"
	"time"
)

// chart is a bar chart of two series (succeeded above the axis, failed
// below it), laid out for the SVG in partials.html: a viewBox of Width by
// Height user units.
type chart struct {
	Width, Height int
	// Axis is the y of the zero line.
	Axis float64
	Bars []chartBar
	// MaxUp and MaxDown are the largest values of each series, the scale's
	// ends; Label names the unit ("jobs/s", "jobs/hour").
	MaxUp, MaxDown float64
	Label          string
	// First and Last label the x axis's ends.
	First, Last string
}

// chartBar is one bucket: its x, bar width, the heights of its two bars
// (up from the axis, down from it), and a tooltip.
type chartBar struct {
	X, W float64
	// Y is the top of the succeeded bar: Axis - Up.
	Y        float64
	Up, Down float64
	Title    string
}

// chartPoint is one bucket of a chart's data.
type chartPoint struct {
	At                time.Time
	Succeeded, Failed float64
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 600
	chartHeight = 120
)

// newChart lays out points (oldest first) as bars, in at least slots
// places (the newest at the right end, so that a live graph fills in from
// the right). Succeeded bars take the upper three quarters of the height
// and failed ones the lower quarter, each scaled to its own maximum, so
// that a few failures stay visible next to many successes. timeFormat
// labels buckets and axis ends.
func newChart(points []chartPoint, slots int, label, timeFormat string) *chart {
	c := &chart{Width: chartWidth, Height: chartHeight, Axis: chartHeight * 0.75, Label: label}
	if len(points) == 0 {
		return c
	}
	for _, p := range points {
		c.MaxUp = max(c.MaxUp, p.Succeeded)
		c.MaxDown = max(c.MaxDown, p.Failed)
	}
	slots = max(slots, len(points))
	step := float64(chartWidth) / float64(slots)
	offset := slots - len(points)
	for i, p := range points {
		b := chartBar{X: float64(offset+i) * step, W: max(step-1, 0.5)}
		if c.MaxUp > 0 {
			b.Up = p.Succeeded / c.MaxUp * (c.Axis - 2)
		}
		if c.MaxDown > 0 {
			b.Down = p.Failed / c.MaxDown * (chartHeight - c.Axis - 2)
		}
		b.Y = c.Axis - b.Up
		b.Title = fmt.Sprintf("%s: %s succeeded, %s failed", p.At.UTC().Format(timeFormat), number(p.Succeeded), number(p.Failed))
		c.Bars = append(c.Bars, b)
	}
	c.First = points[0].At.UTC().Format(timeFormat)
	c.Last = points[len(points)-1].At.UTC().Format(timeFormat)
	return c
}

// number formats a count or rate: whole numbers without decimals.
func number(v float64) string {
	if v == float64(int64(v)) {
		return fmt.Sprint(int64(v))
	}
	return fmt.Sprintf("%.1f", v)
}
