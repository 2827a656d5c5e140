package explain

import (
	"math"
	"sort"

	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/steadyload/steadyload/internal/trend"
)

// Defaults of Options.
const (
	DefaultAlpha  = 0.01 // family-wise, over the signals tested
	DefaultMinRho = 0.5
	DefaultMinN   = 8
	DefaultMax    = 3
)

// Options tunes Rank. The zero value means the defaults.
type Options struct {
	Alpha  float64 // family-wise level: a signal needs a test's p < Alpha/k, k the signals tested (default 0.01)
	MinRho float64 // and |ρ| at least this (default 0.5): with many windows a weak link is significant too
	MinN   int     // fewest pairs a signal is tested on (default 8)
	Max    int     // most signals returned (default 3)
}

func (o Options) normalize() Options {
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.MinRho == 0 {
		o.MinRho = DefaultMinRho
	}
	if o.MinN == 0 {
		o.MinN = DefaultMinN
	}
	if o.Max == 0 {
		o.Max = DefaultMax
	}
	return o
}

// Series is one signal's values, aligned with the latencies given to
// Rank: NaN where it has none.
type Series struct {
	Name   string
	Values []float64
}

// The tests that tell a signal that moved with the latency from one that
// wandered the same way by chance, each against the signal's own
// wandering: a random walk or a slow cycle follows a trending latency
// over a few dozen values as often as not, and a rank correlation, which
// takes its pairs as independent, cannot tell it from a cause.
const (
	// ByInnovations: the two series' AR(1) residuals (each value less
	// the share its predecessor predicts) correlate: the signal's
	// wiggles are the latency's.
	ByInnovations = "innovations"
	// ByStep: at the latency's change point the signal changed by more
	// than it changes over as many values anywhere else.
	ByStep = "step"
	// ByTrend: the signal's drift is larger than its steps' noise (its
	// differences' mean is not zero), and the latency less the signal,
	// scaled, is left without a trend or wiggle of its own (its lag-1
	// autocorrelation is below 2/√n): the signal accounts for the
	// latency's shape.
	ByTrend = "trend"
)

// Mover is a signal that moved with the latency.
type Mover struct {
	Signal string
	Rho    float64 // Spearman's rank correlation with the latency
	// By is the test that found the signal moving with the latency
	// beyond its own wandering (ByInnovations, ByStep or ByTrend), and P
	// that test's two-sided p-value, before the correction; the one with
	// the smallest p when more than one passed.
	By       string
	P        float64
	N        int     // pairs tested
	From, To float64 // the signal's mean before and after the latency's change point, or over the first and last thirds
	Change   float64 // To/From − 1; +Inf from zero
	// SameChange: the latency has a change point and the signal one
	// within two values of it.
	SameChange bool
}

// Rank returns the signals that moved with latency (both aligned; NaN
// pairs left out, the rest taken as consecutive), strongest |ρ| first
// (then by name), at most o.Max. A signal moved with it when Spearman's
// |ρ| ≥ o.MinRho and one of the tests ByInnovations, ByStep and ByTrend
// passes at o.Alpha/k, k the signals tested (Bonferroni). ρ's own
// p-value is not one of them: it takes the pairs as independent, which
// the values of a series seldom are. A signal with fewer than o.MinN
// pairs or a constant one is not tested and does not count in k.
func Rank(latency []float64, signals []Series, o Options) []Mover {
	o = o.normalize()
	cp, hasCP := latencyChange(latency)
	type pairs struct {
		s      Series
		xs, ys []float64
		at     int // cp among the pairs
	}
	var tested []pairs
	for _, s := range signals {
		var ps pairs
		ps.s = s
		for i, y := range s.Values {
			if i < len(latency) && !math.IsNaN(latency[i]) && !math.IsNaN(y) {
				if i < cp.Index {
					ps.at++
				}
				ps.xs, ps.ys = append(ps.xs, latency[i]), append(ps.ys, y)
			}
		}
		if len(ps.xs) < o.MinN || constant(ps.xs) || constant(ps.ys) {
			continue
		}
		tested = append(tested, ps)
	}
	level := o.Alpha / float64(len(tested))
	var out []Mover
	for _, ps := range tested {
		rho := Spearman(ps.xs, ps.ys)
		if math.Abs(rho) < o.MinRho {
			continue
		}
		m := Mover{Signal: ps.s.Name, Rho: rho, P: 1, N: len(ps.xs)}
		try := func(by string, p float64) {
			if p < level && p < m.P {
				m.By, m.P = by, p
			}
		}
		try(ByInnovations, innovationsP(ps.xs, ps.ys, rho))
		if hasCP {
			try(ByStep, stepP(ps.ys, ps.at, cp.Up == (rho > 0)))
		}
		try(ByTrend, trendP(ps.xs, ps.ys))
		if m.By == "" {
			continue
		}
		m.From, m.To = levels(ps.s.Values, cp.Index, hasCP)
		m.Change = change(m.From, m.To)
		if hasCP {
			m.SameChange = changesAt(ps.s.Values, cp.Index)
		}
		out = append(out, m)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := math.Abs(out[i].Rho), math.Abs(out[j].Rho)
		if a != b {
			return a > b
		}
		return out[i].Signal < out[j].Signal
	})
	if len(out) > o.Max {
		out = out[:o.Max]
	}
	return out
}

// Spearman is the rank correlation of xs and ys (of one length, no
// NaN), ties given their mean rank; 0 when either is constant.
func Spearman(xs, ys []float64) float64 {
	rho, err := stats.Spearman(xs, ys)
	if err != nil {
		return 0
	}
	return rho
}

