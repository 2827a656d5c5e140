package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steadyload/steadyload/loadtest/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
	"github.com/steadyload/steadyload/loadtest/trend"
)

// The within-run trend check: each task's per-window median latency is
// tested for a steady rise (a leak, a growing backlog) with the one-sided
// Mann-Kendall test at α = 0.01 and a Theil-Sen growth over the run of at
// least LeakGrowth. The first window (warm-up) is left out, and so is the
// last when it is longer than the others (it holds the grace period); runs
// with fewer than 10 windows left are not tested (see regression-gate.md
// §6.5: a 60-s run cannot tell a leak from noise).
// leakFlags are the leak check's flags, on one flag set.
type leakFlags struct {
	fs     *flag.FlagSet
	mode   *string
	growth *float64
}

func newLeakFlags(fs *flag.FlagSet) *leakFlags {
	return &leakFlags{
		fs:     fs,
		mode:   fs.String("loadtest.leak", "", "within-run latency trend check: warn, fail or off (default warn)"),
		growth: fs.Float64("loadtest.leak-growth", 0, "smallest growth of a task's latency over the run that counts as a leak (default 0.2)"),
	}
}

// leakMaxPoints caps the windows tested: longer series are thinned into
// blocks (median of each), which keeps the trend and the cost bounded.
const leakMaxPoints = 300

// checkMode resolves a check's mode from its flag, when set, else its
// field; empty is ModeWarn.
func checkMode(fs *flag.FlagSet, flagName, flagVal string, field Mode, fieldName string) (Mode, error) {
	v := field
	src := "Scenario." + fieldName
	if isSetIn(fs, flagName) {
		v, src = Mode(flagVal), "-"+flagName
	}
	switch v {
	case "":
		return ModeWarn, nil
	case ModeWarn, ModeFail, ModeOff:
		return v, nil
	}
	return "", fmt.Errorf("%s=%q: want warn, fail or off", src, v)
}

// leakPart is the leak test of one run: it tests each task's window
// medians of the segment for a rise.
type leakPart struct {
	r      *runner
	mode   Mode
	opts   trend.LeakOptions
	window time.Duration
}

// newLeakPart reads the leak test's flags and scenario fields; nil when
// the test is off.
func newLeakPart(r *runner, f *leakFlags) (*leakPart, error) {
	var errs []error
	mode, err := checkMode(f.fs, "loadtest.leak", *f.mode, r.plan.Leak, "Leak")
	if err != nil {
		errs = append(errs, err)
	}
	growth := r.plan.LeakGrowth
	src := "Scenario.LeakGrowth"
	if isSetIn(f.fs, "loadtest.leak-growth") {
		growth, src = *f.growth, "-loadtest.leak-growth"
	}
	if growth < 0 || math.IsNaN(growth) || math.IsInf(growth, 0) {
		errs = append(errs, fmt.Errorf("%s=%g: want a positive fraction, e.g. 0.2 for +20%%", src, growth))
	}
	if len(errs) > 0 || mode == ModeOff {
		return nil, errors.Join(errs...)
	}
	return &leakPart{r: r, mode: mode, opts: trend.LeakOptions{Log: true, MinGrowth: growth}, window: r.plan.Window}, nil
}

// Evaluate tests the segment for leaks.
func (l *leakPart) Evaluate(seg *pipeline.Segment) {
	found, skipped := leakFindings(seg.Run, l.window, l.opts, l.mode == ModeFail)
	if skipped != "" {
		l.r.tb.Logf("loadtest: leak check skipped: %s", skipped)
	}
	seg.Find(found...)
}

// leakFindings tests each task's window medians of res for a rise. It
// returns the findings, sorted by task, and why nothing was tested, if so.
func leakFindings(res *result.Run, window time.Duration, o trend.LeakOptions, fail bool) (found []result.Finding, skipped string) {
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
		xs := thin(series[key], leakMaxPoints)
		rise := trend.Leak(xs, o)
		if !rise.Rising {
			continue
		}
		text := fmt.Sprintf("latency of %s grew %+.0f%% over the run (%s): possible leak or backlog (window median %s → %s, %d windows of %s)",
			key, 100*rise.Growth, pText(rise.MK.P), formatMs(rise.Start), formatMs(rise.End), rise.N, window)
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
		if setup[key] {
			continue
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
		if len(block) == 0 {
			out = append(out, math.NaN())
			continue
		}
		slices.Sort(block)
		m := len(block) / 2
		if len(block)%2 == 0 {
			out = append(out, (block[m-1]+block[m])/2)
		} else {
			out = append(out, block[m])
		}
	}
	return out
}

// pText writes a p-value with two significant digits: "p = 0.0023", or
// "p < 0.0001".
func pText(p float64) string {
	if p < 0.0001 {
		return "p < 0.0001"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 2, 64)
}

// formatMs writes microseconds as milliseconds with three significant
// digits, trailing zeros dropped: "42 ms", "51.3 ms", "0.812 ms", "1234 ms".
func formatMs(us float64) string {
	ms := us / 1000
	prec := 0
	if ms > 0 && ms < 100 {
		prec = 2 - int(math.Floor(math.Log10(ms)))
	}
	s := strconv.FormatFloat(ms, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + " ms"
}
