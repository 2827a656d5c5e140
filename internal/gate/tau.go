package gate

import (
	"fmt"
	"math"
	"math/rand/v2"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"
)

// MinTauRuns is the fewest unchanged runs CalibrateTau accepts.
const MinTauRuns = 20

// LogQuantile returns ln of quantile q (0.95 for p95) of h, in
// microseconds, and its standard error from the exact order-statistic
// bootstrap (replicates from c, seeded from h). A history keeps these two
// numbers per run so that CalibrateTau can tell run-to-run noise from
// sampling noise. It returns NaNs for an empty histogram.
func LogQuantile(h *hdrhistogram.Histogram, q float64, c Config) (lnq, se float64) {
	c = c.Normalize()
	r := newRanks(h)
	if r.n == 0 || !(q > 0 && q <= 1) {
		return math.NaN(), math.NaN()
	}
	k := percentileRank(q, r.n)
	lnq = math.Log(float64(r.at(k)))
	s1, s2 := seed(q, r, ranks{})
	rng := rand.New(rand.NewPCG(s1, s2))
	beta := distuv.Beta{Alpha: float64(k), Beta: float64(r.n - k + 1), Src: rng}
	reps := make([]float64, c.Replicates)
	for i := range reps {
		reps[i] = math.Log(float64(r.at(ceilRank(r.n, beta.Rand()))))
	}
	return lnq, stddev(reps)
}

// CalibrateTau estimates the run-to-run noise τ of ln(quantile) from
// repeated runs of an unchanged system (a nightly history at one load
// shape, or a batch of A/A runs): τ² = var(lnq) − mean(se²), the spread
// between runs beyond what sampling inside each run explains. lnq and se
// are per run, as LogQuantile returns them. The result is never below
// MinTau; at least MinTauRuns runs are needed.
func CalibrateTau(lnq, se []float64) (float64, error) {
	if len(lnq) != len(se) {
		return 0, fmt.Errorf("calibrate tau: %d quantiles but %d standard errors", len(lnq), len(se))
	}
	var xs, vs []float64
	for i := range lnq {
		if math.IsNaN(lnq[i]) || math.IsInf(lnq[i], 0) || math.IsNaN(se[i]) || se[i] < 0 {
			continue
		}
		xs = append(xs, lnq[i])
		vs = append(vs, se[i]*se[i])
	}
	if len(xs) < MinTauRuns {
		return 0, fmt.Errorf("calibrate tau: %d usable runs, need at least %d", len(xs), MinTauRuns)
	}
	v, _ := stats.SampleVariance(xs) // len(xs) ≥ MinTauRuns: no error
	boot, _ := stats.Mean(vs)
	return max(MinTau, math.Sqrt(max(0, v-boot))), nil
}

// PriorTauRuns is the weight, in runs' worth of degrees of freedom, of
// the assumed τ (Config.Tau) when BaselineTau estimates τ from a few
// baseline runs: with K runs the estimate has K−1 degrees of freedom, so
// at the default K = 5 the data and the assumption weigh 4 to 6.
const PriorTauRuns = 6

// MaxBaselineTau caps τ estimated from the baseline runs: beyond it the
// baseline itself is too unsteady to gate against, and the comparison
// warns.
const MaxBaselineTau = 0.5

// BaselineTau estimates the run-to-run noise τ of ln(quantile q) from the
// K baseline runs themselves, for when the history is too short to
// calibrate it (fewer than MinTauRuns runs). The runs' own spread,
// τ̂² = var(ln q) − mean(se²) (as CalibrateTau, but over K runs only), has
// K−1 degrees of freedom and is far too noisy alone at K = 5, so it is
// shrunk toward the assumed prior τ0 as a scaled inverse-χ² prior with
// PriorTauRuns degrees of freedom would:
//
//	τ² = (PriorTauRuns·τ0² + (K−1)·max(0, τ̂²)) / (PriorTauRuns + K−1)
//
// A quiet baseline thus lowers τ at most to τ0·sqrt(6/10) ≈ 0.77·τ0 at
// K = 5 (more as K grows), a baseline whose runs disagree raises it
// without bound but MaxBaselineTau. It is never below MinTau. ok is false
// with fewer than two runs with requests; the result is then prior.
func BaselineTau(base []*hdrhistogram.Histogram, q, prior float64, c Config) (tau float64, ok bool) {
	c = c.Normalize()
	var lnq, se []float64
	for _, h := range base {
		if h == nil || h.TotalCount() == 0 {
			continue
		}
		x, s := LogQuantile(h, q, c)
		if math.IsNaN(x) || math.IsNaN(s) {
			continue
		}
		lnq, se = append(lnq, x), append(se, s*s)
	}
	if len(lnq) < 2 {
		return prior, false
	}
	v, _ := stats.SampleVariance(lnq)
	boot, _ := stats.Mean(se)
	df := float64(len(lnq) - 1)
	t2 := (PriorTauRuns*prior*prior + df*max(0, v-boot)) / (PriorTauRuns + df)
	return min(MaxBaselineTau, max(MinTau, math.Sqrt(t2))), true
}
