package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/steadyload/steadyload/loadtest/gate"
	"github.com/steadyload/steadyload/loadtest/history"
	"github.com/steadyload/steadyload/loadtest/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
	"github.com/steadyload/steadyload/loadtest/signals"
	"github.com/steadyload/steadyload/loadtest/trend"
)

// The run history: with -loadtest.history, a complete run appends one row
// per task to <history-dir>/<env>/<Test>/history.csv (see package
// history). Whenever that file exists, each task's p95 over the runs of
// the same load shape is checked for a creep (Mann-Kendall over the last
// -loadtest.drift-runs runs, α = 0.01, Theil-Sen slope above
// -loadtest.drift-slope per run) and for a recent step (change points in
// the manner of Hunter/Otava: t-test p < 0.001, magnitude > 5 %), and the
// run-to-run noise τ of each task's p95 is calibrated for the gate once
// 20 runs of the shape are recorded.
// historyFlags are the history feature's flags, on one flag set.
type historyFlags struct {
	fs         *flag.FlagSet
	append     *bool
	dir        *string
	drift      *string
	driftRuns  *int
	driftSlope *float64
	probe      func(dir string) error // atomicfile.Probe when nil (tests inject failures)
}

func newHistoryFlags(fs *flag.FlagSet) *historyFlags {
	return &historyFlags{
		fs:         fs,
		append:     fs.Bool("loadtest.history", false, "append this complete run's rows to the history file (the nightly job sets it)"),
		dir:        fs.String("loadtest.history-dir", "baseline", "`dir`ectory holding <env>/<Test>/history.csv"),
		drift:      fs.String("loadtest.drift", "", "history check for a creep or a step of each task's p95: warn, fail or off (default warn)"),
		driftRuns:  fs.Int("loadtest.drift-runs", 0, "runs of the history tested for a creep (default 14)"),
		driftSlope: fs.Float64("loadtest.drift-slope", 0, "smallest creep per run that counts, as a fraction (default 0.005, i.e. +0.5%/run)"),
	}
}

// historyQuantile is the quantile the history tracks for drift and τ.
const historyQuantile = 0.95

// minStepRuns is the fewest runs at a new level that make a step: one odd
// run is the gate's business, a level held for three runs is a step.
const minStepRuns = 3

// historyPart is the history's part in one run: it tests the history,
// this segment included, for drift and steps (an evaluator), appends the
// segment's rows (a sink), and gives the gate τ calibrated from it.
type historyPart struct {
	r      *runner
	path   string
	mode   Mode
	drift  trend.DriftOptions
	old    []history.Row       // the file's rows before this run
	sigs   []history.SignalRow // the signals history's rows before this run
	shape  string
	append bool
	cur    []history.Row       // this segment's rows, once evaluated
	curSig []history.SignalRow // and its signals' rows
}

// historyFile is the path of r's history file under f's directory.
func historyFile(r *runner, f *historyFlags) string {
	return history.Path(*f.dir, r.env, r.tb.Name())
}

