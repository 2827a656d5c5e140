package gate

import (
	"bytes"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func hist(vals ...int64) *hdrhistogram.Histogram {
	h := hdrhistogram.New(1, 3_600_000_000, 3)
	for _, v := range vals {
		h.RecordValue(v)
	}
	return h
}

func sims(seed uint64, runs, n int, s shift) []*hdrhistogram.Histogram {
	rng := rand.New(rand.NewPCG(seed, seed))
	var hs []*hdrhistogram.Histogram
	for range runs {
		hs = append(hs, simRun(rng, n, iid, s)[0])
	}
	return hs
}

func TestRanksMatchHdrPercentiles(t *testing.T) {
	h := sims(1, 1, 1000, none)[0]
	r := newRanks(h)
	for _, p := range []float64{0.01, 0.5, 0.9, 0.95, 0.99, 0.999, 1} {
		assert.Equal(t, h.ValueAtQuantile(100*p), r.at(percentileRank(p, r.n)), "ranks.at(rank(%g)); want ValueAtQuantile(%g)", p, 100*p)
	}
}

// TestBetaBootstrapMatchesBruteForce checks the shortcut: the r-th order
// statistic of a resample is x[ceil(n·V)], V ~ Beta(r, n−r+1).
func TestBetaBootstrapMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, reps = 400, 4000
	xs := make([]float64, n)
	h := hist()
	for i := range xs {
		xs[i] = math.Round(simMedianUS * math.Exp(simSigma*rng.NormFloat64()))
		h.RecordValue(int64(xs[i]))
	}
	k := int(percentileRank(0.95, n))
	brute := make([]float64, reps)
	buf := make([]float64, n)
	for i := range brute {
		for j := range buf {
			buf[j] = xs[rng.IntN(n)]
		}
		slices.Sort(buf)
		brute[i] = math.Log(buf[k-1])
	}
	_, se := LogQuantile(h, 0.95, Config{Replicates: reps})
	assert.InEpsilon(t, stddev(brute), se, 0.15, "LogQuantile SE; want within 15% of the brute-force bootstrap SE")
}

func TestCompare(t *testing.T) {
	base := sims(1, 5, 1000, none)
	tests := []struct {
		name string
		base []*hdrhistogram.Histogram
		cur  *hdrhistogram.Histogram
		m    Metric
		c    Config
		want Verdict
		warn string // substring of a warning
	}{
		{"same system", base, sims(2, 1, 1000, none)[0], P95, Config{}, Same, ""},
		{"p95 +60%", base, sims(3, 1, 1000, p95Up(0.6))[0], P95, Config{}, Regressed, ""},
		{"p95 -40%", base, sims(3, 1, 1000, p95Up(-0.4))[0], P95, Config{}, Improved, ""},
		{"p50-only +30% on p95", base, sims(4, 1, 1000, p50Up(0.3))[0], P95, Config{}, Same, ""},
		{"p50-only +30% on p50", base, sims(4, 1, 1000, p50Up(0.3))[0], P50, Config{}, Regressed, ""},
		{"+8% within a 10% tolerance", base, sims(5, 1, 20000, p95Up(0.08))[0], P95, Config{Tau: 0.01}, Within, ""},
		{"too few requests", base, sims(6, 1, 150, p95Up(1))[0], P95, Config{}, NoVerdict, "too few requests"},
		{"too few in a baseline run", append(sims(7, 1, 100, none), base...), sims(6, 1, 1000, p95Up(1))[0], P95, Config{}, NoVerdict, "smallest baseline run"},
		{"no successes now", base, hist(), P95, Config{}, Regressed, "no data is never a pass"},
		{"empty baseline", []*hdrhistogram.Histogram{hist()}, sims(8, 1, 1000, none)[0], P95, Config{}, NoVerdict, "baseline has no successful"},
		{"under-powered", sims(9, 3, 250, none), sims(10, 1, 250, none)[0], P95, Config{}, Same, "under-powered: the requests of this run and its baseline can only detect"},
		{"not a percentile", base, base[0], Failures, Config{}, NoVerdict, "not a latency percentile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Compare(tt.base, tt.cur, tt.m, tt.c)
			assert.Equal(t, tt.want, c.Verdict, "Compare(%s).Verdict (Δ %+.3f, CI %+.3f..%+.3f)", tt.m, c.Delta, c.Lo, c.Hi)
			if tt.warn != "" {
				assert.Contains(t, strings.Join(c.Warnings, "\n"), tt.warn, "Compare(%s).Warnings", tt.m)
			}
			again := Compare(tt.base, tt.cur, tt.m, tt.c)
			assert.True(t, sameComparison(c, again), "Compare is not deterministic: %+v, then %+v", c, again)
		})
	}
}

