package gate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"sort"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"
)

// A Metric is what a comparison is about: a latency percentile of the
// successful requests, the failure ratio, or the achieved request rate.
type Metric string

// The metrics the gate knows.
const (
	P50      Metric = "p50"
	P90      Metric = "p90"
	P95      Metric = "p95"
	P99      Metric = "p99"
	Failures Metric = "failures" // failure ratio, compared as a difference
	Rate     Metric = "rate"     // achieved requests per second (open model)
)

// DefaultMetrics are gated when a scenario names none: p95, the failure
// ratio, and (in the open model only) the achieved rate.
var DefaultMetrics = []Metric{P95, Failures, Rate}

// ParseMetric parses a metric name: p50, p90, p95, p99, failures or rate.
func ParseMetric(s string) (Metric, error) {
	switch m := Metric(strings.ToLower(strings.TrimSpace(s))); m {
	case P50, P90, P95, P99, Failures, Rate:
		return m, nil
	}
	return "", fmt.Errorf("unknown metric %q (want p50, p90, p95, p99, failures or rate)", s)
}

// Quantile returns the metric's probability level (0.95 for p95) and
// whether it is a latency percentile at all.
func (m Metric) Quantile() (float64, bool) {
	switch m {
	case P50:
		return 0.50, true
	case P90:
		return 0.90, true
	case P95:
		return 0.95, true
	case P99:
		return 0.99, true
	}
	return 0, false
}

// Defaults of Config, used for its zero fields.
const (
	DefaultTolerance        = 0.10 // latency +10 %, rate −10 %
	DefaultFailureTolerance = 0.01 // failure ratio +1 percentage point
	DefaultAlpha            = 0.01 // one-sided
	DefaultTau              = 0.05 // run-to-run noise of ln(quantile) until calibrated
	DefaultTarget           = 0.20 // the regression that must be detectable
	DefaultMinRequests      = 200  // per run: below this, no verdict
	DefaultReplicates       = 2000 // bootstrap replicates
)

// MinTau is the smallest run-to-run noise the gate assumes, whatever a
// calibration says: no two runs are ever exactly alike.
const MinTau = 0.01

// Config holds the parameters of a comparison. Its zero fields take the
// defaults above.
type Config struct {
	// Tolerance is the practical effect below which a significant change is
	// not a regression: a latency ratio above 1+Tolerance, a rate ratio
	// below 1−Tolerance.
	Tolerance float64
	// FailureTolerance is the same for the failure ratio, as an absolute
	// rise (0.01 = one percentage point).
	FailureTolerance float64
	// Alpha is the one-sided significance level; the confidence intervals
	// reported are two-sided at 1−2·Alpha.
	Alpha float64
	// Tau is the standard deviation of ln(quantile) between runs of an
	// unchanged system beyond what sampling explains (see CalibrateTau).
	// It is never taken below MinTau.
	Tau float64
	// Target is the regression the run should be able to detect; a larger
	// minimum detectable regression earns an "under-powered" warning.
	Target float64
	// MinRequests is the fewest requests per run (current and each
	// baseline run) for any verdict.
	MinRequests int
	// Replicates is the number of bootstrap replicates.
	Replicates int

	// EstimateTau, when set, estimates τ from the baseline runs
	// themselves (BaselineTau), shrunk toward Tau: for when the history is
	// too short to calibrate τ.
	EstimateTau bool

	// Band also judges a percentile by the shift of a band of levels
	// around it (see decideShift), which sees a uniform slowdown with far
	// fewer requests. Off by default: a strong change of the body alone
	// (p50 ×1.6 ramping down to p95) can still fail p95 through it.
	Band bool
}

// DefaultConfig is the configuration the zero Config stands for.
var DefaultConfig = Config{
	Tolerance: DefaultTolerance, FailureTolerance: DefaultFailureTolerance,
	Alpha: DefaultAlpha, Tau: DefaultTau, Target: DefaultTarget,
	MinRequests: DefaultMinRequests, Replicates: DefaultReplicates,
}

// Normalize returns c with its zero fields set to the defaults.
func (c Config) Normalize() Config {
	d := DefaultConfig
	if c.Tolerance == 0 {
		c.Tolerance = d.Tolerance
	}
	if c.FailureTolerance == 0 {
		c.FailureTolerance = d.FailureTolerance
	}
	if c.Alpha == 0 {
		c.Alpha = d.Alpha
	}
	if c.Tau == 0 {
		c.Tau = d.Tau
	}
	if c.Tau < MinTau && c.Tau >= 0 {
		c.Tau = MinTau
	}
	if c.Target == 0 {
		c.Target = d.Target
	}
	if c.MinRequests == 0 {
		c.MinRequests = d.MinRequests
	}
	if c.Replicates == 0 {
		c.Replicates = d.Replicates
	}
	return c
}

