package simstat

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWilson(t *testing.T) {
	for _, tc := range []struct {
		k, n   int
		lo, hi float64
	}{
		// Reference values of the 95 % Wilson score interval.
		{0, 100, 0, 0.0370},
		{1, 100, 0.0018, 0.0545},
		{50, 100, 0.4038, 0.5962},
		{100, 100, 0.9630, 1},
		{7, 300, 0.0113, 0.0474},
	} {
		lo, hi := Wilson(tc.k, tc.n)
		assert.InDelta(t, tc.lo, lo, 1e-4, "Wilson(%d, %d) low", tc.k, tc.n)
		assert.InDelta(t, tc.hi, hi, 1e-4, "Wilson(%d, %d) high", tc.k, tc.n)
	}
}
