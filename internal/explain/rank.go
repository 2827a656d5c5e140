package explain

import (
	"math"
	"sort"

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
	Alpha  float64 // family-wise level: a signal needs p < Alpha/k, k the signals tested (default 0.01)
	MinRho float64 // and |ρ| at least this (default 0.5): with many windows a weak ρ is significant too
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

// Mover is a signal that moved with the latency.
type Mover struct {
	Signal   string
	Rho      float64 // Spearman's rank correlation with the latency
	P        float64 // two-sided p-value of ρ = 0, before the correction
	N        int     // pairs tested
	From, To float64 // the signal's mean before and after the latency's change point, or over the first and last thirds
	Change   float64 // To/From − 1; +Inf from zero
	// SameChange: the latency has a change point and the signal one
	// within two values of it.
	SameChange bool
}

// Rank tests each signal's rank correlation with latency (both aligned,
// NaN pairs left out) and returns those that pass, strongest |ρ| first
// (then by name), at most o.Max. A signal with fewer than o.MinN pairs or
// a constant one is not tested and does not count in the correction.
func Rank(latency []float64, signals []Series, o Options) []Mover {
	o = o.normalize()
	cp, hasCP := latencyChange(latency)
	var tested []Mover
	for _, s := range signals {
		var xs, ys []float64
		for i, y := range s.Values {
			if i < len(latency) && !math.IsNaN(latency[i]) && !math.IsNaN(y) {
				xs, ys = append(xs, latency[i]), append(ys, y)
			}
		}
		if len(xs) < o.MinN || constant(xs) || constant(ys) {
			continue
		}
		rho := Spearman(xs, ys)
		m := Mover{Signal: s.Name, Rho: rho, P: rhoP(rho, len(xs)), N: len(xs)}
		m.From, m.To = levels(s.Values, cp, hasCP)
		m.Change = change(m.From, m.To)
		if hasCP {
			m.SameChange = changesAt(s.Values, cp)
		}
		tested = append(tested, m)
	}
	var out []Mover
	for _, m := range tested {
		if m.P < o.Alpha/float64(len(tested)) && math.Abs(m.Rho) >= o.MinRho {
			out = append(out, m)
		}
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

// Spearman is the rank correlation of xs and ys (of one length), ties
// given their mean rank.
func Spearman(xs, ys []float64) float64 {
	return pearson(ranks(xs), ranks(ys))
}

func ranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	r := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && xs[idx[j]] == xs[idx[i]] {
			j++
		}
		mean := float64(i+j+1) / 2 // ranks i+1 … j
		for k := i; k < j; k++ {
			r[idx[k]] = mean
		}
		i = j
	}
	return r
}

func pearson(xs, ys []float64) float64 {
	mx, my := mean(xs), mean(ys)
	var sxy, sxx, syy float64
	for i := range xs {
		dx, dy := xs[i]-mx, ys[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0
	}
	return sxy / math.Sqrt(sxx*syy)
}

// rhoP is the two-sided p-value of ρ under no correlation, by Student's
// t with n−2 degrees of freedom.
func rhoP(rho float64, n int) float64 {
	if n < 3 {
		return 1
	}
	if math.Abs(rho) >= 1 {
		return 0
	}
	t := math.Abs(rho) * math.Sqrt(float64(n-2)/(1-rho*rho))
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(n - 2)}.Survival(t)
}

// latencyChange is the largest change point of the latency, in logs.
func latencyChange(latency []float64) (int, bool) {
	cps := trend.ChangePoints(latency, trend.ChangeOptions{Log: true, MinSize: 3})
	best, ok := 0, false
	size := 0.0
	for _, cp := range cps {
		if m := math.Abs(math.Log(cp.After / cp.Before)); !ok || m > size {
			best, size, ok = cp.Index, m, true
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

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
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
