package gate

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/steadyload/steadyload/internal/simstat"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// long runs the 10,000-trial version of the property tests.
var long = flag.Bool("gate.long", false, "run the gate's property tests with 10,000 trials per cell (minutes)")

// The reference latency of the design notes: lognormal, median 20 ms,
// p95 60 ms.
const (
	simMedianUS = 20_000.0
	simZ95      = 1.6448536269514722
)

var simSigma = math.Log(3) / simZ95

// simNoise is the run-to-run and within-run noise of a simulated system:
// a per-run multiplicative offset and an AR(1) wander on blocks of
// requests (10 s at 10 req/s), both on the log scale.
type simNoise struct {
	offset float64 // sd of the per-run offset
	wander float64 // stationary sd of the AR(1) factor
	rho    float64
	block  int
}

var (
	iid       = simNoise{}
	realistic = simNoise{offset: 0.03, wander: 0.05, rho: 0.7, block: 100}
)

// shift moves quantiles through the probability level u of a sample, so
// that the intended quantiles move exactly.
type shift func(u float64) float64

func none(float64) float64 { return 1 }

// p95Up: p50 unchanged, a ramp between p50 and p95, everything above p95
// ×(1+x).
func p95Up(x float64) shift {
	return func(u float64) float64 {
		switch {
		case u <= 0.5:
			return 1
		case u >= 0.95:
			return 1 + x
		}
		return 1 + x*(u-0.5)/0.45
	}
}

// p50Up: everything up to p50 ×(1+x), a ramp down to p95, p95 and above
// unchanged.
func p50Up(x float64) shift {
	return func(u float64) float64 {
		switch {
		case u <= 0.5:
			return 1 + x
		case u >= 0.95:
			return 1
		}
		return 1 + x*(0.95-u)/0.45
	}
}

// simRun records n requests of the reference system, once per shift, into
// one histogram per shift (the same draws, so cells are paired).
func simRun(rng *rand.Rand, n int, nz simNoise, shifts ...shift) []*hdrhistogram.Histogram {
	hs := make([]*hdrhistogram.Histogram, len(shifts))
	for i := range hs {
		hs[i] = hdrhistogram.New(1, 3_600_000_000, 3)
	}
	off := nz.offset * rng.NormFloat64()
	ar := nz.wander * rng.NormFloat64()
	for j := 0; j < n; j++ {
		if nz.block > 0 && j > 0 && j%nz.block == 0 {
			ar = nz.rho*ar + math.Sqrt(1-nz.rho*nz.rho)*nz.wander*rng.NormFloat64()
		}
		z := rng.NormFloat64()
		x := simMedianUS * math.Exp(simSigma*z+off+ar)
		u := 0.5 * math.Erfc(-z/math.Sqrt2)
		for i, s := range shifts {
			hs[i].RecordValue(int64(x * s(u)))
		}
	}
	return hs
}

// calibratedTau measures τ for p95 from runs A/A runs of the simulated
// system, as a history would.
func calibratedTau(t testing.TB, rng *rand.Rand, n int, nz simNoise, runs int) float64 {
	lnq, se := make([]float64, runs), make([]float64, runs)
	for i := range runs {
		h := simRun(rng, n, nz, none)[0]
		lnq[i], se[i] = LogQuantile(h, 0.95, Config{Replicates: 500})
	}
	tau, err := CalibrateTau(lnq, se)
	require.NoError(t, err, "CalibrateTau(%d runs)", runs)
	return tau
}

