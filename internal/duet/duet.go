package duet

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/steadyload/steadyload/internal/gate"
)

// Row is the judgement of one metric of one task, a latency percentile
// or the failure ratio: the candidate (B) against the base (A), from the
// same run's pairs.
type Row struct {
	Task   string      // "GET /orders/{id}", or "Aggregated"
	Metric gate.Metric // p50, p90, p95, p99 or failures
	// N is the number of pairs judged; Seen the number the run made
	// (larger past the cap of pairs kept). For failures both are the
	// starts that ran on both sides.
	N    int
	Seen int64
	// A and B are the percentile of the base and of the candidate, in
	// microseconds, or their failure ratios (fractions); Ratio is B/A
	// for a percentile, Delta B−A for the failure ratio. NaN without
	// data (or when not the row's kind).
	A, B, Ratio, Delta float64
	// Shift is the band's shift B/A, the location of the change around
	// the percentile; Lo and Hi bound it with confidence 1−2·Alpha, Lo
	// being the one-sided bound a regression must clear. For failures, Lo
	// and Hi bound the difference B−A; Shift is NaN.
	Shift, Lo, Hi float64
	// P is the one-sided p-value of "no rise": the bootstrap's for a
	// percentile, the exact binomial test's on the discordant starts for
	// failures.
	P float64
	// Outcomes are the starts' counts behind a failures row.
	Outcomes Outcomes
	// The parameters in force: Tolerance is the latency tolerance, or
	// the failure tolerance (an absolute rise) for failures.
	Tolerance, Alpha float64
	Verdict          gate.Verdict
	// Warnings say why there is no verdict.
	Warnings []string
}

// Compare judges percentile m of the pairs: the candidate's latencies
// (each pair's B) against the base's (A). The point estimate is the ratio
// of the percentiles, B/A. Its evidence is the shift of a band of levels
// at and above the percentile (Levels): the log ratio of each level,
// averaged with weights that are the inverse of their bootstrap variance,
// its uncertainty from a paired bootstrap (Replicates resamples of the
// pairs, each pair kept whole, seeded from the pairs, so the same run
// always gets the same verdict). No level below the percentile is heard:
// a change of the body alone (the median slowed, the percentile not)
// moves those, and must not fail the percentile. There is no run-to-run
// term: both sides ran at the same moments.
//
// The bounds are the shift ± t·s, s the bootstrap's standard deviation
// of the shift and t Student's quantile at 1−Alpha with boundDF degrees
// of freedom: the bootstrap's spread of a tail percentile is itself
// uncertain, and a normal bound (or the bootstrap's own quantiles) fails
// more unchanged runs than Alpha says (docs/gate.md). P is the matching
// one-sided p-value.
//
// The verdict is Regressed (FAIL) when the lower bound is above 1 and the
// percentile's own ratio is above 1+Tolerance; Improved in the mirror
// case; Within when the band moved significantly but the percentile
// stayed within the tolerance; Same otherwise. Fewer than MinRequests
// pairs give no verdict.
func Compare(task string, pairs []Pair, m gate.Metric, c gate.Config) Row {
	return compare(task, pairs, m, c, BlockLen(len(pairs)))
}