// newHistoryPart reads the history flags and the history of r's test. A
// history that could not be appended to, or a malformed one, is an error
// before any request.
func newHistoryPart(r *runner, f *historyFlags) (*historyPart, error) {
	var errs []error
	mode, err := checkMode(f.fs, "loadtest.drift", *f.drift, r.plan.Drift, "Drift")
	if err != nil {
		errs = append(errs, err)
	}
	h := &historyPart{r: r, mode: mode, append: *f.append}
	if isSetIn(f.fs, "loadtest.drift-runs") {
		h.drift.Runs = *f.driftRuns
		if h.drift.Runs < 3 {
			errs = append(errs, fmt.Errorf("-loadtest.drift-runs=%d: want at least 3 runs", *f.driftRuns))
		}
		h.drift.MinRuns = min(h.drift.Runs, trend.DefaultDriftMinRuns)
	}
	if isSetIn(f.fs, "loadtest.drift-slope") {
		h.drift.MinSlope = *f.driftSlope
		if !(h.drift.MinSlope > 0) || math.IsInf(h.drift.MinSlope, 0) {
			errs = append(errs, fmt.Errorf("-loadtest.drift-slope=%g: want a positive fraction per run, e.g. 0.005", *f.driftSlope))
		}
	}
	if *f.dir == "" {
		errs = append(errs, fmt.Errorf("-loadtest.history-dir is empty: name the directory of the history files"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !h.append && mode == ModeOff {
		return nil, nil
	}
	h.path = historyFile(r, f)
	if h.append {
		if err := probeDir(f.probe, "history directory (-loadtest.history-dir)", filepath.Dir(h.path)); err != nil {
			return nil, err
		}
	}
	if h.old, err = history.ReadFile(h.path); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if h.sigs, err = history.ReadSignalsFile(h.signalsPath()); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	h.shape = planMeta(r.plan).Shape().Key()
	if taus, runs := calibrateTaus(h.old, h.shape); len(taus) > 0 {
		r.tb.Logf("loadtest: history: τ of p95 calibrated from %d runs of %q: %s", runs, h.shape, formatTaus(taus))
	}
	return h, nil
}

// tau is the gate's τ source: τ of a task's p95 from the history rows of
// the run's load shape, once 20 runs are recorded. Only p95 is
// calibrated: the history keeps the standard error of ln(p95) alone.
func (h *historyPart) tau(task, metric string) (float64, int, bool) {
	if metric != history.P95.Name {
		return 0, 0, false
	}
	taus, runs := calibrateTaus(h.old, h.shape)
	tau, ok := taus[task]
	return tau, runs, ok
}

// signalsPath is the server signals' history beside the history file.
func (h *historyPart) signalsPath() string {
	return filepath.Join(filepath.Dir(h.path), history.SignalsFileName)
}

// Evaluate tests the history, this segment's rows added when it is
// complete, for drift and steps of each task's p95 and each server
// signal's mean.
func (h *historyPart) Evaluate(seg *pipeline.Segment) {
	rows, sigs := h.old, h.sigs
	if seg.Meta.Status == result.Complete {
		h.cur = history.FromRun(seg.Run, seLnP95)
		h.curSig = history.SignalsFromRun(seg.Run, seg.Signals)
		rows = append(slices.Clone(rows), h.cur...)
		sigs = append(slices.Clone(sigs), h.curSig...)
	}
	if h.mode == ModeOff {
		return
	}
	seg.Find(driftFindings(history.SameShape(rows, h.shape), h.drift, h.mode == ModeFail)...)
	seg.Find(signalDriftFindings(sigs, h.shape, h.drift, h.mode == ModeFail)...)
}

// Write appends a complete segment's rows to the history, when asked to.
func (h *historyPart) Write(seg *pipeline.Segment) {
	r := h.r
	switch {
	case !h.append:
	case seg.Meta.Status != result.Complete:
		r.tb.Logf("loadtest: history: run %s, not appended to %s", seg.Meta.Status, h.path)
	default:
		if err := history.Append(h.path, h.cur); err != nil {
			seg.Failf("history not appended: %v", err)
		} else {
			r.tb.Logf("loadtest: history: %d rows appended to %s", len(h.cur), h.path)
		}
		if err := history.AppendSignals(h.signalsPath(), h.curSig); err != nil {
			seg.Failf("signals history not appended: %v", err)
		} else if len(h.curSig) > 0 {
			r.tb.Logf("loadtest: history: %d server signal rows appended to %s", len(h.curSig), h.signalsPath())
		}
	}
}

// signalDriftFindings checks each server signal's per-run mean, over the
// runs of one load shape, for a creep across runs: memory, file handles
// or connections that a restart hides within each run but that rise night
// after night.
func signalDriftFindings(rows []history.SignalRow, shape string, o trend.DriftOptions, fail bool) []result.Finding {
	var found []result.Finding
	for _, name := range history.Signals(rows) {
		xs := history.SignalMeans(rows, name, shape)
		d := trend.Drift(xs, o)
		if !d.Rising {
			continue
		}
		text := fmt.Sprintf("server signal %s (mean per run) is drifting up %+.1f%%/run over %d runs (%s): %s → %s",
			name, 100*d.PerStep, d.N, pText(d.MK.P), signals.Compact(d.Start), signals.Compact(d.End))
		found = append(found, result.Finding{
			Kind: "drift", Metric: name, Text: text, Fail: fail,
			P: d.MK.P, From: d.Start, To: d.End, Change: d.Growth, N: d.N,
		})
	}
	return found
}

// seLnP95 is the bootstrap standard error of ln(p95) of a task, as the
// gate computes it.
func seLnP95(t *result.Task) float64 {
	_, se := gate.LogQuantile(t.Latency, historyQuantile, gate.Config{})
	return se
}

// driftFindings checks each task's p95 in rows (one load shape, oldest
// first) for a creep over the last runs and for upward steps among them.
func driftFindings(rows []history.Row, o trend.DriftOptions, fail bool) []result.Finding {
	runs := o.Runs
	if runs == 0 {
		runs = trend.DefaultDriftRuns
	}
	var found []result.Finding
	for _, task := range history.Tasks(rows) {
		if task == result.AggregateName {
			continue
		}
		rs := history.Task(rows, task)
		xs := history.Values(rs, history.P95)
		unit := runUnit(rs)
		d := trend.Drift(xs, o)
		// Steps: over the whole history, reported when recent (within the
		// drift window) and upward.
		var steps []trend.ChangePoint
		for _, cp := range trend.ChangePoints(xs, trend.ChangeOptions{Log: true, MinSize: minStepRuns}) {
			if cp.Change > 0 && cp.Index >= len(xs)-runs {
				steps = append(steps, cp)
			}
		}
		// A step also looks like a creep to Mann-Kendall, and a creep can be
		// split into two levels: report the one that fits the recent runs
		// (twice the drift window) better.
		if d.Rising && len(steps) > 0 {
			if stepFitsBetter(xs, 2*runs, steps) {
				d.Rising = false
			} else {
				steps = nil
			}
		}
		if d.Rising {
			text := fmt.Sprintf("p95 of %s is drifting up %+.1f%%/%s over %d %ss (%s): %s → %s",
				task, 100*d.PerStep, unit, d.N, unit, pText(d.MK.P), formatMs(d.Start), formatMs(d.End))
			found = append(found, result.Finding{
				Kind: "drift", Task: task, Metric: "p95", Text: text, Fail: fail,
				P: d.MK.P, From: d.Start, To: d.End, Change: d.Growth, N: d.N,
			})
		}
		for _, cp := range steps {
			at := rs[cp.Index]
			commit := at.Commit
			if len(commit) > 12 {
				commit = commit[:12]
			}
			if commit == "" {
				commit = "unknown"
			}
			text := fmt.Sprintf("p95 of %s stepped from %s to %s (%+.0f%%) at the run of %s (commit %s), %s",
				task, formatMs(cp.Before), formatMs(cp.After), 100*cp.Change, at.Time.Format("2006-01-02 15:04 MST"), commit, pText(cp.P))
			found = append(found, result.Finding{
				Kind: "step", Task: task, Metric: "p95", Text: text, Fail: fail,
				P: cp.P, From: cp.Before, To: cp.After, Change: cp.Change, N: len(xs),
				At: at.Time, Commit: at.Commit,
			})
		}
	}
	return found
}

// stepFitsBetter reports whether, over the last runs values of xs (in
// logs), levels split at the steps explain the runs better than a
// straight line, by the Bayesian information criterion: n·ln(RSS/n) +
// k·ln(n), with k = 2 for the line (least squares) and 1 + 3 per step for
// the levels (a level, a location searched for, and the search itself).
// On seeded 20-night histories with 4 % noise, a +2 %/night creep and a
// +20 % step 7 nights ago are both told apart right in ≥ 97 % of cases
// (TestDriftRates).
func stepFitsBetter(xs []float64, runs int, steps []trend.ChangePoint) bool {
	from := max(0, len(xs)-runs)
	var ys, ts []float64
	seg := []int{} // segment of each value
	k := 0
	for i := from; i < len(xs); i++ {
		for k < len(steps) && steps[k].Index <= i {
			k++
		}
		if xs[i] > 0 {
			ys = append(ys, math.Log(xs[i]))
			ts = append(ts, float64(i))
			seg = append(seg, k)
		}
	}
	n := float64(len(ys))
	if n < 4 {
		return true
	}
	// Least-squares line.
	var mt, my float64
	for i := range ys {
		mt += ts[i]
		my += ys[i]
	}
	mt /= n
	my /= n
	var sxy, sxx float64
	for i := range ys {
		sxy += (ts[i] - mt) * (ys[i] - my)
		sxx += (ts[i] - mt) * (ts[i] - mt)
	}
	b := sxy / sxx
	var lineSS float64
	for i := range ys {
		r := ys[i] - (my + b*(ts[i]-mt))
		lineSS += r * r
	}
	// Levels.
	sum := make([]float64, len(steps)+1)
	cnt := make([]float64, len(steps)+1)
	for i, y := range ys {
		sum[seg[i]] += y
		cnt[seg[i]]++
	}
	var stepSS float64
	for i, y := range ys {
		r := y - sum[seg[i]]/cnt[seg[i]]
		stepSS += r * r
	}
	tiny := 1e-12 // a perfect fit
	bicLine := n*math.Log(lineSS/n+tiny) + 2*math.Log(n)
	bicStep := n*math.Log(stepSS/n+tiny) + (1+3*float64(len(steps)))*math.Log(n)
	return bicStep < bicLine
}

// runUnit names the history's runs: "night" when they are a day or more
// apart (median gap ≥ 20 h), else "run".
func runUnit(rows []history.Row) string {
	if len(rows) < 2 {
		return "run"
	}
	gaps := make([]time.Duration, 0, len(rows)-1)
	for i := 1; i < len(rows); i++ {
		gaps = append(gaps, rows[i].Time.Sub(rows[i-1].Time))
	}
	slices.Sort(gaps)
	if gaps[len(gaps)/2] >= 20*time.Hour {
		return "night"
	}
	return "run"
}

// calibrateTaus computes τ of each task's ln(p95) from the rows of shape
// since the task's last step, when there are at least gate.MinTauRuns of
// them with a standard error. A creep inflates it: fix what drifts.
func calibrateTaus(rows []history.Row, shape string) (map[string]float64, int) {
	rows = history.SameShape(rows, shape)
	taus := map[string]float64{}
	most := 0
	for _, task := range history.Tasks(rows) {
		// Only the runs since the last step measure the noise of one
		// unchanged system.
		rs := history.Task(rows, task)
		cps := trend.ChangePoints(history.Values(rs, history.P95), trend.ChangeOptions{Log: true, MinSize: minStepRuns})
		if len(cps) > 0 {
			rs = rs[cps[len(cps)-1].Index:]
		}
		var lnq, se []float64
		for _, r := range rs {
			if r.P95 > 0 && !math.IsNaN(r.SELnP95) {
				lnq = append(lnq, math.Log(float64(r.P95)))
				se = append(se, r.SELnP95)
			}
		}
		tau, err := gate.CalibrateTau(lnq, se)
		if err != nil {
			continue
		}
		taus[task] = math.Max(tau, gate.MinTau)
		most = max(most, len(lnq))
	}
	if len(taus) == 0 {
		return nil, 0
	}
	return taus, most
}

func formatTaus(taus map[string]float64) string {
	keys := make([]string, 0, len(taus))
	for k := range taus {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	s := ""
	for i, k := range keys {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %.1f%%", k, 100*taus[k])
	}
	return s
}
