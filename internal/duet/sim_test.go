package duet

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/steadyload/steadyload/internal/simstat"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/internal/gate"
)

var (
	long   = flag.Bool("duet.long", false, "run the duet simulation in full: every cell, 1000 trials each")
	trials = flag.Int("duet.trials", 0, "trials per cell of the full duet simulation (default 1000)")
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

// toP75 slows everything up to p75 by f, ramping down to no change at
// p95: a change of the body that reaches higher.
func toP75(f float64) shape {
	return func(u float64) float64 {
		switch {
		case u <= 0.75:
			return f
		case u >= 0.95:
			return 1
		}
		return 1 + (f-1)*(0.95-u)/0.20
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

// duetRun makes n pairs: A unchanged, B reshaped by s. With busy, one
// pair in ten meets a stall of the machine that delays both sides alike
// by up to 100 ms, and B is reshaped at its level in that measured
// distribution, so that a shape says what the measured percentiles do
// (a body slowed under stalls would move the measured p95 otherwise).
func duetRun(rng *rand.Rand, n int, s shape, busy bool) []Pair {
	out := make([]Pair, n)
	for i := range out {
		if !busy {
			out[i] = Pair{A: draw(rng, scale(1)), B: draw(rng, s)}
			continue
		}
		a, b := draw(rng, scale(1)), draw(rng, scale(1))
		if rng.IntN(10) == 0 {
			stall := 100e3 * rng.Float64()
			a, b = a+stall, b+stall
		}
		out[i] = Pair{A: a, B: b * s(busyLevel(b))}
	}
	return out
}

// busyLevel is the level of latency x (microseconds) in the busy
// machine's distribution: the lognormal, and one time in ten the
// lognormal plus a stall uniform in [0, 100 ms).
func busyLevel(x float64) float64 {
	cdf := func(y float64) float64 {
		if y <= 0 {
			return 0
		}
		return 0.5 * math.Erfc(-math.Log(y/20e3)/sigma/math.Sqrt2)
	}
	const steps = 100
	var stalled float64
	for i := range steps {
		stalled += cdf(x - (float64(i)+0.5)/steps*100e3)
	}
	return 0.9*cdf(x) + 0.1*stalled/steps
}

// simCell is a cell of the duet simulation: a change of the candidate,
// with the goal on its rate of FAIL.
type simCell struct {
	name       string
	s          shape
	medianOnly bool // a change of the body alone: p95 does not move
}

// simCells are the changes simulated.
var simCells = []simCell{
	{name: "A/A", s: scale(1)},
	{name: "×1.2", s: scale(1.2)},
	{name: "×1.3", s: scale(1.3)},
	{name: "×1.5", s: scale(1.5)},
	{name: "tail-only +30%", s: tailOnly(1.3)},
	{name: "median-only +30%", s: medianOnly(1.3), medianOnly: true},
	{name: "median-only +60%", s: medianOnly(1.6), medianOnly: true},
	{name: "median-only ×2", s: medianOnly(2), medianOnly: true},
	{name: "to-p75 +40%", s: toP75(1.4), medianOnly: true},
}

// minPower1_3 is the least share of 600-pair runs that must FAIL p95 at
// ×1.3 on the quiet machine: measured 63.7 % over 1 000 trials and 65 %
// in the default run's 100 (2026-12-03), with a margin.
const minPower1_3 = 0.5

// TestDuetSimulation measures how often duet runs FAIL p95, per change
// (simCells), number of pairs (300, 600 — the pull-request workflow's 20/s
// × 30 s — and 1 000) and machine (quiet, or busy: one pair in ten meets
// a stall that delays both sides alike), and checks the goals: A/A and
// every change of the body alone (median-only +30 %, +60 %, ×2, and +40 %
// up to p75, each ramping back to p95 unchanged) at most 1 %, and ×1.3 at
// 600 pairs caught in at least minPower1_3 of the runs. By default it runs
// the quiet machine's 600-pair cells that carry a goal, 100 trials each (a
// second or two; 20 under the race detector, which checks no goal then),
// and a goal fails only when the 95 % Wilson interval of its rate is all
// beyond it; -duet.long runs every cell, 1000 trials each
// (-duet.trials=N: N), holds the measured rates themselves to the goals,
// and logs the table of docs/gate.md.
func TestDuetSimulation(t *testing.T) {
	full := *long || *trials > 0
	n, sizes, machines, replicates := 100, []int{600}, []bool{false}, 500
	cells := []simCell{}
	for _, c := range simCells {
		if c.name == "A/A" || c.name == "×1.3" || c.medianOnly {
			cells = append(cells, c)
		}
	}
	switch {
	case full:
		n, sizes, machines, cells, replicates = 1000, []int{300, 600, 1000}, []bool{false, true}, simCells, gate.DefaultReplicates
		if *trials > 0 {
			n = *trials
		}
	case raceEnabled:
		n = 20
	}
	hdr := "| machine | pairs |"
	for _, c := range cells {
		hdr += " " + c.name + " |"
	}
	t.Log(hdr)
	for _, busy := range machines {
		machine := map[bool]string{false: "quiet", true: "busy"}[busy]
		for _, size := range sizes {
			line := fmt.Sprintf("| %s | %d |", machine, size)
			for _, c := range cells {
				i := slices.IndexFunc(simCells, func(x simCell) bool { return x.name == c.name })
				rng := rand.New(rand.NewPCG(uint64(i+1), map[bool]uint64{false: 1, true: 2}[busy]+uint64(size)))
				runs := make([][]Pair, n)
				for k := range runs {
					runs[k] = duetRun(rng, size, c.s, busy)
				}
				fails := countFails(runs, replicates)
				rate := float64(fails) / float64(n)
				line += fmt.Sprintf(" %.1f%% |", 100*rate)
				if raceEnabled && !full {
					continue
				}
				// The full run holds the rates themselves; the default's
				// 100 trials, their 95 % Wilson interval.
				lo, hi := simstat.Wilson(fails, n)
				if full {
					lo, hi = rate, rate
				}
				what := fmt.Sprintf("%s machine, %d pairs, %s: %d of %d runs FAIL p95 (95%% interval %.1f-%.1f%%)",
					machine, size, c.name, fails, n, 100*lo, 100*hi)
				switch {
				case c.name == "A/A" || c.medianOnly:
					assert.LessOrEqual(t, lo, 0.01, what)
				case c.name == "×1.3" && size == 600 && !busy:
					assert.GreaterOrEqual(t, hi, minPower1_3, what)
				}
			}
			t.Log(line)
		}
	}
}

// countFails counts the runs whose p95 FAILs, judged on two goroutines.
func countFails(runs [][]Pair, replicates int) int {
	var fails atomic.Int64
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for k := w; k < len(runs); k += 2 {
				if Compare("t", runs[k], gate.P95, gate.Config{Replicates: replicates}).Verdict == gate.Regressed {
					fails.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(fails.Load())
}

// burstyRun makes n pairs of unchanged targets whose stalls hit one side
// at a time and last: about one start in 60 begins a burst of 12
// consecutive starts during which one side, A or B at random, answers
// ×2.5 slower (one target's process descheduled, a GC, a noisy
// neighbour). Each side's p95 then rests on a few bursts, not on
// independent starts.
func burstyRun(rng *rand.Rand, n int) []Pair {
	out := make([]Pair, n)
	left, side := 0, 0
	for i := range out {
		a, b := draw(rng, scale(1)), draw(rng, scale(1))
		if left == 0 && rng.IntN(60) == 0 {
			left, side = 12, rng.IntN(2)
		}
		if left > 0 {
			left--
			if side == 0 {
				a *= 2.5
			} else {
				b *= 2.5
			}
		}
		out[i] = Pair{A: a, B: b, Seq: int64(i)}
	}
	return out
}

// TestBlocksHoldFalseAlarmsUnderBursts: stalls that last several starts
// and hit one side make p95's evidence lumpy. Resampling pairs one by one
// takes a burst's starts for independent and fails unchanged runs far
// more often than α (7 of 300 here); blocks of consecutive pairs bring it
// back to α (1 of 300, under bursts this severe: a sixth of the starts).
func TestBlocksHoldFalseAlarmsUnderBursts(t *testing.T) {
	trials, replicates := 300, 500
	if raceEnabled || testing.Short() {
		replicates = 200 // fewer trials would not show the control's excess
	}
	rng := rand.New(rand.NewPCG(18, 600))
	runs := make([][]Pair, trials)
	for i := range runs {
		runs[i] = burstyRun(rng, 600)
	}
	fails := func(block func(n int) int) int {
		k := 0
		for _, r := range runs {
			if compare("t", r, gate.P95, gate.Config{Replicates: replicates}, block(len(r))).Verdict == gate.Regressed {
				k++
			}
		}
		return k
	}
	one := fails(func(int) int { return 1 })
	blocks := fails(BlockLen)
	t.Logf("unchanged bursty runs failing p95 at 600 pairs: %d/%d one by one, %d/%d in blocks of %d", one, trials, blocks, trials, BlockLen(600))
	lo, _ := simstat.Wilson(one, trials)
	_, hi := simstat.Wilson(blocks, trials)
	assert.Greater(t, lo, 0.01, "pairs resampled one by one should fail bursty unchanged runs beyond 1%% (else this test shows nothing): %d/%d", one, trials)
	assert.LessOrEqual(t, float64(blocks), max(1, 0.02*float64(trials)), "blocks of %d: %d/%d unchanged bursty runs failed p95 (95%% CI up to %.1f%%)", BlockLen(600), blocks, trials, 100*hi)
}
