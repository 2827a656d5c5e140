package trend

import (
	"flag"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var long = flag.Bool("trend.long", false, "run the long statistical trials (thousands of series per cell)")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMannKendall(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		xs    []float64
		s     int
		p     float64
		exact bool
	}{
		{[]float64{1, 2, 3, 4, 5}, 10, 1.0 / 120, true},  // the one ordering of 5! with S = 10
		{[]float64{5, 4, 3, 2, 1}, -10, 1, true},         // every ordering has S ≥ -10
		{[]float64{1, 1, 2}, 2, 1.0 / 3, true},           // arrangements 112, 121, 211: one has S = 2
		{[]float64{2, 1, 1}, -2, 1, true},                //
		{[]float64{1, nan, 2, nan, 3}, 3, 1.0 / 6, true}, // NaNs are missing values
		{[]float64{1, 3, 2, 4}, 4, 4.0 / 24, true},       // inversions ≤ 1: 1 + 3 orderings of 24
		{[]float64{7, 7, 7, 7}, 0, 1, false},             // no information
		{[]float64{1}, 0, 1, false},
		{nil, 0, 1, false},
	}
	for _, tt := range tests {
		r := MannKendall(tt.xs)
		assert.Equal(t, tt.s, r.S, "MannKendall(%v).S", tt.xs)
		assert.InDelta(t, tt.p, r.P, 1e-12, "MannKendall(%v).P", tt.xs)
		assert.Equal(t, tt.exact, r.Exact, "MannKendall(%v).Exact", tt.xs)
	}
}

// TestMannKendallNormal checks the approximation above ExactLimit against
// the formulas worked by hand.
func TestMannKendallNormal(t *testing.T) {
	xs := make([]float64, 61)
	for i := range xs {
		xs[i] = float64(i % 31) // 0..30, 0..29: 30 pairs of ties
	}
	r := MannKendall(xs)
	// S: within each run all 465 + 435 pairs rise; across the runs, value
	// a of the first run against b of the second: +1 if b > a, -1 if b < a.
	s := 465 + 435
	for a := 0; a <= 30; a++ {
		for b := 0; b <= 29; b++ {
			switch {
			case b > a:
				s++
			case b < a:
				s--
			}
		}
	}
	v := (61.0*60*127 - 30*(2*1*9)) / 18 // 30 tie groups of 2: t(t-1)(2t+5) = 18
	z := (float64(s) - 1) / math.Sqrt(v)
	p := 0.5 * math.Erfc(z/math.Sqrt2)
	assert.False(t, r.Exact, "MannKendall(61 values).Exact")
	assert.Equal(t, s, r.S, "MannKendall(61 values).S")
	assert.InDelta(t, v, r.VarS, 1e-9, "MannKendall(61 values).VarS")
	assert.InDelta(t, z, r.Z, 1e-12, "MannKendall(61 values).Z")
	assert.InDelta(t, p, r.P, 1e-15, "MannKendall(61 values).P")
}

// TestMannKendallExactMatchesEnumeration compares the exact p-value, ties
// included, with a count over every permutation of small seeded samples.
func TestMannKendallExactMatchesEnumeration(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 40; trial++ {
		n := 2 + rng.IntN(6)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(rng.IntN(4)) // many ties
		}
		got := MannKendall(xs)
		var ge, all int
		permute(append([]float64(nil), xs...), 0, func(p []float64) {
			all++
			if kendallS(p) >= got.S {
				ge++
			}
		})
		want := float64(ge) / float64(all)
		if len(tieGroups(xs)) == 1 {
			want = 1
		}
		assert.InDelta(t, want, got.P, 1e-12, "MannKendall(%v).P against the enumeration", xs)
	}
}