// rhoP is the two-sided p-value of a correlation r of n independent
// pairs under no correlation, by Student's t with n−2 degrees of freedom.
func rhoP(r float64, n int) float64 {
	if n < 3 {
		return 1
	}
	if math.Abs(r) >= 1 {
		return 0
	}
	t := math.Abs(r) * math.Sqrt(float64(n-2)/(1-r*r))
	return tP(t, float64(n-2))
}

// tP is the two-sided p-value of t under Student's t with df degrees of
// freedom.
func tP(t, df float64) float64 {
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(math.Abs(t))
}

// innovationsP is the p-value of the Pearson correlation of the AR(1)
// residuals of xs and ys (prewhitening: what is left of each value
// once its predecessor's share is taken out is nearly independent of
// the rest, so the correlation's p-value holds); 1 when it has not the
// sign of rho.
func innovationsP(xs, ys []float64, rho float64) float64 {
	a, b := ar1Residuals(xs), ar1Residuals(ys)
	r, err := stats.Correlation(a, b)
	if err != nil || (r > 0) != (rho > 0) {
		return 1
	}
	return rhoP(r, len(a))
}

// ar1Residuals is xs less its mean, each value less φ times the one
// before it, φ its lag-1 autocorrelation.
func ar1Residuals(xs []float64) []float64 {
	m, _ := stats.Mean(xs)
	phi, _ := stats.AutoCorrelation(xs, 1)
	r := make([]float64, len(xs)-1)
	for i := 1; i < len(xs); i++ {
		r[i-1] = (xs[i] - m) - phi*(xs[i-1]-m)
	}
	return r
}

// stepSpan is the values a step is looked for over: a step within a
// window is seen in two.
const stepSpan = 3

// stepP is the p-value of the signal's change across the latency's
// change point at (ys[at+1] − ys[at−2]) against its changes over as many
// values away from it: their median and their median absolute deviation
// as the scale, by Student's t with a degree of freedom per three
// changes less one (they overlap); 1 when the change is not up (up) or
// down.
func stepP(ys []float64, at int, up bool) float64 {
	if at-2 < 0 || at+1 >= len(ys) {
		return 1
	}
	var rest []float64
	for t := stepSpan; t < len(ys); t++ { // the change over the span ending at t
		if t < at-1 || t > at+stepSpan {
			rest = append(rest, ys[t]-ys[t-stepSpan])
		}
	}
	df := len(rest)/stepSpan - 1
	if df < 1 {
		return 1
	}
	med, _ := stats.Median(rest)
	mad, _ := stats.MedianAbsoluteDeviationPopulation(rest)
	d := ys[at+1] - ys[at-2] - med
	if (d > 0) != up || d == 0 {
		return 1
	}
	if mad == 0 {
		return 0 // a signal that changes nowhere else
	}
	return tP(d/(1.4826*mad), float64(df))
}

// trendP is the p-value of the signal's drift (its differences' mean,
// Student's t) when the latency's residuals from its least-squares line
// on the signal have no lag-1 autocorrelation left (below 2/√n); 1
// otherwise.
func trendP(xs, ys []float64) float64 {
	diffs, _ := stats.Diff(ys)
	_, p, err := stats.TTest(diffs, nil, 0)
	if err != nil || math.IsNaN(p) {
		return 1
	}
	pts := make(stats.Series, len(xs))
	for i := range xs {
		pts[i] = stats.Coordinate{X: ys[i], Y: xs[i]}
	}
	fit, err := stats.LinearRegression(pts)
	if err != nil {
		return 1
	}
	res := make([]float64, len(xs))
	for i := range res {
		res[i] = xs[i] - fit[i].Y
	}
	r1, err := stats.AutoCorrelation(res, 1)
	if err == nil && r1 >= 2/math.Sqrt(float64(len(xs))) {
		return 1
	}
	return p
}

// latencyCP is the latency's largest change point: the index of its
// first value at the new level, and whether the level rose.
type latencyCP struct {
	Index int
	Up    bool
}

// latencyChange is the largest change point of the latency, in logs.
func latencyChange(latency []float64) (latencyCP, bool) {
	cps := trend.ChangePoints(latency, trend.ChangeOptions{Log: true, MinSize: 3})
	var best latencyCP
	ok := false
	size := 0.0
	for _, cp := range cps {
		if m := math.Abs(math.Log(cp.After / cp.Before)); !ok || m > size {
			best, size, ok = latencyCP{Index: cp.Index, Up: cp.After > cp.Before}, m, true
		}
	}
	return best, ok
}

// changesAt reports whether xs has a change point within two values of
// at.
func changesAt(xs []float64, at int) bool {
	for _, cp := range trend.ChangePoints(xs, trend.ChangeOptions{MinSize: 3}) {
		if cp.Index >= at-2 && cp.Index <= at+2 {
			return true
		}
	}
	return false
}

// levels are the means of xs before and from the change point at, or of
// its first and last thirds when there is none; NaNs left out.
func levels(xs []float64, at int, hasCP bool) (from, to float64) {
	if !hasCP {
		third := max(len(xs)/3, 1)
		return nanMean(xs[:third]), nanMean(xs[len(xs)-third:])
	}
	at = min(max(at, 1), len(xs)-1)
	return nanMean(xs[:at]), nanMean(xs[at:])
}

func change(from, to float64) float64 {
	switch {
	case from == 0 && to > 0:
		return math.Inf(1)
	case from == 0 && to < 0:
		return math.Inf(-1)
	case from == 0:
		return 0
	}
	return to/math.Abs(from) - math.Copysign(1, from)
}

func constant(xs []float64) bool {
	for _, x := range xs {
		if x != xs[0] {
			return false
		}
	}
	return true
}

func nanMean(xs []float64) float64 {
	s, n := 0.0, 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}
