// Package gate decides whether a load run regressed against a baseline of
// earlier runs, without crying wolf at low load.
//
// At 10 req/s or a few users, the noise between two runs of an unchanged
// system is larger than the noise inside one run, so comparing one run
// with one run fails several percent of unchanged runs. The gate therefore
// compares with the merge of K baseline runs (default 5), bootstraps the
// percentile ratio exactly from the HDR histograms (one Beta draw per
// replicate: the r-th order statistic of a resample of n is x[ceil(n·V)],
// V ~ Beta(r, n−r+1)), adds a run-to-run term τ·sqrt(1+1/K) on the log
// scale (τ = 5 % until CalibrateTau measures it), and fails only when the
// change is both significant (one-sided α = 0.01) and practical (above the
// tolerance, 10 %). Below 200 requests per run it gives no verdict, and it
// warns when the run is too short to detect the regressions that matter.
//
// The API is shaped like golang.org/x/perf/benchmath: a comparison returns
// its verdict with the ratio, confidence interval, p-value, sample sizes,
// minimum detectable regression and warnings beside it.
//
//	c := gate.Compare(baseRuns, current, gate.P95, gate.Config{})
//	if c.Verdict == gate.Regressed {
//		t.Errorf("p95 %+.0f%% (98%% CI %+.0f%% .. %+.0f%%)", 100*c.Delta, 100*c.Lo, 100*c.Hi)
//	}
//
// Comparisons are deterministic: the bootstrap is seeded from the
// histograms, so a pair of runs always gets the same verdict.
package gate