// TestMannKendallExactNearNormal: at n = 60 the exact and approximate
// p-values agree closely.
func TestMannKendallExactNearNormal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := 0; trial < 20; trial++ {
		xs := make([]float64, 60)
		for i := range xs {
			xs[i] = rng.NormFloat64() + 0.01*float64(i)
		}
		r := MannKendall(xs)
		approx := 0.5 * math.Erfc(r.Z/math.Sqrt2)
		assert.True(t, r.Exact, "n=60: MannKendall.Exact")
		assert.InDelta(t, approx, r.P, 0.005, "n=60: exact P against the normal approximation")
	}
}

func permute(a []float64, k int, f func([]float64)) {
	if k == len(a) {
		f(a)
		return
	}
	for i := k; i < len(a); i++ {
		a[k], a[i] = a[i], a[k]
		permute(a, k+1, f)
		a[k], a[i] = a[i], a[k]
	}
}

func kendallS(xs []float64) int {
	s := 0
	for i := range xs {
		for j := i + 1; j < len(xs); j++ {
			switch {
			case xs[j] > xs[i]:
				s++
			case xs[j] < xs[i]:
				s--
			}
		}
	}
	return s
}

func TestTheilSen(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		xs   []float64
		want Line
	}{
		{[]float64{3, 5, 7, 9, 11}, Line{2, 3}},
		{[]float64{3, 5, 7, 9, 1000}, Line{2, 3}},       // one outlier does not move it
		{[]float64{nan, 5, nan, 9, 11}, Line{2, 3}},     // gaps keep positions
		{[]float64{1, 2, 1, 2}, Line{}},                 // worked below
		{[]float64{4}, Line{0, 4}},                      //
		{[]float64{10, 8, 6, 4}, Line{-2, 10}},          //
		{[]float64{1, 1, 1, 1, 2, 2, 2, 2}, Line{0, 1}}, // slopes: 16 zeros, 16 positive, median between
	}
	// {1,2,1,2}: pairwise slopes (0,1)=1 (0,2)=0 (0,3)=1/3 (1,2)=-1 (1,3)=0
	// (2,3)=1 → sorted -1,0,0,1/3,1,1 → median 1/6; residuals x−i/6: 1,
	// 11/6, 2/3, 3/2 → median (1 + 3/2)/2 = 1.25.
	tests[3].want = Line{1.0 / 6, 1.25}
	// {1,1,1,1,2,2,2,2}: 28 pairs: 12 zeros within runs, 16 positive
	// (1/j for j = 1..7) → median is the mean of the 14th and 15th.
	var sl []float64
	for i := 0; i < 8; i++ {
		for j := i + 1; j < 8; j++ {
			sl = append(sl, (float64(j/4)-float64(i/4))/float64(j-i))
		}
	}
	sort.Float64s(sl)
	b := (sl[13] + sl[14]) / 2
	var res []float64
	for i := 0; i < 8; i++ {
		res = append(res, float64(1+i/4)-b*float64(i))
	}
	sort.Float64s(res)
	tests[6].want = Line{b, (res[3] + res[4]) / 2}
	for _, tt := range tests {
		got := TheilSen(tt.xs)
		assert.InDelta(t, tt.want.Slope, got.Slope, 1e-12, "TheilSen(%v).Slope", tt.xs)
		assert.InDelta(t, tt.want.Intercept, got.Intercept, 1e-12, "TheilSen(%v).Intercept", tt.xs)
	}
}

// series returns n values exp(ln(level) + ln(1+g·i/(n-1)) + sd·N(0,1)).
func series(rng *rand.Rand, n int, level, growth, sd float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = level * (1 + growth*float64(i)/float64(n-1)) * math.Exp(sd*rng.NormFloat64())
	}
	return xs
}

