// Package simstat holds what the simulations of the gate and of the duet
// share to judge their own counts: the interval of a rate counted over
// seeded trials.
package simstat

import "math"

// Wilson returns the 95 % Wilson score interval of k successes in n
// trials: the range of rates that k of n does not rule out, sound near 0
// and 1 where the normal interval is not.
func Wilson(k, n int) (lo, hi float64) {
	const z = 1.959963984540054
	p := float64(k) / float64(n)
	d := 1 + z*z/float64(n)
	c := (p + z*z/(2*float64(n))) / d
	h := z * math.Sqrt(p*(1-p)/float64(n)+z*z/(4*float64(n)*float64(n))) / d
	return c - h, c + h
}
