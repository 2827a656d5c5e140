package report

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
	"time"
)

// chart is a line chart drawn as inline SVG: lines, shaded bands, vertical
// markers and dots with tooltips. Output depends only on the data, so a
// report is byte-for-byte reproducible.
type chart struct {
	title   string
	note    string // a line under the title: the verdict on a signal
	unit    string // of the y axis, e.g. "ms"
	xKind   xKind
	xLabels []string // xRuns: the label of each integer x
	zeroY   bool     // the y axis starts at 0
	series  []series
	bands   []band
	markers []marker
	dots    []dot
}

type xKind int

const (
	xSeconds xKind = iota // seconds from the start of the run
	xRuns                 // run index, labelled by xLabels
)

type series struct {
	name, color string
	x, y        []float64 // NaN y breaks the line
	dashed      bool
}

type band struct {
	name, color string
	x, lo, hi   []float64
}

type marker struct {
	x            float64
	label, color string
}

type dot struct {
	x, y                float64
	class, color, title string // class: "exemplar" or "run"
}

// Geometry of every chart, in SVG user units.
const (
	chartW  = 760
	chartH  = 250
	padL    = 64
	padR    = 170 // room for the legend
	padT    = 40
	padB    = 34
	plotW   = chartW - padL - padR
	plotH   = chartH - padT - padB
	nYTicks = 5
	nXTicks = 8
)

