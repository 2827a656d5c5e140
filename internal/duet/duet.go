package duet

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/steadyload/steadyload/internal/gate"
)

// Row is the judgement of one latency percentile of one task: the
// candidate (B) against the base (A), from the same run's pairs.
type Row struct {
	Task   string      // "GET /orders/{id}", or "Aggregated"
	Metric gate.Metric // p50, p90, p95 or p99
	// N is the number of pairs judged; Seen the number the run made
	// (larger past the cap of pairs kept).
	N    int
	Seen int64
	// A and B are the percentile of the base and of the candidate, in
	// microseconds; Ratio is B/A. NaN without pairs.
	A, B, Ratio float64
	// Shift is the band's shift B/A, the location of the change around
	// the percentile; Lo and Hi bound it with confidence 1−2·Alpha, Lo
	// being the one-sided bound a regression must clear.
	Shift, Lo, Hi float64
	// P is the one-sided bootstrap p-value of "no rise".
	P float64
	// The parameters in force.
	Tolerance, Alpha float64
	Verdict          gate.Verdict
	// Warnings say why there is no verdict.
	Warnings []string
}

// Compare judges percentile m of the pairs: the candidate's latencies
// (each pair's B) against the base's (A). The point estimate is the ratio
// of the percentiles, B/A. Its evidence is the shift of a band of levels
// around the percentile (gate.BandLevels): the log ratio of each level,
// averaged with weights that are the inverse of their bootstrap variance,
// its uncertainty from a paired bootstrap (Replicates resamples of the
// pairs, each pair kept whole, seeded from the pairs, so the same run
// always gets the same verdict). There is no run-to-run term: both sides
// ran at the same moments.
//
// The verdict is Regressed (FAIL) when the band's one-sided lower bound
// at Alpha is above 1 and the percentile's own ratio is above
// 1+Tolerance; Improved in the mirror case; Within when the band moved
// significantly but the percentile stayed within the tolerance; Same
// otherwise. Fewer than MinRequests pairs give no verdict.
func Compare(task string, pairs []Pair, m gate.Metric, c gate.Config) Row {
	c = c.Normalize()
	row := Row{Task: task, Metric: m, N: len(pairs), Seen: int64(len(pairs)), Tolerance: c.Tolerance, Alpha: c.Alpha,
		A: math.NaN(), B: math.NaN(), Ratio: math.NaN(), Shift: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	q, ok := m.Quantile()
	if !ok {
		row.Warnings = append(row.Warnings, fmt.Sprintf("%s is not a latency percentile", m))
		return row
	}
	n := len(pairs)
	if n == 0 {
		row.Warnings = append(row.Warnings, "no pair of successful requests")
		return row
	}
	a, b := make([]float64, n), make([]float64, n)
	for i, p := range pairs {
		a[i], b[i] = p.A, p.B
	}
	row.A, _ = stats.PercentileNearestRank(a, 100*q)
	row.B, _ = stats.PercentileNearestRank(b, 100*q)
	row.Ratio = row.B / row.A
	if n < c.MinRequests {
		row.Warnings = append(row.Warnings, fmt.Sprintf("too few pairs for a verdict: %d; need %d", n, c.MinRequests))
		return row
	}

	levels := gate.BandLevels(q, int64(n)) // the gate's band (docs/gate.md)
	ks := make([]int, len(levels))
	at := 0
	for j, p := range levels {
		ks[j] = rank(n, p)
		if p == q {
			at = j
		}
	}
	slices.Sort(a)
	slices.Sort(b)
	pt := make([]float64, len(ks))
	for j, k := range ks {
		pt[j] = logRatio(b[k-1], a[k-1])
	}

	// The paired bootstrap: each replicate resamples the pairs whole, so
	// what moved both sides of a pair moves both sides of the replicate.
	rng := rand.New(rand.NewPCG(seed(q, pairs)))
	reps := make([][]float64, c.Replicates)
	ra, rb := make([]float64, n), make([]float64, n)
	for i := range reps {
		for j := range n {
			p := pairs[rng.IntN(n)]
			ra[j], rb[j] = p.A, p.B
		}
		slices.Sort(ra)
		slices.Sort(rb)
		d := make([]float64, len(ks))
		for j, k := range ks {
			d[j] = logRatio(rb[k-1], ra[k-1])
		}
		reps[i] = d
	}
	w := weights(reps, len(ks), at)
	x := make([]float64, len(levels))
	for j, p := range levels {
		x[j] = distuv.UnitNormal.Quantile(p)
	}
	slope := slopeOf(x, w)
	shift, own, tilt := make([]float64, len(reps)), make([]float64, len(reps)), make([]float64, len(reps))
	for i, d := range reps {
		for j := range d {
			shift[i] += w[j] * d[j]
			tilt[i] += slope[j] * d[j]
		}
		own[i] = d[at]
	}
	var spt float64
	for j := range pt {
		spt += w[j] * pt[j]
	}
	row.Shift = math.Exp(spt)
	// The band speaks only for a shift uniform along it: one that falls
	// significantly from the body to the tail is a change of the body,
	// and the percentile's own order statistic alone judges it.
	slices.Sort(tilt)
	if quantile(tilt, 1-gate.ShapeAlpha) < 0 {
		shift = own
		row.Warnings = append(row.Warnings, "the shift falls from the body to the tail: judged on the percentile alone")
	}
	slices.Sort(shift)
	lo, hi := quantile(shift, c.Alpha), quantile(shift, 1-c.Alpha)
	row.Lo, row.Hi = math.Exp(lo), math.Exp(hi)
	below, _ := slices.BinarySearch(shift, math.Nextafter(0, 1))
	row.P = float64(below) / float64(len(shift))
	logTol := math.Log1p(c.Tolerance)
	switch {
	case lo > 0 && pt[at] > logTol:
		row.Verdict = gate.Regressed
	case hi < 0 && pt[at] < -logTol:
		row.Verdict = gate.Improved
	case lo > 0 || hi < 0:
		row.Verdict = gate.Within
	default:
		row.Verdict = gate.Same
	}
	return row
}

// slopeOf returns the weighted least-squares slope of d against x as a
// linear combination of d: slope = Σ out[j]·d[j].
func slopeOf(x, w []float64) []float64 {
	var mx float64
	for j := range x {
		mx += w[j] * x[j]
	}
	var sxx float64
	for j := range x {
		sxx += w[j] * (x[j] - mx) * (x[j] - mx)
	}
	out := make([]float64, len(x))
	if sxx == 0 {
		return out
	}
	for j := range x {
		out[j] = w[j] * (x[j] - mx) / sxx
	}
	return out
}

// rank is the nearest rank of level p among n values, from 1.
func rank(n int, p float64) int {
	return min(max(int(math.Ceil(float64(n)*p)), 1), n)
}

// logRatio is ln(b/a), with latencies floored at a microsecond.
func logRatio(b, a float64) float64 { return math.Log(max(b, 1)) - math.Log(max(a, 1)) }

// weights are the band's levels' weights, the inverse of each level's
// bootstrap variance, normalized; a level whose shift never varies
// (identical sides) leaves the percentile's own level alone.
func weights(reps [][]float64, m, at int) []float64 {
	w := make([]float64, m)
	col := make([]float64, len(reps))
	var sum float64
	for j := range m {
		for i := range reps {
			col[i] = reps[i][j]
		}
		v, _ := stats.Variance(col)
		if v <= 0 || math.IsNaN(v) {
			w = make([]float64, m)
			w[at] = 1
			return w
		}
		w[j] = 1 / v
		sum += w[j]
	}
	for j := range w {
		w[j] /= sum
	}
	return w
}

// quantile is the p-quantile of sorted xs, nearest rank.
func quantile(xs []float64, p float64) float64 { return xs[rank(len(xs), p)-1] }

// seed derives the bootstrap's seed from q and the pairs.
func seed(q float64, pairs []Pair) (uint64, uint64) {
	h := fnv.New64a()
	var buf [8]byte
	put := func(x float64) {
		u := math.Float64bits(x)
		for i := range buf {
			buf[i] = byte(u >> (8 * i))
		}
		h.Write(buf[:])
	}
	put(q)
	for _, p := range pairs {
		put(p.A)
		put(p.B)
	}
	s := h.Sum64()
	return s, s ^ 0x9e3779b97f4a7c15
}