// TestUnderPoweredWarnsOnlyWhenRequestsLimit: the warning's advice, "run
// longer", holds only for the sampling part of the MDE. With many requests
// the MDE is the run-to-run term's (+24 % at τ = 5 %, above the target),
// and no number of requests would lower it: no warning. With few, it warns.
func TestUnderPoweredWarnsOnlyWhenRequestsLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		tau  float64
		warn bool
	}{
		{"many requests, τ 5%", 20000, DefaultTau, false},
		{"many requests, τ 1%", 20000, 0.01, false},
		{"few requests, τ 5%", 250, DefaultTau, true},
		{"few requests, τ 1%", 250, 0.01, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Compare(sims(21, 5, tc.n, none), sims(22, 1, tc.n, none)[0], P95, Config{Tau: tc.tau})
			warned := strings.Contains(strings.Join(c.Warnings, "\n"), "under-powered")
			assert.Equal(t, tc.warn, warned, "MDE %+.1f%%, warnings %q", 100*c.MDE, c.Warnings)
			if tc.tau == DefaultTau {
				assert.Greater(t, c.MDE, DefaultTarget, "with τ 5%% the MDE shown stays the whole one, run-to-run term included")
			}
		})
	}
}

func sameComparison(a, b Comparison) bool {
	eq := func(x, y float64) bool { return x == y || math.IsNaN(x) && math.IsNaN(y) }
	return a.Verdict == b.Verdict && eq(a.Delta, b.Delta) && eq(a.Lo, b.Lo) && eq(a.Hi, b.Hi) && eq(a.P, b.P) && eq(a.MDE, b.MDE)
}

func TestCompareIgnoresBaselineOrder(t *testing.T) {
	base := sims(11, 5, 800, none)
	cur := sims(12, 1, 800, p95Up(0.15))[0]
	a := Compare(base, cur, P95, Config{})
	slices.Reverse(base)
	b := Compare(base, cur, P95, Config{})
	assert.True(t, sameComparison(a, b), "reordering the baseline runs changed the comparison: %+v vs %+v", a, b)
}

func TestCompareFailures(t *testing.T) {
	tests := []struct {
		name                     string
		bf, bn, cf, cn           int64
		want                     Verdict
		wantDelta, lo, hi, delta float64
	}{
		{name: "none before, none now", bf: 0, bn: 5000, cf: 0, cn: 1000, want: Same},
		{name: "0.2% to 0.3%", bf: 10, bn: 5000, cf: 3, cn: 1000, want: Same},
		{name: "0.2% to 5%", bf: 10, bn: 5000, cf: 50, cn: 1000, want: Regressed},
		{name: "0.2% to 1%: significant, within one point", bf: 10, bn: 5000, cf: 10, cn: 1000, want: Within},
		{name: "5% to 0%", bf: 250, bn: 5000, cf: 0, cn: 1000, want: Improved},
		{name: "too few", bf: 0, bn: 5000, cf: 50, cn: 100, want: NoVerdict},
		{name: "more failures than requests", bf: 10, bn: 5, cf: 0, cn: 1000, want: NoVerdict},
	}
	for _, tt := range tests {
		c := CompareFailures(tt.bf, tt.bn, tt.cf, tt.cn, 5, Config{})
		assert.Equal(t, tt.want, c.Verdict, "%s: CompareFailures(%d/%d, %d/%d) (Δ %+.4f, CI %+.4f..%+.4f)", tt.name, tt.bf, tt.bn, tt.cf, tt.cn, c.Delta, c.Lo, c.Hi)
	}
}

func TestCompareRate(t *testing.T) {
	tests := []struct {
		name         string
		bn           int64
		bs           float64
		cn           int64
		cs           float64
		want         Verdict
		wantNoVerdic bool
	}{
		{"held the rate", 3000, 300, 600, 60, Same, false},
		{"fell to 80%", 3000, 300, 480, 60, Regressed, false},
		{"fell 5%: within", 300000, 300, 57000, 60, Within, false},
		{"too few", 3000, 300, 100, 10, NoVerdict, true},
		{"no time", 3000, 300, 600, 0, NoVerdict, true},
	}
	for _, tt := range tests {
		c := CompareRate(tt.bn, tt.bs, tt.cn, tt.cs, 5, Config{})
		assert.Equal(t, tt.want, c.Verdict, "%s: CompareRate(%d in %gs, %d in %gs) (Δ %+.3f, CI %+.3f..%+.3f)", tt.name, tt.bn, tt.bs, tt.cn, tt.cs, c.Delta, c.Lo, c.Hi)
	}
}

