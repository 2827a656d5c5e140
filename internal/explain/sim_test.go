package explain

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
)

var simLong = flag.Bool("explain.long", false, "run TestRankSimulation with 1,000 trials per cell and 360 windows too (a minute or more)")

// gen makes a series of n values.
type gen func(rng *rand.Rand, n int) []float64

// The signals that have nothing to do with the latency.
var independent = []struct {
	name string
	gen  gen
}{
	{"random walk", randomWalk},
	{"AR(1) φ=0.9", func(rng *rand.Rand, n int) []float64 {
		xs := make([]float64, n)
		x := rng.NormFloat64() / math.Sqrt(1-0.81) // stationary from the start
		for i := range xs {
			xs[i] = 100 + x
			x = 0.9*x + rng.NormFloat64()
		}
		return xs
	}},
	{"white noise", func(rng *rand.Rand, n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 100 + rng.NormFloat64()
		}
		return xs
	}},
	{"slow sine", func(rng *rand.Rand, n int) []float64 {
		// A period of a quarter to the whole of the series, a phase
		// anywhere, and a tenth of its amplitude as noise.
		period := float64(n) * (0.25 + 0.75*rng.Float64())
		phase := 2 * math.Pi * rng.Float64()
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 100 + math.Sin(2*math.Pi*float64(i)/period+phase) + 0.1*rng.NormFloat64()
		}
		return xs
	}},
}

func randomWalk(rng *rand.Rand, n int) []float64 {
	xs := make([]float64, n)
	x := 100.0
	for i := range xs {
		xs[i] = x
		x += rng.NormFloat64()
	}
	return xs
}

// stepAt is where a step falls: between a quarter and three quarters of
// the series.
func stepAt(rng *rand.Rand, n int) int {
	return n/4 + rng.IntN(n/2+1)
}

// The latencies, with a relative noise of 10 %.
var latencies = []struct {
	name string
	gen  gen
}{
	{"ramp", func(rng *rand.Rand, n int) []float64 { // a leak: 10 → 30 ms
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = (10 + 20*float64(i)/float64(n-1)) * (1 + 0.1*rng.NormFloat64())
		}
		return xs
	}},
	{"step", func(rng *rand.Rand, n int) []float64 { // 10 → 20 ms
		at := stepAt(rng, n)
		xs := make([]float64, n)
		for i := range xs {
			level := 10.0
			if i >= at {
				level = 20
			}
			xs[i] = level * (1 + 0.1*rng.NormFloat64())
		}
		return xs
	}},
	{"flat", func(rng *rand.Rand, n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 10 * (1 + 0.1*rng.NormFloat64())
		}
		return xs
	}},
}

// The signals that drive the latency: latency = 10 ms + a·signal + noise
// of 1 ms, an effect that is clear by eye.
var driving = []struct {
	name string
	gen  gen // the signal
	a    float64
	// measured: the signal is read with noise of 0.1 the latency does
	// not share.
	measured bool
	from     int // the fewest values it must be named first over in 95 % of the trials
}{
	{"ramp", func(rng *rand.Rand, n int) []float64 { // 1 → 2, with noise of 0.05
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 1 + float64(i)/float64(n-1) + 0.05*rng.NormFloat64()
		}
		return xs
	}, 20, false, 24},
	{"step", func(rng *rand.Rand, n int) []float64 { // 1 → 2, with noise of 0.1
		at := stepAt(rng, n)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 1 + 0.1*rng.NormFloat64()
			if i >= at {
				xs[i]++
			}
		}
		return xs
	}, 10, false, 24},
	{"random walk", randomWalk, 2, false, 24},
	// A gauge without noise of its own, that ramps in step with the
	// latency: nothing but the shape to go by.
	{"bare ramp", func(rng *rand.Rand, n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 1 + float64(i)/float64(n-1)
		}
		return xs
	}, 20, false, 24},
	// A step read with noise the latency does not share: nothing but
	// the place of the step to go by.
	{"measured step", func(rng *rand.Rand, n int) []float64 {
		at := stepAt(rng, n)
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 1
			if i >= at {
				xs[i] = 2
			}
		}
		return xs
	}, 10, true, 60},
}

