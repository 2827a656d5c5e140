package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRatePace(t *testing.T) {
	tests := []struct {
		rate    ConstantRate
		elapsed time.Duration
		hits    uint64
		wait    time.Duration
		stop    bool
	}{
		{ConstantRate{Freq: 10}, 0, 0, 0, false},
		{ConstantRate{Freq: 10}, 0, 1, 100 * time.Millisecond, false},
		{ConstantRate{Freq: 10}, 50 * time.Millisecond, 1, 50 * time.Millisecond, false},
		{ConstantRate{Freq: 10}, 150 * time.Millisecond, 1, 0, false}, // behind: start now
		{ConstantRate{Freq: 0.5}, 0, 1, 2 * time.Second, false},
		{ConstantRate{Freq: 0.5}, time.Second, 3, 5 * time.Second, false},
		{ConstantRate{Freq: 3, Per: time.Minute}, 0, 1, 20 * time.Second, false},
		{ConstantRate{Freq: 1000}, time.Second, 1000, 0, false},
		{ConstantRate{Freq: 1000}, time.Second, 1001, time.Millisecond, false},
		{ConstantRate{Freq: 0}, 0, 0, 0, true},
		{ConstantRate{Freq: -1}, 0, 0, 0, true},
	}
	for _, tt := range tests {
		wait, stop := tt.rate.Pace(tt.elapsed, tt.hits)
		assert.Equal(t, tt.wait, wait, "%v.Pace(%s, %d): wait", tt.rate, tt.elapsed, tt.hits)
		assert.Equal(t, tt.stop, stop, "%v.Pace(%s, %d): stop", tt.rate, tt.elapsed, tt.hits)
	}
}

func TestRateString(t *testing.T) {
	for _, tt := range []struct {
		r    ConstantRate
		want string
	}{
		{ConstantRate{Freq: 10}, "10/s"},
		{ConstantRate{Freq: 0.5}, "0.5/s"},
		{ConstantRate{Freq: 3, Per: time.Minute}, "3/1m0s"},
	} {
		assert.Equal(t, tt.want, tt.r.String(), "%#v.String()", tt.r)
	}
}
