// Package drift is the run history's part in a run. Whenever the history
// file exists, each task's p95 over the runs of the same load shape is
// checked for a creep (Mann-Kendall over the last DriftOptions.Runs runs,
// Theil-Sen slope above DriftOptions.MinSlope per run) and for a recent
// step (change points in the manner of Hunter/Otava: t-test p < 0.001,
// magnitude > 5 %), each server signal's per-run mean for a creep (an
// evaluator); a complete segment's rows are appended to the history when
// asked to (a sink); and the run-to-run noise τ of each task's p95 is
// calibrated for the gate once 20 runs of the shape are recorded (Tau).
//
//	d, err := drift.New(info, drift.Config{Path: path, Check: true})
//	gateConfig.Tau = d.Tau
package drift

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"time"

	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the history does in one run, resolved from the flags
// and the scenario before the part is made.
type Config struct {
	Path   string             // the history file, history.Path(dir, env, test)
	Append bool               // append a complete segment's rows
	Check  bool               // test the history for drift and steps
	Fail   bool               // what the test finds fails the test; otherwise it warns
	Drift  trend.DriftOptions // the creep test's window and threshold
	// Exclude is a run id whose rows are left out of the history read:
	// the run judged again from its files (steadyload compare), which
	// may have been appended already.
	Exclude string

	// Probe checks that files can be created in a directory;
	// atomicfile.Probe when nil (tests inject failures).
	Probe func(dir string) error
}

// quantile is the quantile the history tracks for drift and τ.
const quantile = 0.95

// MinStepRuns is the fewest runs at a new level that make a step: one odd
// run is the gate's business, a level held for three runs is a step.
const MinStepRuns = 3

// Part is the history's part in one run: it tests the history, this
// segment included, for drift and steps (an evaluator), appends the
// segment's rows (a sink), and gives the gate τ calibrated from it.
type Part struct {
	info   pipeline.Info
	cfg    Config
	old    []history.Row       // the file's rows before this run
	sigs   []history.SignalRow // the signals history's rows before this run
	shape  string
	cur    []history.Row       // this segment's rows, once evaluated
	curSig []history.SignalRow // and its signals' rows
}

var (
	_ pipeline.Evaluator = (*Part)(nil)
	_ pipeline.Sink      = (*Part)(nil)
)

// New reads the history of the run info describes. A history that could
// not be appended to, or a malformed one, is an error before any request.
func New(info pipeline.Info, cfg Config) (*Part, error) {
	h := &Part{info: info, cfg: cfg}
	if cfg.Append {
		if err := pipeline.ProbeDir(cfg.Probe, "history directory (-loadtest.history-dir)", filepath.Dir(cfg.Path)); err != nil {
			return nil, err
		}
	}
	var err error
	if h.old, err = history.ReadFile(cfg.Path); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if h.sigs, err = history.ReadSignalsFile(h.signalsPath()); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	if cfg.Exclude != "" {
		h.old = slices.DeleteFunc(h.old, func(r history.Row) bool { return r.RunID == cfg.Exclude })
		h.sigs = slices.DeleteFunc(h.sigs, func(r history.SignalRow) bool { return r.RunID == cfg.Exclude })
	}
	h.shape = info.Shape.Shape().Key()
	if taus, runs := calibrateTaus(h.old, h.shape); len(taus) > 0 {
		info.Logf("loadtest: history: τ of p95 calibrated from %d runs of %q: %s", runs, h.shape, formatTaus(taus))
	}
	return h, nil
}

// Tau is the gate's τ source: τ of a task's p95 from the history rows of
// the run's load shape, once 20 runs are recorded, and from how many
// runs. Only p95 is calibrated: the history keeps the standard error of
// ln(p95) alone.
func (h *Part) Tau(task, metric string) (tau float64, runs int, ok bool) {
	if metric != history.P95.Name {
		return 0, 0, false
	}
	taus, runs := calibrateTaus(h.old, h.shape)
	tau, ok = taus[task]
	return tau, runs, ok
}

// signalsPath is the server signals' history beside the history file.
func (h *Part) signalsPath() string {
	return filepath.Join(filepath.Dir(h.cfg.Path), history.SignalsFileName)
}

// Evaluate tests the history, this segment's rows added when it is
// complete, for drift and steps of each task's p95 and each server
// signal's mean. The rows stay for the next segments of the run.
func (h *Part) Evaluate(seg *pipeline.Segment) {
	h.cur, h.curSig = nil, nil
	rows, sigs := h.old, h.sigs
	if recordable(seg) {
		h.cur = history.FromRun(seg.Run, seLnP95)
		h.curSig = history.SignalsFromRun(seg.Run, seg.Signals)
		rows = append(slices.Clone(rows), h.cur...)
		sigs = append(slices.Clone(sigs), h.curSig...)
		h.old, h.sigs = rows, sigs
	}
	if !h.cfg.Check {
		return
	}
	seg.Find(findings(history.SameShape(rows, h.shape), h.cfg.Drift, h.cfg.Fail)...)
	seg.Find(signalFindings(sigs, h.shape, h.cfg.Drift, h.cfg.Fail)...)
}

