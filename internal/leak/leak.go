// Package leak is the within-run trend check: each task's per-window
// median latency is tested for a steady rise (a leak, a growing backlog)
// with the one-sided Mann-Kendall test at α = 0.01 and a Theil-Sen growth
// over the run of at least Config.Growth. The first window (warm-up) is
// left out, and so is the last when it is longer than the others (it
// holds the grace period); runs with fewer than 10 windows left are not
// tested (see regression-gate.md §6.5: a 60-s run cannot tell a leak from
// noise).
//
//	l := leak.New(info, leak.Config{Growth: 0.2})
//	// in the pipeline: l.Evaluate(seg) with the evaluators
package leak

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/montanaflynn/stats"

	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the leak test does in one run, resolved from the flags
// and the scenario before the part is made.
type Config struct {
	Growth float64 // the smallest growth over the run that counts; trend's default when 0
	Fail   bool    // a leak fails the test; otherwise it warns
}

// maxPoints caps the windows tested: longer series are thinned into
// blocks (median of each), which keeps the trend and the cost bounded.
const maxPoints = 300

// Part is the leak test of one run: it tests each task's window medians
// of the segment for a rise.
type Part struct {
	info pipeline.Info
	fail bool
	opts trend.LeakOptions
}

var _ pipeline.Evaluator = (*Part)(nil)

// New makes the leak test of the run info describes.
func New(info pipeline.Info, cfg Config) *Part {
	return &Part{info: info, fail: cfg.Fail, opts: trend.LeakOptions{Log: true, MinGrowth: cfg.Growth}}
}

// Evaluate tests the segment for leaks.
func (l *Part) Evaluate(seg *pipeline.Segment) {
	found, skipped := findings(seg.Run, l.info.Window, l.opts, l.fail)
	if skipped != "" {
		l.info.Logf("loadtest: leak check skipped: %s", skipped)
	}
	seg.Find(found...)
}

// findings tests each task's window medians of res for a rise. It
// returns the findings, sorted by task, and why nothing was tested, if so.
func findings(res *result.Run, window time.Duration, o trend.LeakOptions, fail bool) (found []result.Finding, skipped string) {
	series, n := windowMedians(res, window)
	if n < trend.DefaultLeakMinN {
		return nil, fmt.Sprintf("%d windows of %s after warm-up, need %d (run longer or use a shorter -loadtest.window)",
			n, window, trend.DefaultLeakMinN)
	}
	keys := make([]string, 0, len(series))
	for k := range series {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		xs := thin(series[key], maxPoints)
		rise := trend.Leak(xs, o)
		if !rise.Rising {
			continue
		}
		text := fmt.Sprintf("latency of %s grew %+.0f%% over the run (%s): possible leak or backlog (window median %s → %s, %d windows of %s)",
			key, 100*rise.Growth, numfmt.PValue(rise.MK.P), numfmt.Millis(rise.Start), numfmt.Millis(rise.End), rise.N, window)
		found = append(found, result.Finding{
			Kind: "leak", Task: key, Metric: "window p50", Text: text, Fail: fail,
			P: rise.MK.P, From: rise.Start, To: rise.End, Change: rise.Growth, N: rise.N,
		})
	}
	return found, ""
}

// windowMedians returns, per task (the OnStart step and the aggregate
// left out), the median latency of each window in microseconds, NaN for a
// window without successful requests; the warm-up window and a longer
// last window are dropped. n is the number of windows kept.
func windowMedians(res *result.Run, window time.Duration) (map[string][]float64, int) {
	setup := map[string]bool{}
	for _, t := range res.Tasks {
		if t.Setup {
			setup[t.Key()] = true
		}
	}
	// Window starts, in order.
	var offsets []time.Duration
	last := time.Duration(-1)
	lastLen := time.Duration(0)
	for _, w := range res.Windows {
		if w.Offset != last {
			offsets = append(offsets, w.Offset)
			last = w.Offset
			lastLen = w.Length
		}
	}
	if len(offsets) > 0 && lastLen != window {
		offsets = offsets[:len(offsets)-1]
	}
	var keep []time.Duration
	for _, off := range offsets {
		if off >= window { // the first window is warm-up
			keep = append(keep, off)
		}
	}
	series := map[string][]float64{}
	for _, w := range res.Windows {
		if w.Name == result.AggregateName && w.Type == "" {
			continue
		}
		key := (&result.Task{Type: w.Type, Name: w.Name}).Key()
		if setup[key] || w.Generator != "" {
			continue // a setup step, or a window whose figures are the generator's
		}
		i, ok := slices.BinarySearch(keep, w.Offset)
		if !ok {
			continue
		}
		xs := series[key]
		if xs == nil {
			xs = make([]float64, len(keep))
			for j := range xs {
				xs[j] = math.NaN()
			}
			series[key] = xs
		}
		if len(w.Quantiles) > 0 && w.Quantiles[0] > 0 {
			xs[i] = float64(w.Quantiles[0])
		}
	}
	return series, len(keep)
}

// thin reduces xs to at most maxN points, each the median of a block of
// consecutive values (NaNs skipped; NaN for a block of NaNs).
func thin(xs []float64, maxN int) []float64 {
	if len(xs) <= maxN {
		return xs
	}
	k := (len(xs) + maxN - 1) / maxN
	var out []float64
	for i := 0; i < len(xs); i += k {
		var block []float64
		for _, x := range xs[i:min(i+k, len(xs))] {
			if !math.IsNaN(x) {
				block = append(block, x)
			}
		}
		m, err := stats.Median(block)
		if err != nil { // an empty block: no window of it had a success
			m = math.NaN()
		}
		out = append(out, m)
	}
	return out
}
