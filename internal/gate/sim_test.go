package gate

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/stat/distuv"
)

// simTrials overrides the number of trials per cell of TestGateSimulation.
var simTrials = flag.Int("gate.trials", 0, "trials per cell of TestGateSimulation (0: 16, or 2,000 with -gate.long)")

// A latency distribution of the simulation: draw returns a latency in
// microseconds and its probability level u, so that a shift of the
// quantiles (type shift) applies exactly.
type latency struct {
	name string
	draw func(rng *rand.Rand) (x, u float64)
}

// lognormal is the reference latency: median 20 ms, p95 60 ms.
var lognormal = latency{"lognormal", func(rng *rand.Rand) (float64, float64) {
	z := rng.NormFloat64()
	return simMedianUS * math.Exp(simSigma*z), 0.5 * math.Erfc(-z/math.Sqrt2)
}}

// heavyTail has a Student-t (4 degrees of freedom) log latency with the
// same median and p95: its p99 is 6.9× the median, the lognormal's 4.7×.
var heavyTail = latency{"log-t4", func(rng *rand.Rand) (float64, float64) {
	const nu = 4
	chi := -2 * math.Log(rng.Float64()*rng.Float64()) // χ² with 4 degrees of freedom
	t := rng.NormFloat64() / math.Sqrt(chi/nu)
	s := math.Log(3) / distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}.Quantile(0.95)
	return simMedianUS * math.Exp(s*t), distuv.StudentsT{Mu: 0, Sigma: 1, Nu: nu}.CDF(t)
}}

// slower multiplies every latency by s: a uniform slowdown.
func slower(s float64) shift { return func(float64) float64 { return s } }

// simRuns records n requests of dist with noise nz, once per shift, into
// one histogram per shift (the same draws, so cells are paired).
func simRuns(rng *rand.Rand, dist latency, n int, nz simNoise, shifts ...shift) []*hdrhistogram.Histogram {
	hs := make([]*hdrhistogram.Histogram, len(shifts))
	for i := range hs {
		hs[i] = hdrhistogram.New(1, 3_600_000_000, 3)
	}
	off := nz.offset * rng.NormFloat64()
	ar := nz.wander * rng.NormFloat64()
	for j := range n {
		if nz.block > 0 && j > 0 && j%nz.block == 0 {
			ar = nz.rho*ar + math.Sqrt(1-nz.rho*nz.rho)*nz.wander*rng.NormFloat64()
		}
		x, u := dist.draw(rng)
		x *= math.Exp(off + ar)
		for i, s := range shifts {
			hs[i].RecordValue(int64(x * s(u)))
		}
	}
	return hs
}

// A simCell is one alternative of the simulation: a change of the
// current run, and the bound its failure rate must meet.
type simCell struct {
	name    string
	shift   shift
	maxRate float64 // the change must not fail p95 more often than this
	// medianOnly marks a change that leaves p95 where it was: the default
	// rule must not fail p95 on it in more than 1 % of runs, whatever
	// maxRate (which holds the band too).
	medianOnly bool
}

// simRule is a way to judge p95. Both estimate τ from the baseline runs,
// as the harness does until a history calibrates it (Config.EstimateTau):
// the default, the percentile's own order statistic, and the opt-in band.
type simRule struct {
	name string
	band bool
}

var simRules = []simRule{{"default", false}, {"band", true}}

