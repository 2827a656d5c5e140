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