// The sizes: windows of a run, and runs of a history.
var (
	windowSizes = []int{30, 120}
	runSizes    = []int{8, 24, 60}
)

// TestRankSimulation counts, over seeded trials, how often Rank names a
// signal that has nothing to do with the latency — a random walk, an
// AR(1) series, white noise, a slow sine, against a latency that ramps,
// steps or stays flat — and how often it names first a signal that
// drives the latency (beside the four independent ones). Independent
// signals are tested alone (no Bonferroni share to hide behind) and may
// be named in at most 5 % of the trials, pooled over the sizes of each
// scale (over each size with -explain.long); driving ones must be named
// first in at least 95 % of the trials of each size from 24 values (a
// step read with noise of its own, from 60); below, the figures are only
// logged (-v). The default runs 100 trials per size; -explain.long
// 1,000, and 360 windows too; the race detector only the smaller sizes.
func TestRankSimulation(t *testing.T) {
	trials := 100
	windows, runs := windowSizes, runSizes
	switch {
	case *simLong:
		trials, windows = 1000, append(windows, 360)
	case raceEnabled:
		windows, runs = windows[:1], runs[:2]
	}
	scales := []struct {
		name  string
		sizes []int
	}{{"windows", windows}, {"runs", runs}}
	for li, lat := range latencies {
		for si, sig := range independent {
			for _, sc := range scales {
				t.Run(fmt.Sprintf("%s/%s latency/%s", sig.name, lat.name, sc.name), func(t *testing.T) {
					t.Parallel()
					named, total := 0, 0
					for _, n := range sc.sizes {
						rng := rand.New(rand.NewPCG(uint64(100*li+si), uint64(n)))
						got := 0
						for range trials {
							if len(Rank(lat.gen(rng, n), []Series{{sig.name, sig.gen(rng, n)}}, Options{})) > 0 {
								got++
							}
						}
						t.Logf("%d %s: named in %d of %d trials", n, sc.name, got, trials)
						if *simLong {
							assert.LessOrEqual(t, got, trials/20, "%s against a %s latency over %d %s: trials named, of %d", sig.name, lat.name, n, sc.name, trials)
						}
						named, total = named+got, total+trials
					}
					assert.LessOrEqual(t, named, total/20, "%s against a %s latency over %v %s: trials named, of %d", sig.name, lat.name, sc.sizes, sc.name, total)
				})
			}
		}
	}
	for di, d := range driving {
		for _, n := range append(append([]int{}, runs...), windows...) {
			t.Run(fmt.Sprintf("driving %s/%d", d.name, n), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(1000+di), uint64(n)))
				first := 0
				for range trials {
					s := d.gen(rng, n)
					lat := make([]float64, n)
					for i := range lat {
						lat[i] = 10 + d.a*s[i] + rng.NormFloat64()
					}
					if d.measured {
						// The gauge is read with noise of its own, which
						// the latency does not share.
						for i := range s {
							s[i] += 0.1 * rng.NormFloat64()
						}
					}
					sigs := []Series{{"driver", s}}
					for _, ind := range independent {
						sigs = append(sigs, Series{ind.name, ind.gen(rng, n)})
					}
					if got := Rank(lat, sigs, Options{}); len(got) > 0 && got[0].Signal == "driver" {
						first++
					}
				}
				t.Logf("%s driving the latency over %d values: named first in %d of %d trials", d.name, n, first, trials)
				if n >= d.from {
					assert.GreaterOrEqual(t, first, trials*95/100, "%s driving the latency over %d values: trials named first, of %d", d.name, n, trials)
				}
			})
		}
	}
}