func TestLeak(t *testing.T) {
	tests := []struct {
		name   string
		xs     []float64
		o      LeakOptions
		rising bool
		tested bool
	}{
		{"+60% over 28 windows", series(rand.New(rand.NewPCG(5, 1)), 28, 20, 0.6, 0.08), LeakOptions{Log: true}, true, true},
		{"flat", series(rand.New(rand.NewPCG(5, 2)), 28, 20, 0, 0.08), LeakOptions{Log: true}, false, true},
		{"+10%, significant but small", series(rand.New(rand.NewPCG(5, 3)), 28, 20, 0.1, 0.01), LeakOptions{Log: true}, false, true},
		{"+60% but 6 windows", series(rand.New(rand.NewPCG(5, 4)), 6, 20, 0.6, 0.01), LeakOptions{Log: true}, false, false},
		{"gauge 40 → 410", []float64{40, 80, 120, 150, 200, 230, 270, 300, 340, 380, 410}, LeakOptions{MinGrowth: DefaultGaugeGrowth}, true, true},
		{"gauge from 0", []float64{0, 0, 1, 2, 3, 4, 5, 6, 7, 9, 9}, LeakOptions{MinGrowth: DefaultGaugeGrowth}, true, true},
		{"gauge sawtooth", []float64{10, 12, 14, 10, 12, 14, 10, 12, 14, 10, 12, 14}, LeakOptions{MinGrowth: DefaultGaugeGrowth}, false, true},
	}
	for _, tt := range tests {
		r := Leak(tt.xs, tt.o)
		assert.Equal(t, tt.rising, r.Rising, "%s: Leak.Rising (P %.4f, Growth %+.3f)", tt.name, r.MK.P, r.Growth)
		assert.Equal(t, tt.tested, r.Tested, "%s: Leak.Tested", tt.name)
	}
	// 40 + 37·i with one outlier: the fit ignores it.
	r := Leak([]float64{40, 77, 114, 151, 188, 1000, 262, 299, 336, 373, 410}, LeakOptions{MinGrowth: DefaultGaugeGrowth})
	assert.InDelta(t, 40, r.Start, 1e-9, "gauge fit: start")
	assert.InDelta(t, 410, r.End, 1e-9, "gauge fit: end")
	assert.InDelta(t, 9.25, r.Growth, 1e-9, "gauge fit: growth")
	assert.InDelta(t, 37.0/40, r.PerStep, 1e-9, "gauge fit: per step")
}

// rate counts how often detect fires over trials seeded series.
func rate(trials int, seed uint64, gen func(*rand.Rand) []float64, detect func([]float64) bool) float64 {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	hits := 0
	for i := 0; i < trials; i++ {
		if detect(gen(rng)) {
			hits++
		}
	}
	return float64(hits) / float64(trials)
}

func trials(short, full int) int {
	if *long {
		return full
	}
	return short
}

// TestLeakRates checks the false-positive rate and power of the design
// notes (§5.5): window medians of a 10 req/s × 5 min run in 10-s windows
// (30 windows, ln-median SE ≈ 0.084), first and last windows dropped.
func TestLeakRates(t *testing.T) {
	n := trials(400, 5000)
	leak := func(xs []float64) bool { return Leak(xs, LeakOptions{Log: true}).Rising }
	cells := []struct {
		name     string
		growth   float64
		min, max float64
	}{
		{"no leak", 0, 0, 0.015},
		{"+50%", 0.5, 0.97, 1},
		{"+60%", 0.6, 0.99, 1},
	}
	for i, c := range cells {
		got := rate(n, uint64(10+i), func(r *rand.Rand) []float64 { return series(r, 28, 20, c.growth, 0.084) }, leak)
		assert.GreaterOrEqual(t, got, c.min, "Leak on %s over %d series: rate", c.name, n)
		assert.LessOrEqual(t, got, c.max, "Leak on %s over %d series: rate", c.name, n)
	}
	// Gauges (§5.6): 60 samples, 2 % noise, GC sawtooth of 10 % every 4 samples.
	gauge := func(growth float64) func(*rand.Rand) []float64 {
		return func(r *rand.Rand) []float64 {
			xs := make([]float64, 60)
			for i := range xs {
				xs[i] = 1e8 * (1 + growth*float64(i)/59) * (1 + 0.1*float64(i%4)/3) * (1 + 0.02*r.NormFloat64())
			}
			return xs
		}
	}
	g := func(xs []float64) bool { return Leak(xs, LeakOptions{MinGrowth: DefaultGaugeGrowth}).Rising }
	assert.LessOrEqual(t, rate(n, 20, gauge(0), g), 0.01, "gauge leak, none: rate")
	assert.GreaterOrEqual(t, rate(n, 21, gauge(0.2), g), 0.99, "gauge leak, +20%: rate")
}

