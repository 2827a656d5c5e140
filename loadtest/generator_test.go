package loadtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

// TestGeneratorStarved: starts that fall far behind schedule (here, every
// slot taken by a slow target) mark their windows as the generator's,
// and the segment counts them.
func TestGeneratorStarved(t *testing.T) {
	target := &fakeTarget{delay: 300 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.Window, sc.MaxInFlight = 10, 5*time.Second, time.Second, 1
	sc.MaxLateRatio = 1 // not about holding the rate
	seg, tb, _, _ := runSegments(t, sc, 0, false)
	require.NotNil(t, seg, tb.messages())
	assert.Positive(t, seg.Meta.Starved, "windows marked as the generator's")
	marked := 0
	for _, w := range seg.Windows {
		if w.Generator != "" {
			marked++
			assert.Contains(t, w.Generator, "the generator was starved: its starts were", "why window %s is marked", w.Offset)
		}
	}
	assert.Positive(t, marked, "rows marked")
	assert.Contains(t, tb.logText(), "its latencies are the generator's, not charged to the target")
}

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
			r := &runner{plan: &plan{Scenario: Scenario{Window: time.Second, LateTolerance: 10 * time.Millisecond, Coalesce: 10 * time.Millisecond}, open: tt.open}}
			r.lag, r.winLag = result.NewWindowHistogram(), result.NewWindowHistogram()
			for _, l := range tt.lags {
				r.winLag.RecordValue(micros(l))
			}
			assert.Equal(t, tt.want, r.generatorTrouble(tt.late))
			assert.Zero(t, r.winLag.TotalCount(), "the window's lag is reset")
			assert.Equal(t, int64(len(tt.lags)), r.lag.TotalCount(), "the window's lag merged into the segment's")
		})
	}
}
