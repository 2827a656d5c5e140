package gate

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/steadyload/steadyload/internal/simstat"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/integrate/quad"
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
					lo, hi := simstat.Wilson(fails[r][i], trials)
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

// The information bound of docs/gate.md. Log latency is normal, ln x =
// μ + σZ, and a uniform slowdown ×r shifts μ by ln r. A rule that must
// not fail p95 on a change of the body alone may trust only the levels
// from some quantile c up: below them it knows how many requests there
// were, not how fast. Such a rule sees a sample left-censored at the
// level's latency t = μ + σ·z_c, and no estimator of the shift from that
// sample has a smaller variance than 1/I per request, with the Fisher
// information (σ known, which only helps)
//
//	I(c) = [1 − Φ(z_c) + z_c·φ(z_c) + φ(z_c)²/Φ(z_c)] / σ²:
//
// a measured request scores Z/σ, so E[Z²; Z > z_c] = 1 − Φ + z_c·φ;
// a censored one scores −φ(z_c)/(σ·Φ(z_c)), with probability Φ(z_c).

// censoredInfo returns σ²·I(c); c = 0 is the whole sample (1).
func censoredInfo(c float64) float64 {
	if c == 0 {
		return 1
	}
	z := distuv.UnitNormal.Quantile(c)
	phi := distuv.UnitNormal.Prob(z)
	return 1 - c + z*phi + phi*phi/c
}

// censoredInfoByQuadrature returns σ²·I(c) from the censored sample's
// log-likelihood itself: its score by a central difference, squared and
// integrated over the measured requests (Gauss-Legendre) plus the
// censored requests' share. It checks censoredInfo's algebra.
func censoredInfoByQuadrature(c float64) float64 {
	const h = 1e-5
	n := distuv.UnitNormal
	zc := n.Quantile(c)
	score := func(ll func(theta float64) float64) float64 { return (ll(h) - ll(-h)) / (2 * h) }
	measured := quad.Fixed(func(y float64) float64 {
		s := score(func(theta float64) float64 { return n.LogProb(y - theta) })
		return s * s * n.Prob(y)
	}, zc, zc+16, 400, quad.Legendre{}, 0)
	s := score(func(theta float64) float64 { return math.Log(n.CDF(zc - theta)) })
	return measured + c*s*s
}

// ownOrderVar returns σ² times the asymptotic variance, per request, of
// the log of the sample's p-quantile: p(1−p)/φ(z_p)² (the density of ln x
// at its quantile is φ(z_p)/σ).
func ownOrderVar(p float64) float64 {
	phi := distuv.UnitNormal.Prob(distuv.UnitNormal.Quantile(p))
	return p * (1 - p) / (phi * phi)
}

// boundWorld is what the gate assumes and what is true: the gate allows
// for run-to-run noise tau (τ·√(1+1/K) on the log ratio); on a quiet
// machine the runs differ by sampling only, otherwise by tau as well.
type boundWorld struct {
	tau   float64
	quiet bool
}

// boundPower returns the power of the gate's test at a slowdown ×r for an
// estimator of the log shift with variance v·σ² per request, n requests
// in the current run and in each of k baseline runs: FAIL when the
// one-sided lower bound at DefaultAlpha is above 0 and the estimate above
// ln(1+DefaultTolerance). It returns the test's standard error too.
func boundPower(v float64, n, k int, r float64, w boundWorld) (power, se float64) {
	f := 1 + 1/float64(k) // current run plus the K runs merged
	s2 := f * simSigma * simSigma * v / float64(n)
	se = math.Sqrt(s2 + f*w.tau*w.tau)
	thr := max(zq(1-DefaultAlpha)*se, math.Log1p(DefaultTolerance))
	sd := se
	if w.quiet {
		sd = math.Sqrt(s2)
	}
	return distuv.UnitNormal.CDF((math.Log(r) - thr) / sd), se
}