// nightly returns a history of n nights with night-to-night sd 4 %, a
// creep per night, and a step from night at on.
func nightly(r *rand.Rand, n int, creep, step float64, at int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		v := 42 * math.Pow(1+creep, float64(i)) * math.Exp(0.04*r.NormFloat64())
		if step != 0 && i >= at {
			v *= 1 + step
		}
		xs[i] = v
	}
	return xs
}

// TestDriftRates checks §5.7: 14 nights, MK p < 0.01 and Sen > 0.5 %/night.
func TestDriftRates(t *testing.T) {
	n := trials(400, 5000)
	drift := func(xs []float64) bool { return Drift(xs, DriftOptions{}).Rising }
	assert.LessOrEqual(t, rate(n, 30, func(r *rand.Rand) []float64 { return nightly(r, 14, 0, 0, 0) }, drift), 0.025,
		"Drift on a stable history: rate")
	assert.GreaterOrEqual(t, rate(n, 31, func(r *rand.Rand) []float64 { return nightly(r, 14, 0.02, 0, 0) }, drift), 0.97,
		"Drift on +2%/night: rate")
	// Only the last Runs count: an old creep followed by a flat fortnight.
	xs := append(nightly(rand.New(rand.NewPCG(32, 0)), 20, 0.05, 0, 0), nightly(rand.New(rand.NewPCG(33, 0)), 14, 0, 0, 0)...)
	for i := 20; i < len(xs); i++ {
		xs[i] *= math.Pow(1.05, 20)
	}
	r := Drift(xs, DriftOptions{})
	assert.False(t, r.Rising, "Drift(old creep, flat fortnight).Rising")
	assert.Equal(t, 14, r.N, "Drift(old creep, flat fortnight).N")
}

func TestDriftFigures(t *testing.T) {
	xs := make([]float64, 14)
	for i := range xs {
		xs[i] = 42 * math.Pow(1.009, float64(i))
	}
	r := Drift(xs, DriftOptions{})
	assert.True(t, r.Rising, "Drift(+0.9%/night).Rising")
	assert.InDelta(t, 0.009, r.PerStep, 1e-12, "Drift(+0.9%/night).PerStep")
	assert.Equal(t, 14, r.N, "Drift(+0.9%/night).N")
	assert.InDelta(t, 1/fact(14), r.MK.P, 1e-20, "Drift(+0.9%/night).MK.P; want 1/14!")
}

func fact(n int) float64 {
	f := 1.0
	for i := 2; i <= n; i++ {
		f *= float64(i)
	}
	return f
}

