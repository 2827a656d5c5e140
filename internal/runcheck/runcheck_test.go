package runcheck

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/loadtest/result"
)

// TestHeldRate: a generator fails to hold its rate when its late and
// dropped starts are above the limit by more than chance explains.
func TestHeldRate(t *testing.T) {
	tests := []struct {
		scheduled, late, dropped int64
		max                      float64
		want                     bool
	}{
		{30, 0, 0, 0.01, true},
		{30, 1, 0, 0.01, true},     // 3.3 %, but one in thirty: P(X ≥ 1) = 26 %
		{30, 3, 0, 0.01, false},    // P(X ≥ 3) = 0.3 %
		{30, 0, 3, 0.01, false},    // dropped count as well
		{1000, 15, 0, 0.01, true},  // P(X ≥ 15) = 8 %
		{1000, 20, 0, 0.01, false}, // P(X ≥ 20) = 0.3 %
		{1000, 10, 0, 0.01, true},  // at the limit
		{100, 1, 0, 0, false},      // no late start allowed
		{0, 0, 0, 0.01, true},
	}
	for _, tt := range tests {
		m := result.Meta{Model: "open", Scheduled: tt.scheduled, Late: tt.late, Dropped: tt.dropped}
		assert.Equal(t, tt.want, HeldRate(m, tt.max), "HeldRate(%d scheduled, %d late, %d dropped, max %g)", tt.scheduled, tt.late, tt.dropped, tt.max)
	}
}