// requestsFor returns the fewest requests per run at which boundPower
// reaches power at ×r, or +Inf when no run length does.
func requestsFor(v float64, k int, r, power float64, w boundWorld) float64 {
	const most = 1 << 30
	if p, _ := boundPower(v, most, k, r, w); p < power {
		return math.Inf(1)
	}
	lo, hi := 1, most
	for lo < hi {
		mid := lo + (hi-lo)/2
		if p, _ := boundPower(v, mid, k, r, w); p >= power {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return float64(lo)
}

// TestPowerBound computes the table of docs/gate.md: for the reference
// lognormal latency, 300 requests per run, K = 5, the smallest standard
// error of ln(current/baseline) a rule trusting only the levels from c up
// can have, with the gate's run-to-run term (τ = 5 % assumed, or shrunk to
// its floor by a quiet baseline), the best power at ×1.3 it allows and the
// requests per run it needs for 90 %; beside the p95's own order
// statistic, the default rule. It checks the information against the
// likelihood by quadrature, that the own order statistic is within 2 % of
// the bound at c = p95 (nothing is left to gain above p95), that the
// asymptotic variance agrees with the gate's own bootstrap, and the claim
// of the docs that at 300 requests no rule trusting only p90 and up
// reaches 90 % at ×1.3.
func TestPowerBound(t *testing.T) {
	const (
		n, k  = 300, 5
		slow  = 1.3
		power = 0.90
	)
	floor := DefaultTau * math.Sqrt(PriorTauRuns/float64(PriorTauRuns+k-1)) // BaselineTau's least, a quiet baseline
	require.Greater(t, floor, MinTau)
	quietFloor := boundWorld{tau: floor, quiet: true}
	quiet5 := boundWorld{tau: DefaultTau, quiet: true}
	noisy5 := boundWorld{tau: DefaultTau}

	type row struct {
		name string
		c    float64 // the lowest level trusted; 0: all
		v    float64 // variance per request, units σ²
	}
	rows := []row{{name: "p95's own order statistic (the default)", c: 0.95, v: ownOrderVar(0.95)}}
	for _, c := range []float64{0.95, 0.90, 0.85, 0.80, 0} {
		name := fmt.Sprintf("bound, levels from p%.0f up", 100*c)
		if c == 0 {
			name = "bound, the whole distribution"
		}
		info := censoredInfo(c)
		if c > 0 {
			byQuad := censoredInfoByQuadrature(c)
			assert.InDelta(t, byQuad, info, 1e-6, "censoredInfo(%g) = %.8f; the likelihood by quadrature says %.8f", c, info, byQuad)
		}
		rows = append(rows, row{name: name, c: c, v: 1 / info})
	}

	lines := []string{
		fmt.Sprintf("| rule | SE, sampling | SE, τ %.1f%% | SE, τ %.1f%% | ×%.1f, quiet, τ %.1f%% | quiet, τ %.1f%% | runs differ by τ %.1f%% | requests for %.0f%%: quiet, τ %.1f%% | runs differ by τ %.1f%% |",
			100*floor, 100*DefaultTau, slow, 100*floor, 100*DefaultTau, 100*DefaultTau, 100*power, 100*floor, 100*DefaultTau),
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
	}
	pct := func(p float64) string { return fmt.Sprintf("%.0f%%", 100*p) }
	reqs := func(x float64) string {
		if math.IsInf(x, 1) {
			return "never"
		}
		return fmt.Sprintf("%.0f", x)
	}
	best := map[float64]float64{} // the best quiet power at each c
	for _, r := range rows {
		pf, sef := boundPower(r.v, n, k, slow, quietFloor)
		p5, se5 := boundPower(r.v, n, k, slow, quiet5)
		pn, _ := boundPower(r.v, n, k, slow, noisy5)
		samp := simSigma * math.Sqrt((1+1.0/k)*r.v/n)
		lines = append(lines, fmt.Sprintf("| %s | %.3f | %.3f | %.3f | %s | %s | %s | %s | %s |", r.name, samp, sef, se5, pct(pf), pct(p5), pct(pn),
			reqs(requestsFor(r.v, k, slow, power, quietFloor)), reqs(requestsFor(r.v, k, slow, power, noisy5))))
		best[r.c] = max(best[r.c], pf, p5)
	}
	t.Logf("lognormal latency (σ = %.4f), %d requests per run, K = %d, one-sided α = %g, tolerance +%.0f%%; SE of ln(current/baseline):\n%s",
		simSigma, n, k, DefaultAlpha, 100*DefaultTolerance, strings.Join(lines, "\n"))

	// The MDE at 95 % power (as Comparison.MDE, runs differing by τ) above
	// DefaultTarget; the "under-powered" warning leaves τ out (τ 0 below).
	// Requests per run the own
	// order statistic needs to clear it, by τ.
	var mde []string
	for _, tau := range []float64{0, MinTau, 0.02, floor, DefaultTau} {
		need := requestsFor(rows[0].v, k, 1+DefaultTarget, 0.95, boundWorld{tau: tau})
		mde = append(mde, fmt.Sprintf("τ %.1f%%: %s", 100*tau, reqs(need)))
	}
	t.Logf("requests per run for an MDE at 95%% power of at most +%.0f%% (τ 0: no under-powered warning): %s", 100*DefaultTarget, strings.Join(mde, ", "))
	_, se := boundPower(rows[0].v, 1<<30, k, 1+DefaultTarget, noisy5)
	assert.Greater(t, math.Expm1((zq(1-DefaultAlpha)+zq(0.95))*se), DefaultTarget, "the docs say that with τ = %.0f%% no run has an MDE below the target", 100*DefaultTau)

	own, at95 := math.Sqrt(rows[0].v), math.Sqrt(rows[1].v)
	assert.Less(t, at95, own, "the bound at p95 (%.4f σ/√n) must be below the own order statistic's SE (%.4f σ/√n)", at95, own)
	assert.Greater(t, at95, 0.98*own, "the bound at p95 is %.4f σ/√n, the own order statistic's SE %.4f σ/√n: more than 2%% apart", at95, own)
	for i := 2; i < len(rows); i++ {
		assert.Less(t, rows[i].v, rows[i-1].v, "trusting levels from p%.0f up must inform more than from p%.0f up", 100*rows[i].c, 100*rows[i-1].c)
	}
	for _, c := range []float64{0.95, 0.90} {
		assert.Less(t, best[c], power, "at %d requests, trusting levels from p%.0f up reaches %.1f%% at ×%.1f: the docs say it cannot reach %.0f%%", n, 100*c, 100*best[c], slow, 100*power)
	}

	// The asymptotic variance of the own order statistic against the
	// gate's exact bootstrap (LogQuantile), averaged over seeded runs.
	rng := rand.New(rand.NewPCG(3, 1))
	const runs, m = 40, 3000
	var boot float64
	for range runs {
		_, se := LogQuantile(simRun(rng, m, iid, none)[0], 0.95, Config{Replicates: 1000})
		boot += se * se / runs
	}
	want := simSigma * math.Sqrt(ownOrderVar(0.95)/m)
	assert.InEpsilon(t, want, math.Sqrt(boot), 0.05, "bootstrap SE of ln p95 at %d requests = %.4f; asymptotic %.4f", m, math.Sqrt(boot), want)
}