func TestCalibrateTau(t *testing.T) {
	_, err := CalibrateTau(make([]float64, 5), make([]float64, 5))
	assert.ErrorContains(t, err, "need at least 20", "CalibrateTau(5 runs)")
	_, err = CalibrateTau(make([]float64, 30), make([]float64, 29))
	assert.Error(t, err, "CalibrateTau(30 quantiles, 29 errors)")
	rng := rand.New(rand.NewPCG(5, 6))
	for _, want := range []float64{0.03, 0.08} {
		tau := calibratedTau(t, rng, 2000, simNoise{offset: want}, 200)
		assert.InEpsilon(t, want, tau, 0.3, "CalibrateTau on runs with a %.2f offset", want)
	}
	assert.Equal(t, MinTau, calibratedTau(t, rng, 2000, iid, 50), "CalibrateTau on iid runs; want the floor MinTau")
}

func TestConfig(t *testing.T) {
	assert.Equal(t, DefaultConfig, (Config{}).Normalize(), "Config{}.Normalize()")
	err := Config{Tolerance: -0.1, Alpha: 0.7, Tau: math.NaN()}.Validate()
	for _, want := range []string{"tolerance -0.1", "alpha 0.7", "tau NaN"} {
		assert.ErrorContains(t, err, want, "Validate()")
	}
	for _, s := range []string{"p95", "P50", "failures", "rate"} {
		_, err := ParseMetric(s)
		assert.NoError(t, err, "ParseMetric(%q)", s)
	}
	_, err = ParseMetric("p42")
	assert.Error(t, err, "ParseMetric(p42)")
}

func TestReportGolden(t *testing.T) {
	base := sims(20, 5, 1000, none)
	rep := &Report{Test: "TestOrders", Env: "local", Baseline: "baseline/local/TestOrders",
		Runs: []string{"r1", "r2", "r3", "r4", "r5"}}
	rep.Rows = []Row{
		{"POST /orders", Compare(base, sims(21, 1, 1000, p95Up(0.6))[0], P95, Config{})},
		{"POST /orders", CompareFailures(10, 5000, 2, 1000, 5, Config{})},
		{"GET /users/{id}", Compare(base, sims(22, 1, 100, none)[0], P95, Config{})},
		{"Aggregated", Compare(base, sims(23, 1, 1000, none)[0], P95, Config{})},
		{"Aggregated", CompareRate(5000, 500, 900, 100, 5, Config{})},
	}
	var csvOut bytes.Buffer
	require.NoError(t, rep.WriteCSV(&csvOut), "WriteCSV")
	got := rep.Text() + "\n" + rep.Markdown() + "\n" + csvOut.String() + "\n"
	for _, r := range rep.Regressions() {
		got += r.Message() + "\n"
	}
	golden(t, got)
	assert.Len(t, rep.Regressions(), 1, "Regressions()")
}

func golden(t *testing.T, got string) {
	t.Helper()
	path := filepath.Join("testdata", t.Name()+".golden")
	if *update {
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644), "update %s", path)
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "read the golden file (run with -update to create it)")
	assert.Equal(t, string(want), got, "output differs from %s (run with -update to accept)", path)
}

func TestBaselineTau(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	runs := func(k int, nz simNoise) []*hdrhistogram.Histogram {
		var hs []*hdrhistogram.Histogram
		for range k {
			hs = append(hs, simRuns(rng, lognormal, 3000, nz, none)[0])
		}
		return hs
	}
	quiet, ok := BaselineTau(runs(5, iid), 0.95, 0.05, Config{})
	assert.True(t, ok, "BaselineTau(5 quiet runs) ok")
	assert.InDelta(t, 0.05*math.Sqrt(6.0/10), quiet, 0.01, "BaselineTau(5 quiet runs); want about the floor of the shrinkage, 0.05·sqrt(6/10)")
	noisy, _ := BaselineTau(runs(5, simNoise{offset: 0.20}), 0.95, 0.05, Config{})
	assert.Greater(t, noisy, 0.08, "BaselineTau(5 runs 20%% apart); want well above the prior")
	tau, ok1 := BaselineTau(runs(1, iid), 0.95, 0.05, Config{})
	assert.False(t, ok1, "BaselineTau(1 run) ok")
	assert.Equal(t, 0.05, tau, "BaselineTau(1 run); want the prior")
}
