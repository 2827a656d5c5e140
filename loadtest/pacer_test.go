package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRatePace(t *testing.T) {
	tests := []struct {
		rate    constantRate
		elapsed time.Duration
		hits    uint64
		wait    time.Duration
		stop    bool
	}{
		{constantRate{Freq: 10}, 0, 0, 0, false},
		{constantRate{Freq: 10}, 0, 1, 100 * time.Millisecond, false},
		{constantRate{Freq: 10}, 50 * time.Millisecond, 1, 50 * time.Millisecond, false},
		{constantRate{Freq: 10}, 150 * time.Millisecond, 1, 0, false}, // behind: start now
		{constantRate{Freq: 0.5}, 0, 1, 2 * time.Second, false},
		{constantRate{Freq: 0.5}, time.Second, 3, 5 * time.Second, false},
		{constantRate{Freq: 3, Per: time.Minute}, 0, 1, 20 * time.Second, false},
		{constantRate{Freq: 1000}, time.Second, 1000, 0, false},
		{constantRate{Freq: 1000}, time.Second, 1001, time.Millisecond, false},
		{constantRate{Freq: 0}, 0, 0, 0, true},
		{constantRate{Freq: -1}, 0, 0, 0, true},
	}
	for _, tt := range tests {
		wait, stop := tt.rate.Pace(tt.elapsed, tt.hits)
		assert.Equal(t, tt.wait, wait, "%v.Pace(%s, %d): wait", tt.rate, tt.elapsed, tt.hits)
		assert.Equal(t, tt.stop, stop, "%v.Pace(%s, %d): stop", tt.rate, tt.elapsed, tt.hits)
	}
}

func TestRateString(t *testing.T) {
	for _, tt := range []struct {
		r    constantRate
		want string
	}{
		{constantRate{Freq: 10}, "10/s"},
		{constantRate{Freq: 0.5}, "0.5/s"},
		{constantRate{Freq: 3, Per: time.Minute}, "3/1m0s"},
	} {
		assert.Equal(t, tt.want, tt.r.String(), "%#v.String()", tt.r)
	}
}

func TestThink(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		wait   Wait
		took   time.Duration
		lo, hi time.Duration
		name   string
	}{
		{Constant(time.Second), 300 * time.Millisecond, time.Second, time.Second, "constant(1s)"},
		{Constant(0), time.Second, 0, 0, "constant(0s)"},
		{ConstantPacing(time.Second), 300 * time.Millisecond, 700 * time.Millisecond, 700 * time.Millisecond, "constant_pacing(1s)"},
		{ConstantPacing(time.Second), 1500 * time.Millisecond, 0, 0, "constant_pacing(1s)"},
		{Between(time.Second, 5*time.Second), 0, time.Second, 5 * time.Second, "between(1s,5s)"},
		{Between(2*time.Second, 2*time.Second), 0, 2 * time.Second, 2 * time.Second, "between(2s,2s)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.name, tt.wait.String(), "String()")
		for range 1000 {
			got := tt.wait.Think(tt.took, r)
			require.GreaterOrEqual(t, got, tt.lo, "%s.Think(%s); want within [%s, %s]", tt.wait, tt.took, tt.lo, tt.hi)
			require.LessOrEqual(t, got, tt.hi, "%s.Think(%s); want within [%s, %s]", tt.wait, tt.took, tt.lo, tt.hi)
		}
	}
}

// TestBetweenUniform checks Between draws uniformly: the mean and both
// ends of the range show up.
func TestBetweenUniform(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := Between(time.Second, 5*time.Second)
	const n = 20000
	var sum time.Duration
	low, high := 0, 0
	for range n {
		d := w.Think(0, r)
		sum += d
		if d < 1100*time.Millisecond {
			low++
		}
		if d > 4900*time.Millisecond {
			high++
		}
	}
	assert.InDelta(t, 3*time.Second, sum/n, float64(50*time.Millisecond), "mean think time; want 3s ± 50ms")
	// Each 100 ms end holds 2.5% of draws: 500 ± 5 sd.
	assert.InDelta(t, 500, low, 100, "draws in the first 100ms")
	assert.InDelta(t, 500, high, 100, "draws in the last 100ms")
}

func TestValidWait(t *testing.T) {
	for _, tt := range []struct {
		w  Wait
		ok bool
	}{
		{Between(time.Second, 5*time.Second), true},
		{Between(5*time.Second, time.Second), false},
		{Between(-time.Second, time.Second), false},
		{Constant(-1), false},
		{ConstantPacing(0), false},
		{ConstantPacing(time.Second), true},
	} {
		if err := validWait(tt.w); tt.ok {
			assert.NoError(t, err, "validWait(%s)", tt.w)
		} else {
			assert.Error(t, err, "validWait(%s)", tt.w)
		}
	}
}
