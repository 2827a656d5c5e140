package gate

import (
	"math"
	"math/rand/v2"
	"sort"

	"gonum.org/v1/gonum/stat/distuv"
)

// A slowdown of the target rarely moves one percentile alone: it moves
// the whole distribution. The whole-distribution estimate of the shift at
// quantile q fits a location-scale shift of log latency,
//
//	ln Qcur(p) − ln Qbase(p) = a + b·(ln Qbase(p) − ln Qbase(q)),
//
// over a band of levels p around q (shiftOffsets, in normal scores), by
// weighted least squares. a is the shift at q itself: the scale term b
// absorbs a change confined to the lower levels (a median-only change
// predicts no shift at q) while the band's many order statistics pin a
// down better than q's alone. Its uncertainty is the same exact
// order-statistic bootstrap, drawn jointly for all levels.

// shiftOffsets are the levels of the band, as offsets of normal scores
// from z_q: for p95 about p52, p67, p80, p87, p92, p95, p97, p98.
var shiftOffsets = []float64{-0.8, -0.5, -0.25, 0, 0.2, 0.35}

// minTail is the fewest requests at or above a level of the band in the
// smallest sample: a level higher than that is too noisy to help.
const minTail = 5

// ShapeAlpha is the level of the test of the band's shape: a shift that
// changes significantly along the band is not uniform.
const ShapeAlpha = 0.05