// palette is the series colours, in order.
var palette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// svg renders the chart.
func (c *chart) svg() string {
	x0, x1, y0, y1 := c.bounds()
	sx := func(x float64) float64 { return padL + (x-x0)/(x1-x0)*plotW }
	sy := func(y float64) float64 { return padT + plotH - (y-y0)/(y1-y0)*plotH }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, esc(c.title))
	fmt.Fprintf(&b, `<text class="title" x="%d" y="16">%s</text>`, padL, esc(clip(c.title, 90)))
	if c.note != "" {
		fmt.Fprintf(&b, `<text class="note" x="%d" y="30">%s</text>`, padL, esc(clip(c.note, 110)))
	}
	// Grid and y ticks.
	for _, t := range ticks(y0, y1, nYTicks) {
		y := sy(t)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" x2="%d" y1="%s" y2="%s"/>`, padL, padL+plotW, num(y), num(y))
		fmt.Fprintf(&b, `<text class="tick" x="%d" y="%s" text-anchor="end">%s</text>`, padL-6, num(y+4), esc(human(t)))
	}
	if c.unit != "" {
		fmt.Fprintf(&b, `<text class="unit" x="%d" y="%d" text-anchor="end">%s</text>`, padL-6, padT-8, esc(c.unit))
	}
	// X ticks.
	for _, t := range c.xTicks(x0, x1) {
		x := sx(t)
		fmt.Fprintf(&b, `<line class="xtick" x1="%s" x2="%s" y1="%d" y2="%d"/>`, num(x), num(x), padT+plotH, padT+plotH+4)
		fmt.Fprintf(&b, `<text class="tick" x="%s" y="%d" text-anchor="middle">%s</text>`, num(x), padT+plotH+16, esc(c.xLabel(t)))
	}
	fmt.Fprintf(&b, `<rect class="frame" x="%d" y="%d" width="%d" height="%d"/>`, padL, padT, plotW, plotH)
	// Bands under the lines.
	for _, bd := range c.bands {
		var pts []string
		for i := range bd.x {
			if finite(bd.lo[i]) && finite(bd.hi[i]) {
				pts = append(pts, num(sx(bd.x[i]))+","+num(sy(bd.hi[i])))
			}
		}
		for i := len(bd.x) - 1; i >= 0; i-- {
			if finite(bd.lo[i]) && finite(bd.hi[i]) {
				pts = append(pts, num(sx(bd.x[i]))+","+num(sy(bd.lo[i])))
			}
		}
		if len(pts) >= 2 {
			fmt.Fprintf(&b, `<polygon class="band" points="%s" fill="%s" fill-opacity="0.18" stroke="none"><title>%s</title></polygon>`,
				strings.Join(pts, " "), bd.color, esc(bd.name))
		}
	}
	for _, m := range c.markers {
		x := sx(m.x)
		fmt.Fprintf(&b, `<line class="marker" x1="%s" x2="%s" y1="%d" y2="%d" stroke="%s" stroke-dasharray="5,3"/>`, num(x), num(x), padT, padT+plotH, m.color)
		fmt.Fprintf(&b, `<text class="marker-label" x="%s" y="%d" fill="%s">%s</text>`, num(x+3), padT+11, m.color, esc(m.label))
	}
	for _, s := range c.series {
		d := path(s.x, s.y, sx, sy)
		if d == "" {
			continue
		}
		dash := ""
		if s.dashed {
			dash = ` stroke-dasharray="6,4"`
		}
		fmt.Fprintf(&b, `<path class="series" d="%s" stroke="%s" fill="none" stroke-width="1.8"%s><title>%s</title></path>`, d, s.color, dash, esc(s.name))
		if n := countFinite(s.y); n == 1 || n <= 40 && !s.dashed {
			for i := range s.x {
				if finite(s.y[i]) {
					fmt.Fprintf(&b, `<circle class="point" cx="%s" cy="%s" r="2" fill="%s"/>`, num(sx(s.x[i])), num(sy(s.y[i])), s.color)
				}
			}
		}
	}
	for _, d := range c.dots {
		fmt.Fprintf(&b, `<circle class="%s" cx="%s" cy="%s" r="3.5" fill="none" stroke="%s" stroke-width="1.5"><title>%s</title></circle>`,
			d.class, num(sx(d.x)), num(sy(d.y)), d.color, esc(d.title))
	}
	// Legend.
	ly := padT + 6
	item := func(color, name string, kind string) {
		switch kind {
		case "band":
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="16" height="10" fill="%s" fill-opacity="0.25"/>`, chartW-padR+12, ly-8, color)
		case "dot":
			fmt.Fprintf(&b, `<circle cx="%d" cy="%d" r="3.5" fill="none" stroke="%s" stroke-width="1.5"/>`, chartW-padR+20, ly-3, color)
		case "dashed":
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2" stroke-dasharray="4,3"/>`, chartW-padR+12, chartW-padR+28, ly-3, ly-3, color)
		default:
			fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="%s" stroke-width="2"/>`, chartW-padR+12, chartW-padR+28, ly-3, ly-3, color)
		}
		fmt.Fprintf(&b, `<text class="legend" x="%d" y="%d">%s</text>`, chartW-padR+34, ly+1, esc(clip(name, 22)))
		ly += 16
	}
	for _, s := range c.series {
		kind := "line"
		if s.dashed {
			kind = "dashed"
		}
		item(s.color, s.name, kind)
	}
	for _, bd := range c.bands {
		item(bd.color, bd.name, "band")
	}
	if len(c.dots) > 0 && c.dots[0].class == "exemplar" {
		item(c.dots[0].color, "slowest request", "dot")
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// bounds returns the data ranges, widened to nice tick values.
func (c *chart) bounds() (x0, x1, y0, y1 float64) {
	x0, x1 = math.Inf(1), math.Inf(-1)
	y0, y1 = math.Inf(1), math.Inf(-1)
	seeX := func(x float64) { x0, x1 = math.Min(x0, x), math.Max(x1, x) }
	seeY := func(y float64) {
		if finite(y) {
			y0, y1 = math.Min(y0, y), math.Max(y1, y)
		}
	}
	for _, s := range c.series {
		for i := range s.x {
			if finite(s.y[i]) {
				seeX(s.x[i])
				seeY(s.y[i])
			}
		}
	}
	for _, bd := range c.bands {
		for i := range bd.x {
			if finite(bd.lo[i]) && finite(bd.hi[i]) {
				seeX(bd.x[i])
				seeY(bd.lo[i])
				seeY(bd.hi[i])
			}
		}
	}
	for _, d := range c.dots {
		seeX(d.x)
		seeY(d.y)
	}
	for _, m := range c.markers {
		seeX(m.x)
	}
	if math.IsInf(x0, 0) {
		x0, x1, y0, y1 = 0, 1, 0, 1
	}
	if c.xKind == xSeconds {
		x0 = math.Min(x0, 0)
	}
	if x1 <= x0 {
		x1 = x0 + 1
	}
	if math.IsInf(y0, 0) {
		y0, y1 = 0, 1
	}
	if c.zeroY {
		y0 = math.Min(y0, 0)
	} else {
		// Keep small wobbles small: the axis spans at least 25 % of the
		// values' size, so a flat signal looks flat.
		if span, min := y1-y0, 0.25*math.Max(math.Abs(y0), math.Abs(y1)); span < min {
			mid, nonNegative := (y0+y1)/2, y0 >= 0
			y0, y1 = mid-min/2, mid+min/2
			if nonNegative && y0 < 0 {
				y0 = 0
			}
		}
	}
	if y1 <= y0 {
		y1 = y0 + 1
	}
	step := niceStep((y1 - y0) / nYTicks)
	y0 = math.Floor(y0/step) * step
	y1 = math.Ceil(y1/step) * step
	if y1 == y0 {
		y1 = y0 + step
	}
	return x0, x1, y0, y1
}

func (c *chart) xTicks(x0, x1 float64) []float64 {
	if c.xKind == xRuns {
		n := len(c.xLabels)
		step := int(math.Ceil(float64(n) / nXTicks))
		if step < 1 {
			step = 1
		}
		var out []float64
		for i := 0; i < n; i += step {
			out = append(out, float64(i))
		}
		return out
	}
	step := niceSeconds((x1 - x0) / nXTicks)
	var out []float64
	for t := math.Ceil(x0/step) * step; t <= x1+1e-9; t += step {
		out = append(out, t)
	}
	return out
}

func (c *chart) xLabel(t float64) string {
	if c.xKind == xRuns {
		i := int(math.Round(t))
		if i >= 0 && i < len(c.xLabels) {
			return c.xLabels[i]
		}
		return ""
	}
	return formatSeconds(t)
}

// formatSeconds writes a run offset as "0s", "45s", "1m30s", "2m", "150ms".
func formatSeconds(s float64) string {
	d := time.Duration(math.Round(s*1000)) * time.Millisecond
	if d < time.Second && d > 0 {
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	if d%time.Second != 0 {
		return strconv.FormatFloat(s, 'f', -1, 64) + "s"
	}
	str := d.String()
	if strings.HasSuffix(str, "m0s") {
		str = strings.TrimSuffix(str, "0s")
	}
	if strings.HasSuffix(str, "h0m") {
		str = strings.TrimSuffix(str, "0m")
	}
	return str
}

// niceSeconds rounds a tick step up to one a person would pick.
func niceSeconds(raw float64) float64 {
	for _, s := range []float64{0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600} {
		if s >= raw {
			return s
		}
	}
	return niceStep(raw)
}

// niceStep rounds a tick step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 || !finite(raw) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw*(1-1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// ticks returns nice tick values from lo to hi.
func ticks(lo, hi float64, n int) []float64 {
	step := niceStep((hi - lo) / float64(n))
	var out []float64
	for i := 0; ; i++ {
		t := math.Ceil(lo/step)*step + float64(i)*step
		if t > hi+step*1e-6 {
			break
		}
		if math.Abs(t) < step*1e-9 {
			t = 0
		}
		out = append(out, t)
	}
	return out
}

func path(xs, ys []float64, sx, sy func(float64) float64) string {
	var b strings.Builder
	pen := false
	for i := range xs {
		if !finite(ys[i]) {
			pen = false
			continue
		}
		if pen {
			b.WriteString(" L")
		} else {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString("M")
		}
		b.WriteString(num(sx(xs[i])) + "," + num(sy(ys[i])))
		pen = true
	}
	return b.String()
}

// human formats a number compactly: 950, 1.5k, 42M, 0.25.
func human(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e4:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	s := strconv.FormatFloat(v, 'f', 3, 64)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

func num(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func countFinite(ys []float64) int {
	n := 0
	for _, y := range ys {
		if finite(y) {
			n++
		}
	}
	return n
}

func esc(s string) string { return html.EscapeString(s) }

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
