package trend

import (
	"math"
	"sort"

	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"
)

// Defaults of ChangeOptions: Hunter's library defaults (window 50, p <
// 0.001, relative change > 5 %).
const (
	DefaultChangeWindow    = 50
	DefaultChangeMaxP      = 0.001
	DefaultChangeMagnitude = 0.05
)

// ChangeOptions tunes ChangePoints. The zero value means the defaults.
type ChangeOptions struct {
	Window       int     // length of the sliding window of the split search (default 50)
	MaxP         float64 // a change point needs a t-test p-value below this (default 0.001)
	MinMagnitude float64 // and a relative change above this (default 0.05; negative: none)
	// Log tests ln x, and Before/After are geometric means: right for
	// latencies, whose noise is relative. Values ≤ 0 are then skipped.
	Log bool
	// MinSize is the fewest values each side of a change point must hold
	// (default 1): with 3, one odd last value is not a step until two
	// more runs confirm the new level. Points with a shorter side are
	// merged away first.
	MinSize int
}

// ChangePoint is a step in a series: the level from Index on differs from
// the level before it.
type ChangePoint struct {
	Index  int     // index in the series of the first value at the new level
	Before float64 // mean of the segment before (geometric mean with Log)
	After  float64 // mean of the segment from Index to the next change point
	Change float64 // After/Before − 1
	P      float64 // two-sided Student t-test p-value of the two segments
}

// ChangePoints finds the steps in xs in the manner of Hunter / Apache
// Otava: E-divisive means (Matteson & James 2014) searches each sliding
// window for the split that maximises the energy statistic q̂, a Student
// t-test between the two segments decides whether it is real (at 10× MaxP
// in this first pass, giving "weak" change points), and the weak points are
// then merged away, weakest first, until each remaining one has p < MaxP
// and a magnitude max(|After/Before−1|, |Before/After−1|) above
// MinMagnitude. The result is sorted by Index; both rises and falls are
// returned. NaNs are skipped; indices are those of xs.
func ChangePoints(xs []float64, o ChangeOptions) []ChangePoint {
	if o.Window == 0 {
		o.Window = DefaultChangeWindow
	}
	if o.Window < 4 {
		o.Window = 4
	}
	if o.MaxP == 0 {
		o.MaxP = DefaultChangeMaxP
	}
	if o.MinMagnitude == 0 {
		o.MinMagnitude = DefaultChangeMagnitude
	}
	if o.MinSize < 1 {
		o.MinSize = 1
	}
	// The series without its missing values, and where each came from.
	var z []float64
	var pos []int
	for i, x := range xs {
		switch {
		case math.IsNaN(x), o.Log && x <= 0:
			continue
		case o.Log:
			z = append(z, math.Log(x))
		default:
			z = append(z, x)
		}
		pos = append(pos, i)
	}
	c := changes{z: z, log: o.Log}
	firstPass := o.MaxP * 10
	switch {
	case o.MaxP >= 0.5:
		firstPass = o.MaxP
	case o.MaxP >= 0.05:
		firstPass = o.MaxP * 2
	}
	weak := c.split(o.Window, firstPass)
	strong := c.merge(weak, o.MaxP, o.MinMagnitude, o.MinSize)
	out := make([]ChangePoint, len(strong))
	for i, cp := range strong {
		cp.Index = pos[cp.Index]
		out[i] = cp
	}
	return out
}

// changes holds a series without gaps, in the scale tested.
type changes struct {
	z   []float64
	log bool
}

// split is the first pass: E-divisive in sliding windows, with a t-test at
// maxP, the union of the points found; their statistics are then
// recomputed over the whole series.
func (c *changes) split(window int, maxP float64) []ChangePoint {
	n := len(c.z)
	step := window / 2
	var idx []int
	seen := map[int]bool{}
	for start := 0; start < n; {
		end := min(start+window, n)
		found := c.divisive(start, end, maxP)
		last := 0
		if len(found) > 0 {
			last = found[len(found)-1]
		}
		for _, i := range found {
			if !seen[i] {
				seen[i] = true
				idx = append(idx, i)
			}
		}
		start = max(last, start+step)
	}
	sort.Ints(idx)
	cps := make([]ChangePoint, len(idx))
	for k, i := range idx {
		lo, hi := bounds(idx, k)
		cps[k] = c.stats(i, lo, hi)
	}
	return cps
}

// bounds returns the segment around change point k of the sorted indices
// idx: from the previous point (or 0) to the next (or the end, as -1).
func bounds(idx []int, k int) (lo, hi int) {
	lo, hi = 0, -1
	if k > 0 {
		lo = idx[k-1]
	}
	if k+1 < len(idx) {
		hi = idx[k+1]
	}
	return lo, hi
}

// divisive runs E-divisive on z[start:end]: repeatedly, the best split of
// any current segment by q̂, kept while its t-test p-value is ≤ maxP. It
// returns the points found, sorted, as indices into z.
func (c *changes) divisive(start, end int, maxP float64) []int {
	cps := []int{}
	for {
		bestQ, bestAt := math.Inf(-1), -1
		lo := start
		for k := 0; k <= len(cps); k++ {
			hi := end
			if k < len(cps) {
				hi = cps[k]
			}
			if hi-lo > 1 {
				if at, q := c.candidate(lo, hi); q > bestQ {
					bestQ, bestAt = q, at
				}
			}
			lo = hi
		}
		if bestAt < 0 {
			return cps
		}
		// The t-test splits the segment holding the candidate.
		lo, hi := start, end
		for _, i := range cps {
			if i < bestAt {
				lo = i
			} else {
				hi = i
				break
			}
		}
		if p := tTest(c.z[lo:bestAt], c.z[bestAt:hi]); p > maxP {
			return cps
		}
		cps = append(cps, bestAt)
		sort.Ints(cps)
	}
}

