package duet

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/internal/gate"
)

var (
	long   = flag.Bool("duet.long", false, "run the duet simulation with many trials")
	trials = flag.Int("duet.trials", 0, "trials per cell of the duet simulation (default 40, 1000 with -duet.long)")
)

// sigma makes lognormal latency with median 20 ms and p95 60 ms.
var sigma = math.Log(3) / 1.6448536269514722

// shape reshapes a latency at its probability level u.
type shape func(u float64) float64

func scale(f float64) shape { return func(float64) float64 { return f } }

// medianOnly slows the body up to p50 by f, ramping down to no change
// at p95: p95 itself does not move.
func medianOnly(f float64) shape {
	return func(u float64) float64 {
		switch {
		case u <= 0.5:
			return f
		case u >= 0.95:
			return 1
		}
		return 1 + (f-1)*(0.95-u)/0.45
	}
}

// tailOnly slows from p95 up by f, ramping up from p50.
func tailOnly(f float64) shape {
	return func(u float64) float64 {
		switch {
		case u <= 0.5:
			return 1
		case u >= 0.95:
			return f
		}
		return 1 + (f-1)*(u-0.5)/0.45
	}
}

// draw is one latency in microseconds, reshaped.
func draw(rng *rand.Rand, s shape) float64 {
	z := rng.NormFloat64()
	u := 0.5 * math.Erfc(-z/math.Sqrt2)
	return 20e3 * math.Exp(sigma*z) * s(u)
}

// duetRun makes n pairs: A unchanged, B reshaped by s; with busy, one
// pair in ten meets a stall of the machine that delays both sides alike
// by up to 100 ms.
func duetRun(rng *rand.Rand, n int, s shape, busy bool) []Pair {
	out := make([]Pair, n)
	for i := range out {
		a, b := draw(rng, scale(1)), draw(rng, s)
		if busy && rng.IntN(10) == 0 {
			stall := 100e3 * rng.Float64()
			a, b = a+stall, b+stall
		}
		out[i] = Pair{A: a, B: b}
	}
	return out
}

// TestDuetSimulation measures how often duet runs of 300 pairs FAIL p95:
// unchanged (A/A), slowed ×1.2, ×1.3, ×1.5, a tail-only and a
// median-only change, on a quiet and on a busy machine.
func TestDuetSimulation(t *testing.T) {
	n := *trials
	if n == 0 {
		n = 40
		if *long {
			n = 1000
		}
	}
	type cell struct {
		name     string
		s        shape
		min, max float64 // the goals, as rates of FAIL
	}
	cases := []cell{
		{"A/A", scale(1), 0, 0.01},
		{"x1.2", scale(1.2), 0, 1},
		{"x1.3", scale(1.3), 0.9, 1},
		{"x1.5", scale(1.5), 0.99, 1},
		{"tail-only +30%", tailOnly(1.3), 0, 1},
		{"median-only +30%", medianOnly(1.3), 0, 0.01},
		{"median-only x1.6", medianOnly(1.6), 0, 0.02},
	}
	machines := []bool{false, true}
	full := *long || *trials > 0
	if !full { // a quick check that the statistic still tells
		cases, machines = []cell{{"A/A", scale(1), 0, 0.05}, {"x1.5", scale(1.5), 0.8, 1}}, []bool{false}
	}
	t.Logf("| machine | change | FAIL | trials |")
	for _, busy := range machines {
		for i, tc := range cases {
			rng := rand.New(rand.NewPCG(uint64(i+1), map[bool]uint64{false: 1, true: 2}[busy]))
			fails := 0
			for range n {
				row := Compare("t", duetRun(rng, 300, tc.s, busy), gate.P95, gate.Config{Replicates: 500})
				if row.Verdict == gate.Regressed {
					fails++
				}
			}
			rate := float64(fails) / float64(n)
			machine := map[bool]string{false: "quiet", true: "busy"}[busy]
			t.Logf("| %s | %s | %.1f%% | %d |", machine, tc.name, 100*rate, n)
			if n >= 200 || !full { // the goals hold only over enough trials to tell
				assert.GreaterOrEqual(t, rate, tc.min, fmt.Sprintf("%s %s", machine, tc.name))
				assert.LessOrEqual(t, rate, tc.max, fmt.Sprintf("%s %s", machine, tc.name))
			}
		}
	}
}
