// Package trend tests series of measurements for a steady rise or a step:
// a latency or a server gauge creeping up within one run (a leak, a
// backlog), a nightly figure drifting up across runs, a level that stepped
// at some run.
//
// The statistics are distribution-free and deterministic:
//
//   - MannKendall: the one-sided Mann-Kendall trend test, with the exact
//     null distribution of S for up to ExactLimit values (ties included)
//     and the tie-corrected normal approximation above.
//   - TheilSen: the Theil-Sen line (median of pairwise slopes), robust to
//     outliers.
//   - Leak and Drift: a trend that is both significant (Mann-Kendall) and
//     large (Theil-Sen growth over the series, or per step, above a
//     threshold). Significance without a size is not an alarm.
//   - ChangePoints: E-divisive split search with a Student t-test and the
//     weak-point merge of Hunter / Apache Otava (Fleming et al., ICPE 2023).
//
// Values that are NaN are missing (a window without requests): they are
// skipped, and the others keep their positions.
//
//	r := trend.Leak(windowMedians, trend.LeakOptions{Log: true})
//	if r.Rising {
//		fmt.Printf("grew %+.0f%% over the run (p = %.3f)\n", 100*r.Growth, r.MK.P)
//	}
package trend