// Write appends a complete segment's rows to the history, when asked to.
func (h *Part) Write(seg *pipeline.Segment) {
	switch {
	case !h.cfg.Append:
	case seg.Meta.Status != result.Complete:
		h.info.Logf("loadtest: history: run %s, not appended to %s", seg.Meta.Status, h.cfg.Path)
	case !recordable(seg):
		path := filepath.Join(filepath.Dir(h.cfg.Path), history.OutagesFileName)
		row := history.OutageRow{
			Time: seg.Meta.Start.UTC(), Commit: seg.Meta.GitCommit, Shape: h.shape,
			Segment: seg.Meta.Elapsed, Paused: min(seg.Meta.Paused, seg.Meta.Elapsed), Outages: seg.Meta.Outages, RunID: seg.Meta.RunID,
		}
		if err := history.AppendOutages(path, []history.OutageRow{row}); err != nil {
			seg.Failf("outages history not appended: %v", err)
			return
		}
		h.info.Logf("loadtest: history: the load was paused for %s by an outage of the target: the segment is in %s, not in %s, so that drift is not confused by it",
			seg.Meta.Paused.Round(time.Second), path, h.cfg.Path)
	default:
		if err := history.Append(h.cfg.Path, h.cur); err != nil {
			seg.Failf("history not appended: %v", err)
		} else {
			h.info.Logf("loadtest: history: %d rows appended to %s", len(h.cur), h.cfg.Path)
		}
		if err := history.AppendSignals(h.signalsPath(), h.curSig); err != nil {
			seg.Failf("signals history not appended: %v", err)
		} else if len(h.curSig) > 0 {
			h.info.Logf("loadtest: history: %d server signal rows appended to %s", len(h.curSig), h.signalsPath())
		}
	}
}

// signalFindings checks each server signal's per-run mean, over the runs
// of one load shape, for a creep across runs: memory, file handles or
// connections that a restart hides within each run but that rise night
// after night.
func signalFindings(rows []history.SignalRow, shape string, o trend.DriftOptions, fail bool) []result.Finding {
	var found []result.Finding
	for _, name := range history.Signals(rows) {
		xs := history.SignalMeans(rows, name, shape)
		d := trend.Drift(xs, o)
		if !d.Rising {
			continue
		}
		text := fmt.Sprintf("server signal %s (mean per run) is drifting up %+.1f%%/run over %d runs (%s): %s → %s",
			name, 100*d.PerStep, d.N, numfmt.PValue(d.MK.P), signals.Compact(d.Start), signals.Compact(d.End))
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
	_, se := gate.LogQuantile(t.Latency, quantile, gate.Config{})
	return se
}

// Check tests the history rows of one load shape (its key, as
// result.Shape.Key) for a creep and for recent steps of each task's p95,
// as a run does: each finding fails when fail is set, else warns.
func Check(rows []history.Row, shape string, o trend.DriftOptions, fail bool) []result.Finding {
	return findings(history.SameShape(rows, shape), o, fail)
}

// findings checks each task's p95 in rows (one load shape, oldest first)
// for a creep over the last runs and for upward steps among them.
func findings(rows []history.Row, o trend.DriftOptions, fail bool) []result.Finding {
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
		for _, cp := range trend.ChangePoints(xs, trend.ChangeOptions{Log: true, MinSize: MinStepRuns}) {
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
				task, 100*d.PerStep, unit, d.N, unit, numfmt.PValue(d.MK.P), numfmt.Millis(d.Start), numfmt.Millis(d.End))
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
				task, numfmt.Millis(cp.Before), numfmt.Millis(cp.After), 100*cp.Change, at.Time.Format("2006-01-02 15:04 MST"), commit, numfmt.PValue(cp.P))
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
		cps := trend.ChangePoints(history.Values(rs, history.P95), trend.ChangeOptions{Log: true, MinSize: MinStepRuns})
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

// formatTaus lists τ of each task, in task order: "GET /x 2.6%, POST /y 3.1%".
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

// recordable reports whether seg's figures belong in the history: a
// complete segment whose load was never paused by an outage.
func recordable(seg *pipeline.Segment) bool {
	return seg.Meta.Status == result.Complete && seg.Meta.Outages == 0 && seg.Meta.Paused == 0
}
