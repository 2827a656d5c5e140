package loadtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
