package trend

import "math"

// Defaults of LeakOptions and DriftOptions, from the method notes
// (regression-gate.md §5.5-5.7): a within-run latency trend needs ≥ 10
// windows and ≥ 20 % growth at α = 0.01; a gauge, ≥ 3 % growth on raw
// samples; a drift across runs, ≥ 0.5 % per run over the last 14 runs.
const (
	DefaultAlpha         = 0.01
	DefaultLeakGrowth    = 0.20
	DefaultGaugeGrowth   = 0.03
	DefaultLeakMinN      = 10
	DefaultDriftRuns     = 14
	DefaultDriftMinRuns  = 8
	DefaultDriftMinSlope = 0.005
)

// LeakOptions tunes Leak. The zero value means the defaults above.
type LeakOptions struct {
	Alpha     float64 // one-sided Mann-Kendall level (default 0.01)
	MinGrowth float64 // smallest fitted growth over the series that counts (default 0.20; 0.03 suits gauges)
	MinN      int     // fewer values are not tested (default 10)
	// Log fits the line to ln x, so growth is relative and a few slow
	// windows weigh as much as a few fast ones: right for latencies. Off,
	// the line is fitted to x itself: right for gauges, which may be 0.
	// With Log, values ≤ 0 are skipped as missing.
	Log bool
}

// DriftOptions tunes Drift. The zero value means the defaults above.
type DriftOptions struct {
	Runs     int     // the last Runs values are tested (default 14)
	MinRuns  int     // fewer values are not tested (default 8)
	Alpha    float64 // one-sided Mann-Kendall level (default 0.01)
	MinSlope float64 // smallest relative rise per run that counts (default 0.005, i.e. +0.5 %/run)
}

// Rise is the outcome of Leak or Drift: a Mann-Kendall test and a
// Theil-Sen fit of one series.
type Rise struct {
	N      int    // values tested
	Tested bool   // N was enough to test
	MK     Result // the trend test
	Line   Line   // the Theil-Sen fit, on ln x when the series was fitted in logs
	// Start and End are the fitted values at the first and last tested
	// value, in the series' units; Growth is End/Start − 1 (+Inf when
	// Start ≤ 0 < End); PerStep is the relative change per step.
	Start, End      float64
	Growth, PerStep float64
	// Rising reports a trend both significant (MK.P < Alpha) and large
	// enough (Growth or PerStep above its threshold).
	Rising bool
}

// Leak tests a series sampled within one run — per-window medians of a
// task's latency, samples of a server gauge — for a steady rise: the
// one-sided Mann-Kendall test at Alpha and a Theil-Sen growth over the
// series of at least MinGrowth.
func Leak(xs []float64, o LeakOptions) Rise {
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.MinGrowth == 0 {
		o.MinGrowth = DefaultLeakGrowth
	}
	if o.MinN == 0 {
		o.MinN = DefaultLeakMinN
	}
	r := fit(xs, o.Log, o.MinN)
	r.Rising = r.Tested && r.MK.P < o.Alpha && r.Growth >= o.MinGrowth
	return r
}

// Drift tests the last Runs values of a per-run series (a p95 per night)
// for a creep: the one-sided Mann-Kendall test at Alpha on ln x and a
// Theil-Sen slope of at least MinSlope per run (relative). Values must be
// positive; others are skipped.
func Drift(xs []float64, o DriftOptions) Rise {
	if o.Runs == 0 {
		o.Runs = DefaultDriftRuns
	}
	if o.MinRuns == 0 {
		o.MinRuns = DefaultDriftMinRuns
	}
	if o.Alpha == 0 {
		o.Alpha = DefaultAlpha
	}
	if o.MinSlope == 0 {
		o.MinSlope = DefaultDriftMinSlope
	}
	if len(xs) > o.Runs {
		xs = xs[len(xs)-o.Runs:]
	}
	r := fit(xs, true, o.MinRuns)
	r.Rising = r.Tested && r.MK.P < o.Alpha && r.PerStep >= o.MinSlope
	return r
}

// fit runs the test and the fit of xs, in logs or not.
func fit(xs []float64, logs bool, minN int) Rise {
	ys := xs
	if logs {
		ys = make([]float64, len(xs))
		for i, x := range xs {
			ys[i] = math.NaN()
			if x > 0 {
				ys[i] = math.Log(x)
			}
		}
	}
	first, last := -1, -1
	for i, y := range ys {
		if !math.IsNaN(y) {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	var r Rise
	r.MK = MannKendall(ys)
	r.N = r.MK.N
	r.Tested = r.N >= minN && r.N >= 2
	if r.N < 2 {
		return r
	}
	r.Line = TheilSen(ys)
	a, b := r.Line.At(float64(first)), r.Line.At(float64(last))
	if logs {
		r.Start, r.End = math.Exp(a), math.Exp(b)
		r.Growth = math.Expm1(b - a)
		r.PerStep = math.Expm1(r.Line.Slope)
		return r
	}
	r.Start, r.End = a, b
	switch {
	case a > 0:
		r.Growth = (b - a) / a
		r.PerStep = r.Line.Slope / a
	case b > a:
		r.Growth, r.PerStep = math.Inf(1), math.Inf(1)
	}
	return r
}
