package loadtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowTargetNotStarved: starts that fall far behind schedule because
// every slot is taken by a slow target are the target's delay: they count
// in the latency and as waited, and no window is marked as the
// generator's (a scheduler that stalls on its own is:
// engine.TestGeneratorStarvedWindow).
func TestSlowTargetNotStarved(t *testing.T) {
	target := &fakeTarget{delay: 300 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.Window, sc.MaxInFlight = 10, 5*time.Second, time.Second, 1
	sc.MaxLateRatio = 1 // not about holding the rate
	seg, tb, _, _ := runSegments(t, sc, 0, false)
	require.NotNil(t, seg, tb.messages())
	assert.Zero(t, seg.Meta.Starved, "windows marked as the generator's")
	for _, w := range seg.Windows {
		assert.Empty(t, w.Generator, "why window %s is marked", w.Offset)
	}
	assert.Equal(t, int64(16), seg.Meta.Waited, "starts late for a slot: all made but the first")
	assert.Zero(t, seg.Meta.Late, "starts late by the generator's doing")
	assert.NotContains(t, tb.logText(), "the generator's, not charged to the target")
	assert.Contains(t, tb.logText(), "16 waited for a slot", "the summary")
	assert.Greater(t, seg.Total.Latency.ValueAtPercentile(50), int64(1_000_000), "p50 in µs; want the wait in the latency")
}
