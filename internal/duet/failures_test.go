package duet

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/internal/gate"
)

// outcomes simulates n starts: each side fails on its own with
// probability pa or pb, and both fail together (an outage of the machine
// both share) with probability both.
func outcomes(rng *rand.Rand, n int, pa, pb, both float64) Outcomes {
	var o Outcomes
	for range n {
		o.Starts++
		shared := rng.Float64() < both
		a, b := shared || rng.Float64() < pa, shared || rng.Float64() < pb
		switch {
		case a && b:
			o.Both++
		case a:
			o.OnlyA++
		case b:
			o.OnlyB++
		}
	}
	return o
}

// TestCompareFailuresRates measures, in seeded simulations of 600-pair
// runs, the paired failure test's false alarms (A/A: both sides fail 3 %
// of their starts, some together) and its power at +5 points.
func TestCompareFailuresRates(t *testing.T) {
	const trials, n = 2000, 600
	c := gate.Config{}.Normalize()
	rng := rand.New(rand.NewPCG(5, 6))
	var fails, significant int
	for range trials {
		row := CompareFailures("t", outcomes(rng, n, 0.03, 0.03, 0.01), c)
		if row.Verdict == gate.Regressed {
			fails++
		}
		if row.P < c.Alpha {
			significant++
		}
	}
	t.Logf("A/A: %d of %d runs FAIL, %d significant rises", fails, trials, significant)
	assert.LessOrEqual(t, float64(fails), 0.01*trials, "A/A false alarms")
	assert.LessOrEqual(t, float64(significant), 0.01*trials, "the exact test's level holds without the tolerance's help")

	caught := 0
	for range trials {
		if row := CompareFailures("t", outcomes(rng, n, 0.01, 0.06, 0.005), c); row.Verdict == gate.Regressed {
			caught++
		}
	}
	t.Logf("+5 pts: %d of %d runs FAIL", caught, trials)
	assert.GreaterOrEqual(t, float64(caught), 0.99*trials, "power at +5 points, 600 pairs")
}

func TestCompareFailuresVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Outcomes
		want gate.Verdict
	}{
		{"none failed", Outcomes{Starts: 600}, gate.Same},
		{"same failures", Outcomes{Starts: 600, Both: 30}, gate.Same},
		{"+5 pts", Outcomes{Starts: 600, OnlyB: 30}, gate.Regressed},
		// +0.8 points, certain at 20 000 starts, is within the tolerance.
		{"rise below tolerance", Outcomes{Starts: 20000, OnlyB: 200, OnlyA: 40}, gate.Within},
		// +1.33 points either way: 8 starts failed on B alone against 0
		// is significant (p=0.004), 14 against 6 is not (p=0.058).
		{"+1.33 pts, 8 against 0", Outcomes{Starts: 600, OnlyB: 8}, gate.Regressed},
		{"+1.33 pts, 14 against 6", Outcomes{Starts: 600, OnlyB: 14, OnlyA: 6}, gate.Same},
		{"-5 pts", Outcomes{Starts: 600, OnlyA: 30}, gate.Improved},
		{"too few", Outcomes{Starts: 100, OnlyB: 50}, gate.NoVerdict},
		{"inconsistent", Outcomes{Starts: 10, OnlyB: 11}, gate.NoVerdict},
	} {
		row := CompareFailures("t", tc.o, gate.Config{})
		assert.Equal(t, tc.want, row.Verdict, "CompareFailures(%s %+v) = %s; want %s (%s)", tc.name, tc.o, row.Verdict, tc.want, row.Message())
	}
}