func TestChangePoints(t *testing.T) {
	step := func(n, at int, up float64, seed uint64) []float64 {
		return nightly(rand.New(rand.NewPCG(seed, 7)), n, 0, up, at)
	}
	tests := []struct {
		name string
		xs   []float64
		o    ChangeOptions
		want []int
	}{
		{"clean step", []float64{1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}, ChangeOptions{}, []int{6}},
		{"+20% at 20 of 30", step(30, 20, 0.2, 1), ChangeOptions{Log: true}, []int{20}},
		{"+20% at 9 of 14", step(14, 9, 0.2, 2), ChangeOptions{Log: true}, []int{9}},
		{"flat", step(30, 0, 0, 3), ChangeOptions{Log: true}, nil},
		{"+3%: below the magnitude", step(60, 30, 0.03, 4), ChangeOptions{Log: true}, nil},
		{"two steps", func() []float64 {
			xs := step(90, 30, 0.2, 5)
			for i := 60; i < 90; i++ {
				xs[i] *= 0.7
			}
			return xs
		}(), ChangeOptions{Log: true}, []int{30, 60}},
		{"an odd last value", append(step(30, 0, 0, 6), 42000*1.5), ChangeOptions{Log: true, MinSize: 3}, nil},
		{"a new level, confirmed", append(step(30, 0, 0, 6), 42000*1.5, 42000*1.5, 42000*1.5), ChangeOptions{Log: true, MinSize: 3}, []int{30}},
		{"an odd last value, default size", append(step(30, 0, 0, 6), 42000*1.5), ChangeOptions{Log: true}, []int{30}},
		{"gaps keep indices", []float64{1, 1, math.NaN(), 1, 1, 1, 1, 2, 2, 2, math.NaN(), 2, 2, 2}, ChangeOptions{}, []int{7}},
		{"empty", nil, ChangeOptions{}, nil},
	}
	for _, tt := range tests {
		cps := ChangePoints(tt.xs, tt.o)
		var got []int
		for _, cp := range cps {
			got = append(got, cp.Index)
		}
		assert.Equal(t, tt.want, got, "%s: ChangePoints indices (%+v)", tt.name, cps)
	}
	cps := ChangePoints([]float64{42, 42, 42, 42, 42, 51, 51, 51, 51, 51}, ChangeOptions{Log: true})
	require.Len(t, cps, 1, "ChangePoints(42×5, 51×5) = %+v; want one at 5", cps)
	assert.Equal(t, 5, cps[0].Index, "ChangePoints(42×5, 51×5) index")
	assert.InDelta(t, 42, cps[0].Before, 1e-9, "ChangePoints(42×5, 51×5) before")
	assert.InDelta(t, 51, cps[0].After, 1e-9, "ChangePoints(42×5, 51×5) after")
	assert.InDelta(t, 9.0/42, cps[0].Change, 1e-9, "ChangePoints(42×5, 51×5) change: +21.4%")
	assert.LessOrEqual(t, cps[0].P, 1e-100, "ChangePoints(42×5, 51×5) p: want ≈ 0")
}

// TestChangePointRates checks §5.7: 14 nights with 4 % noise; a +20 %
// step 5 nights ago is found at its night, a stable history has none.
func TestChangePointRates(t *testing.T) {
	n := trials(300, 5000)
	o := ChangeOptions{Log: true}
	found := func(at int) func([]float64) bool {
		return func(xs []float64) bool {
			for _, cp := range ChangePoints(xs, o) {
				if cp.Change > 0 && (at < 0 || cp.Index == at) {
					return true
				}
			}
			return false
		}
	}
	assert.LessOrEqual(t, rate(n, 40, func(r *rand.Rand) []float64 { return nightly(r, 14, 0, 0, 0) }, found(-1)), 0.02,
		"ChangePoints on a stable fortnight: rate")
	assert.GreaterOrEqual(t, rate(n, 41, func(r *rand.Rand) []float64 { return nightly(r, 14, 0, 0.2, 9) }, found(9)), 0.9,
		"ChangePoints on a +20% step 5 nights ago: found at its night")
	assert.LessOrEqual(t, rate(n, 42, func(r *rand.Rand) []float64 { return nightly(r, 30, 0, 0, 0) }, found(-1)), 0.02,
		"ChangePoints on a stable month: rate")
}

func BenchmarkMannKendallExact60(b *testing.B) {
	xs := series(rand.New(rand.NewPCG(1, 1)), 60, 20, 0.2, 0.08)
	for b.Loop() {
		MannKendall(xs)
	}
}

func BenchmarkChangePoints365(b *testing.B) {
	xs := nightly(rand.New(rand.NewPCG(1, 1)), 365, 0, 0.2, 300)
	for b.Loop() {
		ChangePoints(xs, ChangeOptions{Log: true})
	}
}
