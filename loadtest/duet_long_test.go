package loadtest

import (
	"flag"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	duetLong   = flag.Bool("duet.long", false, "run the duet's black-box error rates in full (dozens of runs per cell)")
	duetRuns   = flag.Int("duet.runs", 0, "duet runs per cell of TestDuetErrorRates (default 1, 30 with -duet.long)")
	duetLength = flag.Duration("duet.length", 3*time.Second, "each run's length in TestDuetErrorRates, at 200 starts/s (3s: 600 pairs)")
	duetSeed   = flag.Uint64("duet.seed", 100, "the servers' first latency seed in TestDuetErrorRates (run i seeds the base with seed+2i, the candidate with seed+2i+1)")
)

// startHog keeps every core busy with a spinning child process until the
// test ends.
func startHog(t *testing.T) {
	t.Helper()
	for range runtime.NumCPU() {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

// TestDuetErrorRates counts, black-box, how often duet runs of about 600
// pairs (200/s × 3 s; -duet.length sets another length) against two
// loopback servers with lognormal latency FAIL p95: the same speed (false
// alarms) and a candidate ×1.3 slower (power), on a quiet machine and
// with a CPU hog on every core, in both orders of the pair. The default
// makes one concurrent run per cell and checks only that ×2.5 fails and
// A/A passes; -duet.long makes 30 (-duet.runs=N makes N) and checks the
// goals: A/A at most 1 % (one run when fewer than 100), ×1.3 caught in at
// least 40 % (the simulation's 600 pairs reach about half: docs/gate.md).
// The servers' latencies are seeded alike in every cell: the hog and the
// order are all that differ.
func TestDuetErrorRates(t *testing.T) {
	runs := *duetRuns
	if runs == 0 {
		runs = 1
		if *duetLong {
			runs = 30
		}
	}
	orders := []DuetOrder{DuetConcurrent}
	if *duetLong || *duetRuns > 0 {
		orders = append(orders, DuetShuffled)
	}
	full := *duetLong || *duetRuns > 0
	slow := 1.3
	if !full {
		slow = 2.5 // one run tells only a large change, on a machine however busy
	}
	t.Logf("| machine | order | change | FAIL p95 | runs |")
	for _, hog := range []bool{false, true} {
		for _, order := range orders {
			for _, f := range []float64{1, slow} {
				name := fmt.Sprintf("hog=%v/%s/x%.1f", hog, order, f)
				t.Run(name, func(t *testing.T) {
					if hog {
						startHog(t)
					}
					fails := 0
					for i := range runs {
						base, _ := lognormalServer(t, *duetSeed+uint64(2*i), unchanged)
						cand, _ := lognormalServer(t, *duetSeed+uint64(2*i+1), slower(f))
						sc := duetScenario(cand.URL, base.URL, 200, *duetLength)
						sc.Duet.Order = order
						sc.MaxFailureRatio = -1
						_, tb, _ := runDuet(t, sc, fmt.Sprintf("-loadtest.seed=%d", i+1), "-loadtest.allow-high-load")
						tb.quiet = true
						require.Empty(t, tb.fatals)
						for _, e := range tb.errs {
							if strings.Contains(e, "duet: Aggregated: p95") {
								fails++
								break
							}
						}
						base.Close()
						cand.Close()
					}
					rate := float64(fails) / float64(runs)
					machine := map[bool]string{false: "quiet", true: "CPU hog"}[hog]
					t.Logf("| %s | %s | x%.1f | %d/%d (%.0f%%) |", machine, order, f, fails, runs, 100*rate)
					switch {
					case f == 1 && full:
						assert.LessOrEqual(t, float64(fails), max(1, 0.01*float64(runs)), "false alarms")
					case f == 1:
						assert.Zero(t, fails, "false alarms")
					case full:
						assert.GreaterOrEqual(t, rate, 0.4, "power at x%.1f", f)
					default:
						assert.Equal(t, runs, fails, "power at x%.1f", f)
					}
				})
			}
		}
	}
}