// TestGateSimulation measures the gate's error rates on simulated runs:
// K = 5 baseline runs, p95, lognormal and heavier-tailed latency, 300,
// 600, 1000 and 3000 requests per run; A/A false alarms, power at a
// uniform slowdown of ×1.2, ×1.3 and ×1.5, a tail-only rise (+30 % from
// p95 up, a ramp from p50) and median-only rises (+30 %, +60 % and ×2 up
// to p50, a ramp to p95). It logs a table of both rules' rates (the one in
// docs/gate.md) and checks, each rate on its 95 % Wilson interval: A/A
// ≤ 1 % for both rules; every median-only change ≤ 1 % for the default
// rule, +30 % for the band (≤ 5 % on the heavier tail); and the power each
// rule reaches (the default's at ×1.3 ≥ 90 % on the lognormal from 1000
// requests on, the band's at 300 ≥ 80 %). The default runs 16 trials per
// cell (seconds); -gate.trials=N sets N, -gate.long 2 000.
func TestGateSimulation(t *testing.T) {
	trials := 16
	switch {
	case *simTrials > 0:
		trials = *simTrials
	case *long:
		trials = 2000
	case raceEnabled:
		trials = 8
	}
	const k = 5
	cells := []simCell{
		{name: "A/A", shift: none, maxRate: 0.01},
		{name: "×1.2", shift: slower(1.2)},
		{name: "×1.3", shift: slower(1.3)},
		{name: "×1.5", shift: slower(1.5)},
		{name: "tail-only +30%", shift: p95Up(0.3)},
		{name: "median-only +30%", shift: p50Up(0.3), maxRate: 0.01, medianOnly: true},
		// Stronger changes of the body alone, still leaving p95 where it was
		// (the ramp is gentle enough that no latency overtakes p95): the
		// default rule holds; the band does not (docs/gate.md), so only the
		// default rule is held to them.
		{name: "median-only +60%", shift: p50Up(0.6), medianOnly: true},
		{name: "median-only ×2", shift: p50Up(1), medianOnly: true},
	}
	type scenario struct {
		dist latency
		n    int
		// The power goals of each rule (by simRules' index), near what it
		// reached at -gate.trials=400 (docs/gate.md) but for the margin the
		// 16 default trials need.
		power [2]map[string]float64
		// bandMedianOnly bounds the band's failures on the +30 % median-only
		// change (1 % when zero).
		bandMedianOnly float64
	}
	scenarios := []scenario{
		// The goal of ×1.3 ≥ 90 % at 300 requests is out of reach for a rule
		// that never fails p95 on a change of the body (TestPowerBound): the
		// default reaches about half, the band about 84 %.
		{dist: lognormal, n: 300, power: [2]map[string]float64{{"×1.3": 0.45, "×1.5": 0.90}, {"×1.3": 0.80, "×1.5": 0.95}}},
		// The default reached 91 % at ×1.3 at 600 requests, 99 % at 1000.
		{dist: lognormal, n: 600, power: [2]map[string]float64{{"×1.3": 0.85}, {"×1.3": 0.95}}},
		{dist: lognormal, n: 1000, power: [2]map[string]float64{{"×1.2": 0.65, "×1.3": 0.90}, {"×1.2": 0.85, "×1.3": 0.99}}},
		{dist: lognormal, n: 3000, power: [2]map[string]float64{{"×1.2": 0.95, "×1.3": 0.99}, {"×1.2": 0.95, "×1.3": 0.99}}},
		// On the heavier tail the band fails up to 4 % of the +30 %
		// median-only changes (at 600 requests; docs/gate.md).
		{dist: heavyTail, n: 300, power: [2]map[string]float64{{"×1.5": 0.75}, {"×1.3": 0.65, "×1.5": 0.90}}, bandMedianOnly: 0.05},
		{dist: heavyTail, n: 600, power: [2]map[string]float64{{"×1.3": 0.55}, {"×1.3": 0.85}}, bandMedianOnly: 0.05},
		{dist: heavyTail, n: 1000, power: [2]map[string]float64{{"×1.3": 0.85}, {"×1.3": 0.90}}, bandMedianOnly: 0.05},
		{dist: heavyTail, n: 3000, power: [2]map[string]float64{{"×1.2": 0.85, "×1.3": 0.99}, {"×1.2": 0.90, "×1.3": 0.99}}, bandMedianOnly: 0.05},
	}
	table := make([][]string, len(scenarios)) // each scenario's rows, in order
	for si, sc := range scenarios {
		name := fmt.Sprintf("%s %d", sc.dist.name, sc.n)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(si)+100, 18))
			shifts := make([]shift, len(cells))
			for i, c := range cells {
				shifts[i] = c.shift
			}
			fails := make([][]int, len(simRules))
			for r := range fails {
				fails[r] = make([]int, len(cells))
			}
			var meanTau float64
			for trial := range trials {
				base := make([]*hdrhistogram.Histogram, k)
				for i := range base {
					base[i] = simRuns(rng, sc.dist, sc.n, iid, none)[0]
				}
				// τ as Config.EstimateTau estimates it, once for every cell of
				// the trial (the same baseline); the first trial checks that
				// this is the harness's comparison.
				tau, _ := BaselineTau(base, 0.95, DefaultTau, Config{})
				meanTau += tau / float64(trials)
				for i, cur := range simRuns(rng, sc.dist, sc.n, iid, shifts...) {
					for r, rule := range simRules {
						c := Compare(base, cur, P95, Config{Tau: tau, Band: rule.band})
						if trial == 0 {
							e := Compare(base, cur, P95, Config{EstimateTau: true, Band: rule.band})
							require.Equal(t, []any{e.Verdict, e.Lo, e.Tau}, []any{c.Verdict, c.Lo, c.Tau}, "%s: %s: τ estimated once per trial must judge as Config.EstimateTau does", name, cells[i].name)
						}
						if c.Verdict == Regressed {
							fails[r][i]++
						}
					}
				}
			}
			rate := func(k int) string { return fmt.Sprintf("%.1f%%", 100*float64(k)/float64(trials)) }
			for r, rule := range simRules {
				row := []string{sc.dist.name, fmt.Sprint(sc.n), rule.name}
				for i := range cells {
					row = append(row, rate(fails[r][i]))
				}
				table[si] = append(table[si], "| "+strings.Join(row, " | ")+" |")
			}
			t.Logf("%s: mean τ from the baseline %.2f%%", name, 100*meanTau)
			for r, rule := range simRules {
				for i, c := range cells {
					lo, hi := wilson(fails[r][i], trials)
					got := float64(fails[r][i]) / float64(trials)
					maxRate := c.maxRate
					switch {
					case c.medianOnly && !rule.band:
						maxRate = 0.01
					case c.medianOnly && maxRate > 0 && sc.bandMedianOnly > 0:
						maxRate = sc.bandMedianOnly
					}
					if maxRate > 0 {
						assert.LessOrEqual(t, lo, maxRate, "%s, %s rule: %s fails p95 in %.1f%% of runs (95%% CI %.1f-%.1f%%); want ≤ %.0f%%: bottom of the interval", name, rule.name, c.name, 100*got, 100*lo, 100*hi, 100*maxRate)
					}
					if want, ok := sc.power[r][c.name]; ok {
						assert.GreaterOrEqual(t, hi, want, "%s, %s rule: power at %s = %.1f%% (95%% CI %.1f-%.1f%%); want ≥ %.0f%%: top of the interval", name, rule.name, c.name, 100*got, 100*lo, 100*hi, 100*want)
					}
				}
			}
		})
	}
	t.Cleanup(func() {
		head := []string{"latency", "requests/run", "rule"}
		for _, c := range cells {
			head = append(head, c.name)
		}
		t.Logf("p95 failure rates, %d trials per cell, K = %d:\n| %s |\n%s", trials, k, strings.Join(head, " | "), strings.Join(slices.Concat(table...), "\n"))
	})
}