// Validate reports every field of c that is out of range.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	fin := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
	check(fin(c.Tolerance) && c.Tolerance >= 0 && c.Tolerance < 1, "tolerance %g: want a fraction in [0, 1), e.g. 0.10 for 10%%", c.Tolerance)
	check(fin(c.FailureTolerance) && c.FailureTolerance >= 0 && c.FailureTolerance < 1, "failure tolerance %g: want a fraction in [0, 1), e.g. 0.01 for one point", c.FailureTolerance)
	check(fin(c.Alpha) && c.Alpha >= 0 && c.Alpha < 0.5, "alpha %g: want a level in (0, 0.5), e.g. 0.01", c.Alpha)
	check(fin(c.Tau) && c.Tau >= 0 && c.Tau < 1, "tau %g: want a standard deviation of ln(quantile) in [0, 1), e.g. 0.05", c.Tau)
	check(fin(c.Target) && c.Target >= 0, "target %g: want a positive fraction, e.g. 0.20", c.Target)
	check(c.MinRequests >= 0, "min requests %d is negative", c.MinRequests)
	check(c.Replicates >= 0, "replicates %d is negative", c.Replicates)
	return errors.Join(errs...)
}

// Verdict is the outcome of one comparison.
type Verdict int

// The verdicts, from "cannot tell" to "regressed".
const (
	NoVerdict Verdict = iota // too little data to decide
	Same                     // no significant change: "~"
	Within                   // significant, but within the tolerance
	Improved                 // significantly better, beyond the tolerance
	Regressed                // significantly worse, beyond the tolerance
)

// String returns the verdict as shown in tables.
func (v Verdict) String() string {
	switch v {
	case Same:
		return "~"
	case Within:
		return "ok"
	case Improved:
		return "better"
	case Regressed:
		return "FAIL"
	}
	return "no verdict"
}

// Comparison is the outcome of comparing one metric of a run with its
// baseline, with the evidence beside the verdict.
type Comparison struct {
	Metric Metric
	// Base and Cur are the baseline's value (of the K runs merged) and
	// this run's: microseconds for latencies, a fraction for failures,
	// requests per second for the rate. NaN when there is no value.
	Base, Cur float64
	// NBase and NCur are the sample sizes: successful requests for
	// latencies, requests otherwise. K is the number of baseline runs.
	NBase, NCur int64
	K           int
	// Delta is the change: Cur/Base−1 for latencies and the rate, Cur−Base
	// for failures. Lo and Hi bound it with confidence 1−2·Alpha; Lo is also
	// the one-sided bound used for a rise, Hi for a drop.
	Delta, Lo, Hi float64
	// P is the one-sided p-value in the direction of a regression.
	P float64
	// MDE is the smallest regression (in Delta's units) the comparison
	// would detect with 95 % power; 0 when not computed.
	MDE float64
	// The parameters in force.
	Tolerance, Alpha, Tau float64
	// TauSource says where Tau came from when the comparison estimated it
	// from the baseline runs (Config.EstimateTau); empty otherwise.
	TauSource string
	Verdict   Verdict
	// Warnings say why there is no verdict, or why it is weak.
	Warnings []string
}