// TestGateProperties checks the acceptance criterion of the design notes
// on synthetic data: false-positive rate on unchanged runs (A/A) and power
// on regressions, for rule e5 (K = 5 baseline runs, τ calibrated). The
// rates are judged by their 95 % Wilson interval: a rate "≤ 1 %" fails
// when the whole interval is above 1 %, a power "≥ 95 %" when the whole
// interval is below 95 %. The fast version runs a few hundred trials per
// cell; -gate.long runs 10,000.
func TestGateProperties(t *testing.T) {
	trials := 200
	switch {
	case *long:
		trials = 10_000
	case raceEnabled:
		trials = 40
	}
	const k = 5
	type cell struct {
		name     string
		shift    shift
		maxRate  float64 // A/A-like: the rate of fails must not exceed this
		minPower float64 // a regression: the rate of fails must reach this
	}
	aa := cell{name: "A/A", shift: none, maxRate: 0.01}
	tests := []struct {
		name  string
		n     int
		noise simNoise
		cells []cell
	}{
		{"lognormal iid 10rps×5min", 3000, iid, []cell{
			aa,
			{name: "p95 +20%", shift: p95Up(0.20), minPower: 0.95},
			{name: "p95 +50%", shift: p95Up(0.50), minPower: 0.99},
			{name: "p50-only +20%", shift: p50Up(0.20), maxRate: 0.01},
		}},
		{"lognormal realistic 10rps×5min", 3000, realistic, []cell{
			aa,
			{name: "p95 +20%", shift: p95Up(0.20), minPower: 0.85},
			{name: "p95 +50%", shift: p95Up(0.50), minPower: 0.99},
			{name: "p50-only +20%", shift: p50Up(0.20), maxRate: 0.01},
		}},
		{"lognormal realistic 500 requests", 500, realistic, []cell{
			aa,
			{name: "p95 +50%", shift: p95Up(0.50), minPower: 0.90},
		}},
	}
	for ti, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(ti)+1, 42))
			tau := calibratedTau(t, rng, tt.n, tt.noise, 100)
			cfg := Config{Tau: tau}
			shifts := make([]shift, len(tt.cells))
			for i, c := range tt.cells {
				shifts[i] = c.shift
			}
			fails := make([]int, len(tt.cells))
			for range trials {
				base := make([]*hdrhistogram.Histogram, k)
				for i := range base {
					base[i] = simRun(rng, tt.n, tt.noise, none)[0]
				}
				for i, cur := range simRun(rng, tt.n, tt.noise, shifts...) {
					if Compare(base, cur, P95, cfg).Verdict == Regressed {
						fails[i]++
					}
				}
			}
			for i, c := range tt.cells {
				lo, hi := simstat.Wilson(fails[i], trials)
				rate := float64(fails[i]) / float64(trials)
				t.Logf("%s: %s fails %d/%d = %.2f%% (95%% CI %.2f-%.2f%%), τ = %.3f", tt.name, c.name, fails[i], trials, 100*rate, 100*lo, 100*hi, tau)
				if c.minPower > 0 {
					assert.GreaterOrEqual(t, hi, c.minPower, "%s: power at %s = %.1f%% (95%% CI %.1f-%.1f%%); want ≥ %.0f%%: top of the interval", tt.name, c.name, 100*rate, 100*lo, 100*hi, 100*c.minPower)
				} else {
					assert.LessOrEqual(t, lo, c.maxRate, "%s: %s fires %.1f%% of runs (95%% CI %.1f-%.1f%%); want ≤ %.0f%%: bottom of the interval", tt.name, c.name, 100*rate, 100*lo, 100*hi, 100*c.maxRate)
				}
			}
		})
	}
}

// TestNaiveRuleFailsTheCriterion shows the property test has teeth: the
// naive rule "p95 ratio > 1.10" against a single baseline run fails the
// A/A criterion with run-to-run noise at ~500 requests.
func TestNaiveRuleFailsTheCriterion(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	const trials = 200
	fails := 0
	for range trials {
		b := simRun(rng, 500, realistic, none)[0]
		c := simRun(rng, 500, realistic, none)[0]
		if float64(c.ValueAtQuantile(95))/float64(b.ValueAtQuantile(95)) > 1.10 {
			fails++
		}
	}
	lo, _ := simstat.Wilson(fails, trials)
	assert.Greater(t, lo, 0.01, "naive rule fails %d/%d A/A runs; the property test could not tell it from rule e5: bottom of the interval", fails, trials)
}

func BenchmarkCompare(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := make([]*hdrhistogram.Histogram, 5)
	for i := range base {
		base[i] = simRun(rng, 3000, iid, none)[0]
	}
	cur := simRun(rng, 3000, iid, none)[0]
	for b.Loop() {
		Compare(base, cur, P95, Config{})
	}
}

func ExampleCompare() {
	rng := rand.New(rand.NewPCG(1, 2))
	var base []*hdrhistogram.Histogram
	for range 5 {
		base = append(base, simRun(rng, 3000, iid, none)[0])
	}
	slower := simRun(rng, 3000, iid, p95Up(0.5))[0]
	c := Compare(base, slower, P95, Config{})
	fmt.Printf("p95 %+.0f%%: %s\n", 100*c.Delta, c.Verdict)
	// Output: p95 +60%: FAIL
}