// compare is Compare with the bootstrap's blocks of block pairs.
func compare(task string, pairs []Pair, m gate.Metric, c gate.Config, block int) Row {
	c = c.Normalize()
	row := Row{Task: task, Metric: m, N: len(pairs), Seen: int64(len(pairs)), Tolerance: c.Tolerance, Alpha: c.Alpha,
		A: math.NaN(), B: math.NaN(), Ratio: math.NaN(), Delta: math.NaN(), Shift: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
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
	judge(&row, pairs, a, b, q, c, block)
	return row
}

// BlockLen is the length of the bootstrap's blocks of consecutive pairs
// among n: ⌈2·n^⅓⌉, the usual order for estimating a variance, doubled so
// that a block spans a stall of a dozen starts (12 at 200 pairs, 17 at
// 600, 20 at 1 000).
func BlockLen(n int) int {
	return max(1, int(math.Ceil(2*math.Cbrt(float64(n))-1e-9)))
}

// boundDF is the degrees of freedom of the Student's t whose quantile
// sets the band's bounds: the bootstrap's spread of a tail percentile is
// itself uncertain, and the normal's quantile fails more unchanged runs
// than Alpha says. Calibrated by the simulation (docs/gate.md).
const boundDF = 6

// levelOffsets are the band's levels, as offsets of normal scores from
// the percentile's: for p95, p95, p97 and p98.
var levelOffsets = []float64{0, 0.2, 0.35}

// Levels returns the band's levels for percentile q among n pairs, in
// increasing order: q itself, and each higher level with at least 5
// pairs above it.
func Levels(q float64, n int) []float64 {
	zq := distuv.UnitNormal.Quantile(q)
	ps := []float64{q}
	for _, d := range levelOffsets[1:] {
		p := distuv.UnitNormal.CDF(zq + d)
		if (1-p)*float64(n) < 5 || p >= 1 {
			continue
		}
		ps = append(ps, p)
	}
	return ps
}

// judge fills in row's band, bounds, p-value and verdict from the n
// pairs, a and b their sides, bootstrapped in blocks of block pairs.
func judge(row *Row, pairs []Pair, a, b []float64, q float64, c gate.Config, block int) {
	n := len(pairs)
	levels := Levels(q, n)
	ks := make([]int, len(levels))
	for j, p := range levels {
		ks[j] = rank(n, p)
	}
	ia, ib := byValue(a), byValue(b)
	pt := make([]float64, len(ks))
	for j, k := range ks {
		pt[j] = logRatio(b[ib[k-1]], a[ia[k-1]])
	}

	// The paired bootstrap: each replicate resamples the pairs whole, so
	// what moved both sides of a pair moves both sides of the replicate,
	// in blocks of consecutive pairs (a circular moving-block bootstrap):
	// a stall of the machine or of one target delays several starts in
	// a row, and pairs drawn one by one would count those as independent
	// evidence. A replicate is a count of draws per pair; its order
	// statistics are read off each side's sorted order.
	rng := rand.New(rand.NewPCG(seed(q, pairs)))
	reps := make([][]float64, c.Replicates)
	cnt := make([]int32, n)
	oa, ob := make([]float64, len(ks)), make([]float64, len(ks))
	for i := range reps {
		clear(cnt)
		for drawn := 0; drawn < n; {
			start := rng.IntN(n)
			for k := 0; k < block && drawn < n; k++ {
				cnt[(start+k)%n]++
				drawn++
			}
		}
		orderStats(a, ia, cnt, ks, oa)
		orderStats(b, ib, cnt, ks, ob)
		d := make([]float64, len(ks))
		for j := range ks {
			d[j] = logRatio(ob[j], oa[j])
		}
		reps[i] = d
	}
	w := weights(reps, len(ks))
	shift := make([]float64, len(reps))
	for i, d := range reps {
		for j := range d {
			shift[i] += w[j] * d[j]
		}
	}
	var spt float64
	for j := range pt {
		spt += w[j] * pt[j]
	}
	row.Shift = math.Exp(spt)
	sd, _ := stats.StandardDeviationSample(shift)
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: boundDF}
	lo, hi := spt-t.Quantile(1-c.Alpha)*sd, spt+t.Quantile(1-c.Alpha)*sd
	row.Lo, row.Hi = math.Exp(lo), math.Exp(hi)
	switch {
	case sd > 0:
		row.P = t.Survival(spt / sd)
	case spt > 0:
		row.P = 0
	default:
		row.P = 1
	}
	own, logTol := pt[0], math.Log1p(c.Tolerance) // levels[0] is q
	switch {
	case lo > 0 && own > logTol:
		row.Verdict = gate.Regressed
	case hi < 0 && own < -logTol:
		row.Verdict = gate.Improved
	case lo > 0 || hi < 0:
		row.Verdict = gate.Within
	default:
		row.Verdict = gate.Same
	}
}

// byValue returns the indices of xs in increasing order of value.
func byValue(xs []float64) []int {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(i, j int) int { return cmp.Compare(xs[i], xs[j]) })
	return idx
}

// orderStats sets out[j] to the ks[j]-th smallest value (from 1) of the
// resample that draws pair i cnt[i] times, xs in the order idx; ks
// increasing. It walks down from the largest value.
func orderStats(xs []float64, idx []int, cnt []int32, ks []int, out []float64) {
	n := len(xs)
	j := len(ks) - 1
	cum := 0
	for i := n - 1; i >= 0 && j >= 0; i-- {
		cum += int(cnt[idx[i]])
		for j >= 0 && cum >= n-ks[j]+1 {
			out[j] = xs[idx[i]]
			j--
		}
	}
}

// rank is the nearest rank of level p among n values, from 1.
func rank(n int, p float64) int {
	return min(max(int(math.Ceil(float64(n)*p)), 1), n)
}

// logRatio is ln(b/a), with latencies floored at a microsecond.
func logRatio(b, a float64) float64 { return math.Log(max(b, 1)) - math.Log(max(a, 1)) }

// weights are the band's levels' weights, the inverse of each level's
// bootstrap variance, normalized; a level whose shift never varies
// (identical sides) leaves the percentile's own level (the first) alone.
func weights(reps [][]float64, m int) []float64 {
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
			w[0] = 1
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