// Compare compares a latency percentile of cur with the merge of the
// baseline runs base: rule "e5" of the project's design notes. The point
// estimate is the ratio of the histograms' percentiles; its uncertainty an
// exact order-statistic bootstrap of both histograms (one Beta draw per
// replicate and histogram) plus a run-to-run term Tau·sqrt(1+1/K)·N(0,1)
// on the log scale. The verdict is Regressed when the one-sided lower
// bound of the ratio is above 1 at level Alpha and the ratio is above
// 1+Tolerance. The bootstrap is seeded from the histograms' contents, so
// the same pair of runs always gets the same verdict. m must be a latency
// metric; base may not hold nil histograms.
func Compare(base []*hdrhistogram.Histogram, cur *hdrhistogram.Histogram, m Metric, c Config) Comparison {
	c = c.Normalize()
	q, ok := m.Quantile()
	cmp := Comparison{Metric: m, K: len(base), Tolerance: c.Tolerance, Alpha: c.Alpha, Tau: c.Tau,
		Base: math.NaN(), Cur: math.NaN(), Delta: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	if !ok {
		cmp.Warnings = append(cmp.Warnings, fmt.Sprintf("%s is not a latency percentile", m))
		return cmp
	}
	rb, minRun := newRanks(base...), int64(math.MaxInt64)
	for _, h := range base {
		minRun = min(minRun, h.TotalCount())
	}
	rc := newRanks(cur)
	cmp.NBase, cmp.NCur = rb.n, rc.n
	kb, kc := percentileRank(q, rb.n), percentileRank(q, rc.n)
	if rb.n > 0 {
		cmp.Base = float64(rb.at(kb))
	}
	if rc.n > 0 {
		cmp.Cur = float64(rc.at(kc))
	}
	switch {
	case len(base) == 0 || rb.n == 0:
		cmp.Warnings = append(cmp.Warnings, "the baseline has no successful requests")
		return cmp
	case rc.n == 0:
		cmp.Verdict = Regressed
		cmp.Warnings = append(cmp.Warnings, "no successful requests in this run: no data is never a pass")
		return cmp
	case rc.n < int64(c.MinRequests) || minRun < int64(c.MinRequests):
		cmp.Warnings = append(cmp.Warnings, fmt.Sprintf("too few requests for a verdict: %d in this run, %d in the smallest baseline run; need %d per run", rc.n, minRun, c.MinRequests))
		return cmp
	}
	pt := math.Log(cmp.Cur) - math.Log(cmp.Base)
	if c.EstimateTau {
		prior := c.Tau
		var ok bool
		if c.Tau, ok = BaselineTau(base, q, prior, c); ok {
			cmp.TauSource = fmt.Sprintf("baseline, %d runs, shrunk toward %s", len(base), pct(prior))
		}
		cmp.Tau = c.Tau
	}

	rng := rand.New(rand.NewPCG(seed(q, rb, rc)))
	noise := c.Tau * math.Sqrt(1+1/float64(len(base)))
	if !c.Band {
		betaB := distuv.Beta{Alpha: float64(kb), Beta: float64(rb.n - kb + 1), Src: rng}
		betaC := distuv.Beta{Alpha: float64(kc), Beta: float64(rc.n - kc + 1), Src: rng}
		reps := make([]float64, c.Replicates)
		for i := range reps {
			vb, vc := betaB.Rand(), betaC.Rand()
			reps[i] = math.Log(float64(rc.at(ceilRank(rc.n, vc)))) - math.Log(float64(rb.at(ceilRank(rb.n, vb)))) + noise*rng.NormFloat64()
		}
		decide(&cmp, pt, reps, noise, math.Log1p(c.Tolerance), c)
		return cmp
	}
	band := bootBand(rng, q, rb, rc, min(minRun, rc.n), c.Replicates)
	own := make([]float64, c.Replicates)
	shiftPt, shift, slope := band.fit()
	for i := range own {
		e := noise * rng.NormFloat64() // one run-to-run offset moves every level alike
		own[i] = band.reps[i][band.at] + e
		shift[i] += e
	}
	decideShift(&cmp, pt, own, shiftPt, shift, slope, noise, math.Log1p(c.Tolerance), c)
	return cmp
}

// decide fills in the interval, p-value, MDE and verdict of a log-ratio
// comparison (higher is worse) from its bootstrap replicates, which carry
// a run-to-run term of standard deviation noise.
func decide(cmp *Comparison, pt float64, reps []float64, noise, logTol float64, c Config) {
	sort.Float64s(reps)
	lo, hi := quantile(reps, c.Alpha), quantile(reps, 1-c.Alpha)
	below := sort.SearchFloat64s(reps, math.Nextafter(0, 1)) // replicates <= 0
	cmp.P = float64(below) / float64(len(reps))
	cmp.Delta, cmp.Lo, cmp.Hi = math.Expm1(pt), math.Expm1(lo), math.Expm1(hi)
	se := stddev(reps)
	cmp.MDE = math.Expm1((zq(1-c.Alpha) + zq(0.95)) * se)
	switch {
	case lo > 0 && pt > logTol:
		cmp.Verdict = Regressed
	case hi < 0 && pt < -logTol:
		cmp.Verdict = Improved
	case lo > 0 || hi < 0:
		cmp.Verdict = Within
	default:
		cmp.Verdict = Same
	}
	// "Run longer" helps only the sampling part of the MDE: the run-to-run
	// term does not shrink with more requests, so it alone never warns
	// (with τ at 5 % it would put every row above +20 %).
	if sampled := math.Expm1((zq(1-c.Alpha) + zq(0.95)) * math.Sqrt(max(0, se*se-noise*noise))); sampled > c.Target {
		cmp.Warnings = append(cmp.Warnings, fmt.Sprintf("under-powered: the requests of this run and its baseline can only detect ≥ +%.0f%% on %s (want +%.0f%%); run longer or raise the rate", 100*sampled, cmp.Metric, 100*c.Target))
	}
}

// CompareFailures compares the failure ratio of a run (curFail of curReq
// requests) with its baseline's (baseFail of baseReq, the K runs summed).
// Each ratio is drawn from its Jeffreys posterior, Beta(f+½, n−f+½); the
// verdict is Regressed when the one-sided lower bound of the rise is above
// zero at level Alpha and the rise is above FailureTolerance.
func CompareFailures(baseFail, baseReq, curFail, curReq int64, k int, c Config) Comparison {
	c = c.Normalize()
	cmp := Comparison{Metric: Failures, K: k, NBase: baseReq, NCur: curReq, Tolerance: c.FailureTolerance, Alpha: c.Alpha,
		Base: math.NaN(), Cur: math.NaN(), Delta: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	if baseReq > 0 {
		cmp.Base = float64(baseFail) / float64(baseReq)
	}
	if curReq > 0 {
		cmp.Cur = float64(curFail) / float64(curReq)
	}
	perRun := baseReq
	if k > 0 {
		perRun = baseReq / int64(k)
	}
	switch {
	case baseFail < 0 || curFail < 0 || baseFail > baseReq || curFail > curReq:
		cmp.Warnings = append(cmp.Warnings, "inconsistent counts: more failures than requests")
		return cmp
	case curReq < int64(c.MinRequests) || perRun < int64(c.MinRequests):
		cmp.Warnings = append(cmp.Warnings, fmt.Sprintf("too few requests for a verdict: %d in this run, %d per baseline run; need %d per run", curReq, perRun, c.MinRequests))
		return cmp
	}
	var h [4]uint64
	for i, v := range []int64{baseFail, baseReq, curFail, curReq} {
		h[i] = uint64(v)
	}
	rng := rand.New(rand.NewPCG(hashWords(h[:]...), 0x6661696c75726573))
	bb := distuv.Beta{Alpha: float64(baseFail) + 0.5, Beta: float64(baseReq-baseFail) + 0.5, Src: rng}
	bc := distuv.Beta{Alpha: float64(curFail) + 0.5, Beta: float64(curReq-curFail) + 0.5, Src: rng}
	reps := make([]float64, c.Replicates)
	for i := range reps {
		reps[i] = bc.Rand() - bb.Rand()
	}
	sort.Float64s(reps)
	pt := cmp.Cur - cmp.Base
	lo, hi := quantile(reps, c.Alpha), quantile(reps, 1-c.Alpha)
	cmp.Delta, cmp.Lo, cmp.Hi = pt, lo, hi
	cmp.P = float64(sort.SearchFloat64s(reps, math.Nextafter(0, 1))) / float64(len(reps))
	cmp.MDE = (zq(1-c.Alpha) + zq(0.95)) * stddev(reps)
	switch {
	case lo > 0 && pt > c.FailureTolerance:
		cmp.Verdict = Regressed
	case hi < 0 && pt < -c.FailureTolerance:
		cmp.Verdict = Improved
	case lo > 0 || hi < 0:
		cmp.Verdict = Within
	default:
		cmp.Verdict = Same
	}
	return cmp
}

// CompareRate compares the achieved request rate of an open-model run
// (curReq requests in curSecs seconds) with its baseline's (the K runs
// summed). Counts are taken as Poisson, which is conservative for a paced
// load. The verdict is Regressed when the one-sided upper bound of the rate
// ratio is below 1 at level Alpha and the ratio is below 1−Tolerance: the
// target (or the generator) could not keep up.
func CompareRate(baseReq int64, baseSecs float64, curReq int64, curSecs float64, k int, c Config) Comparison {
	c = c.Normalize()
	cmp := Comparison{Metric: Rate, K: k, NBase: baseReq, NCur: curReq, Tolerance: c.Tolerance, Alpha: c.Alpha,
		Base: math.NaN(), Cur: math.NaN(), Delta: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	if baseSecs > 0 {
		cmp.Base = float64(baseReq) / baseSecs
	}
	if curSecs > 0 {
		cmp.Cur = float64(curReq) / curSecs
	}
	perRun := baseReq
	if k > 0 {
		perRun = baseReq / int64(k)
	}
	switch {
	case !(baseSecs > 0) || !(curSecs > 0):
		cmp.Warnings = append(cmp.Warnings, "no elapsed time to compute a rate from")
		return cmp
	case curReq < int64(c.MinRequests) || perRun < int64(c.MinRequests):
		cmp.Warnings = append(cmp.Warnings, fmt.Sprintf("too few requests for a verdict: %d in this run, %d per baseline run; need %d per run", curReq, perRun, c.MinRequests))
		return cmp
	}
	pt := math.Log(cmp.Cur / cmp.Base)
	se := math.Sqrt(1/float64(curReq) + 1/float64(baseReq))
	z := zq(1 - c.Alpha)
	lo, hi := pt-z*se, pt+z*se
	cmp.Delta, cmp.Lo, cmp.Hi = math.Expm1(pt), math.Expm1(lo), math.Expm1(hi)
	cmp.P = distuv.UnitNormal.CDF(pt / se) // P(a drop this large or larger | no drop)
	cmp.MDE = -math.Expm1(-(z + zq(0.95)) * se)
	switch {
	case hi < 0 && pt < math.Log1p(-c.Tolerance):
		cmp.Verdict = Regressed
	case lo > 0 && pt > -math.Log1p(-c.Tolerance):
		cmp.Verdict = Improved
	case lo > 0 || hi < 0:
		cmp.Verdict = Within
	default:
		cmp.Verdict = Same
	}
	return cmp
}

// ranks maps a rank (1..n) of the merged histograms to its value: the
// highest value of the bucket, as HdrHistogram reports percentiles.
type ranks struct {
	n      int64
	values []int64
	cum    []int64 // cumulative counts
}

func newRanks(hs ...*hdrhistogram.Histogram) ranks {
	var h *hdrhistogram.Histogram
	switch len(hs) {
	case 0:
		return ranks{}
	case 1:
		h = hs[0]
	default:
		h = hdrhistogram.New(hs[0].LowestTrackableValue(), hs[0].HighestTrackableValue(), int(hs[0].SignificantFigures()))
		for _, x := range hs {
			h.Merge(x)
		}
	}
	var r ranks
	for _, b := range h.Distribution() {
		if b.Count == 0 {
			continue
		}
		r.n += b.Count
		r.values = append(r.values, b.To)
		r.cum = append(r.cum, r.n)
	}
	return r
}

// at returns the value of rank k (1-based, clamped to [1, n]).
func (r ranks) at(k int64) int64 {
	k = max(1, min(k, r.n))
	i := sort.Search(len(r.cum), func(i int) bool { return r.cum[i] >= k })
	return r.values[i]
}

// percentileRank is HdrHistogram's rank of quantile q among n values, so
// the point estimate is the percentile the summary table shows.
func percentileRank(q float64, n int64) int64 {
	k := int64(q*float64(n) + 0.5)
	return max(1, min(k, n))
}

// ceilRank turns a Beta draw into a rank: the bootstrap order statistic is
// x[ceil(n·V)].
func ceilRank(n int64, v float64) int64 {
	return max(1, min(int64(math.Ceil(float64(n)*v)), n))
}

// seed derives the bootstrap's seed from the level and both histograms.
func seed(q float64, b, c ranks) (uint64, uint64) {
	h := fnv.New64a()
	var buf [8]byte
	put := func(v uint64) {
		binary.LittleEndian.PutUint64(buf[:], v)
		h.Write(buf[:])
	}
	put(math.Float64bits(q))
	for _, r := range []ranks{b, c} {
		put(uint64(len(r.values)))
		for i, v := range r.values {
			put(uint64(v))
			put(uint64(r.cum[i]))
		}
	}
	s := h.Sum64()
	return s, s ^ 0x9e3779b97f4a7c15
}

func hashWords(ws ...uint64) uint64 {
	h := fnv.New64a()
	var buf [8]byte
	for _, w := range ws {
		binary.LittleEndian.PutUint64(buf[:], w)
		h.Write(buf[:])
	}
	return h.Sum64()
}

// quantile is the type-1 (inverse ECDF) quantile of sorted xs.
// stats.PercentileNearestRank has the rule but scales p to a percent, which
// picks another rank at some exact ranks (n = 40, p = 0.275), so it stays here.
func quantile(xs []float64, p float64) float64 {
	i := int(math.Ceil(p*float64(len(xs)))) - 1
	return xs[max(0, min(i, len(xs)-1))]
}

// stddev is the sample standard deviation of xs (at least two values).
func stddev(xs []float64) float64 {
	sd, _ := stats.StandardDeviationSample(xs)
	return sd
}

// zq is the standard normal quantile.
func zq(p float64) float64 { return distuv.UnitNormal.Quantile(p) }