// candidate returns the split τ of z[lo:hi] and the q̂ that maximise the
// energy statistic between X = z[lo:τ] and Y = z[τ:κ] over lo < τ < κ ≤ hi:
//
//	q̂ = 2/(n+m) Σ|Xi−Yj| − 2m/((n+m)(n−1)) Σi<k|Xi−Xk| − 2n/((n+m)(m−1)) Σj<k|Yj−Yk|
func (c *changes) candidate(lo, hi int) (at int, q float64) {
	z := c.z
	q, at = math.Inf(-1), lo+1
	var xx float64 // Σ|Xi−Xk| over X = z[lo:tau]
	for tau := lo + 1; tau < hi; tau++ {
		for i := lo; i < tau-1; i++ {
			xx += math.Abs(z[i] - z[tau-1])
		}
		n := float64(tau - lo)
		var xy, yy float64
		for kappa := tau + 1; kappa <= hi; kappa++ {
			y := z[kappa-1] // the new Y value
			for i := lo; i < tau; i++ {
				xy += math.Abs(z[i] - y)
			}
			for j := tau; j < kappa-1; j++ {
				yy += math.Abs(z[j] - y)
			}
			m := float64(kappa - tau)
			v := 2 / (n + m) * xy
			if n > 1 {
				v -= 2 * m / ((n + m) * (n - 1)) * xx
			}
			if m > 1 {
				v -= 2 * n / ((n + m) * (m - 1)) * yy
			}
			if v > q {
				q, at = v, tau
			}
		}
	}
	return at, q
}

// stats describes change point i between the segments z[lo:i] and
// z[i:hi] (hi < 0: to the end).
func (c *changes) stats(i, lo, hi int) ChangePoint {
	if hi < 0 {
		hi = len(c.z)
	}
	left, right := c.z[lo:i], c.z[i:hi]
	cp := ChangePoint{Index: i, Before: mean(left), After: mean(right), P: tTest(left, right)}
	if c.log {
		cp.Before, cp.After = math.Exp(cp.Before), math.Exp(cp.After)
	}
	if cp.Before != 0 {
		cp.Change = cp.After/cp.Before - 1
	}
	return cp
}

// magnitude is the larger of the forward and backward relative changes.
func magnitude(cp ChangePoint) float64 {
	m := math.Abs(cp.Change)
	if cp.After != 0 {
		m = math.Max(m, math.Abs(cp.Before/cp.After-1))
	}
	return m
}

// merge is the second pass: while some point has a side shorter than
// minSize, drop the one of those with the largest p; then, while some
// point has p ≥ maxP, drop the one with the largest p; then, while the
// smallest magnitude is not above minMagnitude, drop that one. After each
// drop its neighbours' statistics are recomputed over the segments that
// are now theirs.
func (c *changes) merge(cps []ChangePoint, maxP, minMagnitude float64, minSize int) []ChangePoint {
	for len(cps) > 0 {
		weak, short := 0, -1
		for k, cp := range cps {
			lo, hi := 0, len(c.z)
			if k > 0 {
				lo = cps[k-1].Index
			}
			if k+1 < len(cps) {
				hi = cps[k+1].Index
			}
			if cp.Index-lo < minSize || hi-cp.Index < minSize {
				if short < 0 || cp.P > cps[short].P {
					short = k
				}
			}
			if cp.P > cps[weak].P {
				weak = k
			}
		}
		if short >= 0 {
			weak = short
		} else if cps[weak].P < maxP {
			weak = 0
			for k, cp := range cps {
				if magnitude(cp) < magnitude(cps[weak]) {
					weak = k
				}
			}
			if magnitude(cps[weak]) > minMagnitude {
				return cps
			}
		}
		cps = append(cps[:weak], cps[weak+1:]...)
		idx := make([]int, len(cps))
		for k, cp := range cps {
			idx[k] = cp.Index
		}
		for _, k := range []int{weak - 1, weak} {
			if k >= 0 && k < len(cps) {
				lo, hi := bounds(idx, k)
				cps[k] = c.stats(idx[k], lo, hi)
			}
		}
	}
	return cps
}

// tTest is the two-sided Student t-test (pooled variance) of the means of
// a and b. With no degrees of freedom it returns 1.
func tTest(a, b []float64) float64 {
	n1, n2 := float64(len(a)), float64(len(b))
	df := n1 + n2 - 2
	if len(a) == 0 || len(b) == 0 || df <= 0 {
		return 1
	}
	m1, m2 := mean(a), mean(b)
	ss := sumSq(a, m1) + sumSq(b, m2)
	se := math.Sqrt(ss / df * (1/n1 + 1/n2))
	if se == 0 {
		if m1 == m2 {
			return 1
		}
		return 0
	}
	t := math.Abs(m2-m1) / se
	return 2 * distuv.StudentsT{Mu: 0, Sigma: 1, Nu: df}.Survival(t)
}

// mean returns the mean of s (not empty).
func mean(s []float64) float64 {
	m, _ := stats.Mean(s)
	return m
}

// sumSq is the sum of squared deviations of s from m: the pooled variance
// needs the sums; stats.SampleVariance divides by n−1 and refuses one value.
func sumSq(s []float64, m float64) float64 {
	var v float64
	for _, x := range s {
		v += (x - m) * (x - m)
	}
	return v
}
