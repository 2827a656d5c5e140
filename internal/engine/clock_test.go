package engine

import (
	"testing"
	"time"

	"github.com/steadyload/steadyload/loadtest/result"
	"github.com/stretchr/testify/assert"
)

// TestGeneratorTrouble: what marks a window.
func TestGeneratorTrouble(t *testing.T) {
	tests := []struct {
		name string
		open bool
		late time.Duration
		lags []time.Duration
		want string
	}{
		{"healthy", true, 2 * time.Millisecond, []time.Duration{time.Millisecond, 3 * time.Millisecond}, ""},
		{"clock jumped", false, 12 * time.Second, nil, "the generator's clock jumped 12s: its machine was suspended or starved"},
		{"late but less than a window", true, 900 * time.Millisecond, nil, ""},
		{"starts far behind", true, 0, []time.Duration{400 * time.Millisecond}, "the generator was starved: its starts were 400ms behind schedule (p99)"},
		{"behind, closed model", false, 0, []time.Duration{400 * time.Millisecond}, ""},
		{"behind but within tolerance", true, 0, []time.Duration{40 * time.Millisecond}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := New[int](Config{Window: time.Second, LateTolerance: 10 * time.Millisecond, Coalesce: 10 * time.Millisecond, Open: tt.open}, nil, nil, Hooks{})
			for _, l := range tt.lags {
				e.winLag.RecordValue(result.Micros(l))
			}
			assert.Equal(t, tt.want, e.generatorTrouble(tt.late))
			assert.Zero(t, e.winLag.TotalCount(), "the window's lag is reset")
			assert.Equal(t, int64(len(tt.lags)), e.lag.TotalCount(), "the window's lag merged into the segment's")
		})
	}
}
