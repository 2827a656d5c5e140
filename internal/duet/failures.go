package duet

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/steadyload/steadyload/internal/gate"
)

// CompareFailures judges the failure ratios of a task's starts, the
// candidate's (B) against the base's (A), on the pairs: each start ran on
// both sides, so only the discordant starts, where one side failed and
// the other did not, tell the two ratios apart (McNemar's idea). Under
// "no change" each discordant start is the candidate's failure with
// probability ½: the one-sided p-value is the exact binomial tail of
// OnlyB among OnlyA+OnlyB, and the interval of the difference B−A is the
// Clopper-Pearson interval of that probability at 1−2·Alpha, scaled by
// the discordant share of the starts. No resampling, no seed: the same
// counts always give the same row.
//
// The verdict is Regressed (FAIL) when the rise is significant (its
// lower bound above 0, which is p < Alpha) and the difference is above
// FailureTolerance (one percentage point by default), as the stored
// baseline's failures rule; Improved in the mirror case; Within when the
// difference is significant but within the tolerance; Same otherwise.
// Fewer than MinRequests starts give no verdict.
func CompareFailures(task string, o Outcomes, c gate.Config) Row {
	c = c.Normalize()
	row := Row{Task: task, Metric: gate.Failures, N: int(o.Starts), Seen: o.Starts, Outcomes: o, Tolerance: c.FailureTolerance, Alpha: c.Alpha,
		A: math.NaN(), B: math.NaN(), Ratio: math.NaN(), Delta: math.NaN(), Shift: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN()}
	switch {
	case o.Starts <= 0:
		row.Warnings = append(row.Warnings, "no start ran on both sides")
		return row
	case o.OnlyA < 0 || o.OnlyB < 0 || o.Both < 0 || o.OnlyA+o.OnlyB+o.Both > o.Starts:
		row.Warnings = append(row.Warnings, "inconsistent counts: more failures than starts")
		return row
	}
	n := float64(o.Starts)
	row.A, row.B = float64(o.FailedA())/n, float64(o.FailedB())/n
	row.Delta = row.B - row.A
	if o.Starts < int64(c.MinRequests) {
		row.Warnings = append(row.Warnings, fmt.Sprintf("too few pairs for a verdict: %d; need %d", o.Starts, c.MinRequests))
		return row
	}
	m, x := o.OnlyA+o.OnlyB, o.OnlyB
	if m == 0 { // no start failed on one side only: no evidence of a difference
		row.Lo, row.Hi, row.P = 0, 0, 1
		row.Verdict = gate.Same
		return row
	}
	row.P = binomialTail(x, m)
	lo, hi := clopperPearson(x, m, c.Alpha)
	share := float64(m) / n
	row.Lo, row.Hi = (2*lo-1)*share, (2*hi-1)*share
	switch {
	case row.Lo > 0 && row.Delta > c.FailureTolerance:
		row.Verdict = gate.Regressed
	case row.Hi < 0 && row.Delta < -c.FailureTolerance:
		row.Verdict = gate.Improved
	case row.Lo > 0 || row.Hi < 0:
		row.Verdict = gate.Within
	default:
		row.Verdict = gate.Same
	}
	return row
}

// binomialTail is P(X ≥ x) for X ~ Binomial(m, ½).
func binomialTail(x, m int64) float64 {
	if x <= 0 {
		return 1
	}
	return 1 - distuv.Binomial{N: float64(m), P: 0.5}.CDF(float64(x-1))
}

// clopperPearson bounds the probability of x successes in m trials, each
// bound one-sided at alpha.
func clopperPearson(x, m int64, alpha float64) (lo, hi float64) {
	lo, hi = 0, 1
	if x > 0 {
		lo = distuv.Beta{Alpha: float64(x), Beta: float64(m - x + 1)}.Quantile(alpha)
	}
	if x < m {
		hi = distuv.Beta{Alpha: float64(x + 1), Beta: float64(m - x)}.Quantile(1 - alpha)
	}
	return lo, hi
}
