package trend

import (
	"math"

	"github.com/montanaflynn/stats"
)

// Line is a straight line through a series observed at steps 0, 1, 2, ...
type Line struct {
	Slope     float64 // change per step
	Intercept float64 // value at step 0
}

// At returns the line's value at step i.
func (l Line) At(i float64) float64 { return l.Intercept + l.Slope*i }

// TheilSen fits the Theil-Sen line to xs, x being the index: the slope is
// the median of the slopes between every pair of values (Sen 1968), the
// intercept the median of x[i] − slope·i. Half the values can be outliers
// without moving it. NaNs are skipped; fewer than two values give a flat
// line (through the one value, if any). The cost is quadratic in len(xs).
func TheilSen(xs []float64) Line {
	var idx []int
	for i, x := range xs {
		if !math.IsNaN(x) {
			idx = append(idx, i)
		}
	}
	switch len(idx) {
	case 0:
		return Line{Intercept: math.NaN()}
	case 1:
		return Line{Intercept: xs[idx[0]]}
	}
	slopes := make([]float64, 0, len(idx)*(len(idx)-1)/2)
	for a := 0; a < len(idx); a++ {
		for b := a + 1; b < len(idx); b++ {
			i, j := idx[a], idx[b]
			slopes = append(slopes, (xs[j]-xs[i])/float64(j-i))
		}
	}
	slope := median(slopes)
	rest := make([]float64, len(idx))
	for k, i := range idx {
		rest[k] = xs[i] - slope*float64(i)
	}
	return Line{Slope: slope, Intercept: median(rest)}
}

// SenSlope returns the Theil-Sen slope of xs per step: TheilSen(xs).Slope.
func SenSlope(xs []float64) float64 { return TheilSen(xs).Slope }

// median returns the median of s (not empty).
func median(s []float64) float64 {
	m, _ := stats.Median(s)
	return m
}