// BandLevels returns the band's levels for quantile q given the smallest
// sample size n, in increasing order; q itself is always among them.
func BandLevels(q float64, n int64) []float64 {
	zq0 := zq(q)
	var ps []float64
	for _, d := range shiftOffsets {
		p := distuv.UnitNormal.CDF(zq0 + d)
		if d == 0 {
			p = q
		}
		if d > 0 && (1-p)*float64(n) < minTail || p <= 0.01 || p >= 1 {
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

// jointRanks draws, for one bootstrap resample of the n values behind r,
// the ranks (in the original sample) of its order statistics ks
// (increasing), into out: the k-th order statistic of a resample is
// x[ceil(n·U(k))] with U(k) the order statistics of n uniforms, drawn
// jointly from the top down: U(km) ~ Beta(km, n−km+1), then
// U(kj) = U(kj+1)·Beta(kj, kj+1−kj).
func jointRanks(rng *rand.Rand, n int64, ks []int64, out []int64) {
	u := 1.0
	next := n + 1
	for j := len(ks) - 1; j >= 0; j-- {
		k := ks[j]
		if k < next {
			u *= distuv.Beta{Alpha: float64(k), Beta: float64(next - k), Src: rng}.Rand()
		}
		next = k
		out[j] = ceilRank(n, u)
	}
}

// shiftFit returns the weighted least-squares fit d = a + b·x as linear
// combinations of d: a = Σ loc[j]·d[j] is the location alone (b = 0, the
// weighted mean), b = Σ slope[j]·d[j] the slope of the full fit.
func shiftFit(x, w []float64) (loc, slope []float64) {
	var s, sx, sxx float64
	for j := range x {
		s += w[j]
		sx += w[j] * x[j]
		sxx += w[j] * x[j] * x[j]
	}
	det := s*sxx - sx*sx
	loc, slope = make([]float64, len(x)), make([]float64, len(x))
	for j := range x {
		loc[j] = w[j] / s
		if det > 0 {
			slope[j] = w[j] * (s*x[j] - sx) / det
		}
	}
	return loc, slope
}

// shiftReps holds the bootstrap of the band: per replicate, the log shift
// at each level.
type shiftBand struct {
	levels []float64
	at     int         // index of q among levels
	pt     []float64   // point log shifts per level
	x      []float64   // ln Qbase(p) − ln Qbase(q)
	reps   [][]float64 // [replicate][level]
}

// bootBand bootstraps the log shifts of the band's levels, jointly for
// both samples.
func bootBand(rng *rand.Rand, q float64, rb, rc ranks, minN int64, replicates int) shiftBand {
	b := shiftBand{levels: BandLevels(q, minN)}
	m := len(b.levels)
	kb, kc := make([]int64, m), make([]int64, m)
	for j, p := range b.levels {
		kb[j], kc[j] = percentileRank(p, rb.n), percentileRank(p, rc.n)
		if p == q {
			b.at = j
		}
	}
	lnq := math.Log(float64(rb.at(kb[b.at])))
	b.pt, b.x = make([]float64, m), make([]float64, m)
	for j := range b.levels {
		lb := math.Log(float64(rb.at(kb[j])))
		b.pt[j] = math.Log(float64(rc.at(kc[j]))) - lb
		b.x[j] = lb - lnq
	}
	ob, oc := make([]int64, m), make([]int64, m)
	b.reps = make([][]float64, replicates)
	for i := range b.reps {
		jointRanks(rng, rb.n, kb, ob)
		jointRanks(rng, rc.n, kc, oc)
		row := make([]float64, m)
		for j := range row {
			row[j] = math.Log(float64(rc.at(oc[j]))) - math.Log(float64(rb.at(ob[j])))
		}
		b.reps[i] = row
	}
	return b
}

// fit returns the whole-distribution estimate of the log shift at q (the
// band's location), its bootstrap replicates, and the replicates of the
// slope of the shift along the band; each level is weighted by its
// inverse bootstrap variance.
func (b shiftBand) fit() (pt float64, loc, slope []float64) {
	m := len(b.levels)
	w := make([]float64, m)
	col := make([]float64, len(b.reps))
	for j := range w {
		for i, r := range b.reps {
			col[i] = r[j]
		}
		sd := stddev(col)
		w[j] = 1 / max(sd*sd, 1e-6)
	}
	cl, cs := shiftFit(b.x, w)
	dot := func(c, d []float64) float64 {
		s := 0.0
		for j := range d {
			s += c[j] * d[j]
		}
		return s
	}
	loc, slope = make([]float64, len(b.reps)), make([]float64, len(b.reps))
	for i, r := range b.reps {
		loc[i], slope[i] = dot(cl, r), dot(cs, r)
	}
	return dot(cl, b.pt), loc, slope
}

// decideShift fills in the comparison of a percentile from two estimates
// of its log shift: pt and own, the percentile's own point estimate and
// bootstrap replicates, and shiftPt and shift, the band's location and
// its replicates (both with the run-to-run term), slope the replicates of
// the shift's slope along the band, noise the run-to-run term's standard
// deviation. The interval, p-value and MDE shown
// are the band's. A regression needs a significant rise of the band (or
// of the percentile's own order statistic) and the percentile's own point
// estimate above the tolerance; when the shift is significantly not
// uniform along the band (a change of the body alone, or of the tail
// alone), only the percentile's own order statistic counts.
func decideShift(cmp *Comparison, pt float64, own []float64, shiftPt float64, shift, slope []float64, noise, logTol float64, c Config) {
	sort.Float64s(own)
	ownLo, ownHi := quantile(own, c.Alpha), quantile(own, 1-c.Alpha)
	decide(cmp, pt, shift, noise, logTol, c)
	lo, hi := math.Log1p(cmp.Lo), math.Log1p(cmp.Hi)
	sort.Float64s(slope)
	if quantile(slope, 1-ShapeAlpha) < 0 || quantile(slope, ShapeAlpha) > 0 {
		lo, hi = ownLo, ownHi
	}
	_ = shiftPt
	switch {
	case (lo > 0 || ownLo > 0) && pt > logTol:
		cmp.Verdict = Regressed
	case (hi < 0 || ownHi < 0) && pt < -logTol:
		cmp.Verdict = Improved
	case lo > 0 || hi < 0:
		cmp.Verdict = Within
	default:
		cmp.Verdict = Same
	}
}
