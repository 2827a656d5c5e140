// Package gatecheck is the baseline gate's part in a run: it compares a
// segment with the last K runs recorded in the baseline (an evaluator),
// then logs and writes the comparison and, when asked to, records the
// segment as a new baseline run (a sink).
//
//	g, err := gatecheck.New(info, gatecheck.Config{Dir: dir, Gate: cfg, Metrics: gate.DefaultMetrics, K: 5})
//	// in the pipeline: g.Evaluate(seg) with the evaluators, g.Write(seg) with the sinks
package gatecheck

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/perf/benchfmt"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/runcheck"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the gate does in one run, resolved from the flags and
// the scenario before the part is made.
type Config struct {
	Dir     string        // the baseline directory of the test in its environment
	Gate    gate.Config   // tolerances, α and the default τ, normalized
	Metrics []gate.Metric // the gated metrics, in order, without repeats
	K       int           // baseline runs kept and compared with
	Update  bool          // record the segment into the baseline
	Require bool          // fail when there is no comparable baseline, or no verdict
	// JudgeStarved judges a run even when its generator fared much worse
	// than in the baseline's runs (runcheck.Starved), with a warning;
	// by default such a comparison gives no verdict.
	JudgeStarved bool
	TauSource    string // where Gate.Tau comes from, recorded with a baseline run

	// Tau returns the run-to-run noise τ of a task's metric calibrated
	// from the run history, and from how many runs; ok false means "not
	// calibrated", and the gate uses Gate.Tau. Nil: never calibrated.
	Tau func(task, metric string) (tau float64, runs int, ok bool)

	// A run is recorded into the baseline only within the scenario's
	// limits: its failure ratio at most MaxFailureRatio (negative: no
	// limit) and, in the open model, its late and dropped starts at most
	// MaxLateRatio of the scheduled ones.
	MaxFailureRatio float64
	MaxLateRatio    float64

	// Probe checks that files can be created in a directory;
	// atomicfile.Probe when nil (tests inject failures).
	Probe func(dir string) error
}

// minRecord is the fewest successful requests a run needs to be recorded
// as a baseline run at all; below the gate's minimum sample it is recorded
// with a warning, as the gate will give its tasks no verdict.
const minRecord = 20

// Part is the gate's state for one run.
type Part struct {
	info     pipeline.Info
	cfg      Config
	runs     []*baseline.Run
	shapeOff []string // how this run's shape differs from the baseline's
}

var (
	_ pipeline.Evaluator = (*Part)(nil)
	_ pipeline.Sink      = (*Part)(nil)
)

// New makes the gate of the run info describes. A malformed baseline is
// an error before any request, and so is a results folder, or (when
// recording) a baseline directory, in which no file can be created: a
// run's outcome is never lost after the load was sent.
func New(info pipeline.Info, cfg Config) (*Part, error) {
	g := &Part{info: info, cfg: cfg}
	if err := pipeline.ProbeDir(cfg.Probe, "results folder (-loadtest.out)", info.Out); err != nil {
		return nil, err
	}
	if cfg.Update {
		if err := pipeline.ProbeDir(cfg.Probe, "baseline directory (-loadtest.baseline)", cfg.Dir); err != nil {
			return nil, err
		}
	}
	var err error
	if g.runs, err = baseline.Load(cfg.Dir); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if len(g.runs) > 0 {
		g.shapeOff = g.runs[0].Meta.Shape().Diff(info.Shape.Shape())
	}
	return g, nil
}

// Evaluate compares the segment with the baseline and gives a verdict
// for each regression.
func (g *Part) Evaluate(seg *pipeline.Segment) {
	res := seg.Run
	rep := &gate.Report{Test: res.Meta.Test, Env: res.Meta.EnvKey(), Baseline: g.cfg.Dir}
	for _, b := range g.runs {
		rep.Runs = append(rep.Runs, b.Name)
	}
	record := fmt.Sprintf("go test -tags loadtest -count=%d -run '^%s$' . -args -loadtest.update", g.cfg.K, strings.SplitN(res.Meta.Test, "/", 2)[0])
	switch {
	case len(g.runs) == 0:
		rep.Note = fmt.Sprintf("NO BASELINE for env %q in %s: nothing compared. Record %d runs with: %s (plus this run's -loadtest.* flags)", res.Meta.EnvKey(), g.cfg.Dir, g.cfg.K, record)
		if g.cfg.Require && !g.cfg.Update {
			seg.Failf("baseline gate: no baseline and -loadtest.require-baseline is set: %s", rep.Note)
		}
	case res.Meta.Starved > 0:
		rep.Note = fmt.Sprintf("NO VERDICT: the generator was starved or suspended in %d window(s) of this segment (see the log): its latencies are not the target's", res.Meta.Starved)
		seg.Warnf("baseline gate: %s", rep.Note)
	case len(g.shapeOff) > 0:
		rep.Note = fmt.Sprintf("NOT COMPARED: the baseline in %s was recorded with another load shape (%s; this run: %s): %s. Refresh it on purpose with: %s",
			g.cfg.Dir, g.runs[0].Meta.Shape(), res.Meta.Shape(), strings.Join(g.shapeOff, ", "), record)
		if g.cfg.Require && !g.cfg.Update {
			seg.Failf("baseline gate: no comparable baseline and -loadtest.require-baseline is set: %s", rep.Note)
		}
	default:
		g.compare(res, rep)
		if why := g.starved(res); why != "" && g.cfg.JudgeStarved {
			seg.Warnf("baseline gate: %s; judged all the same, as asked", why)
		} else if why != "" {
			// The whole comparison is void: the rows stay for the reader,
			// each with no verdict and why.
			rep.Note = fmt.Sprintf("NO VERDICT: %s: its latencies, failures and rate are not the target's; run on a quieter machine, or give the generator more CPU", why)
			for i := range rep.Rows {
				rep.Rows[i].Verdict = gate.NoVerdict
				rep.Rows[i].Warnings = append([]string{why}, rep.Rows[i].Warnings...)
			}
			seg.Warnf("baseline gate: %s", rep.Note)
			break
		}
		if len(g.runs) < min(3, g.cfg.K) {
			rep.Note = fmt.Sprintf("the baseline holds %d run(s); record %d for a reliable gate: %s", len(g.runs), g.cfg.K, record)
		}
		for _, row := range rep.Rows {
			switch {
			case row.Verdict == gate.Regressed && g.cfg.Update:
				g.info.Logf("loadtest: baseline gate: %s (not failed: -loadtest.update records this run as the new baseline)", row.Message())
			case row.Verdict == gate.Regressed:
				seg.Failf("baseline gate: %s", row.Message())
			case row.Verdict == gate.NoVerdict && g.cfg.Require:
				seg.Failf("baseline gate: %s %s: no verdict (%s) and -loadtest.require-baseline is set", row.Task, row.Metric, strings.Join(row.Warnings, "; "))
			}
		}
	}
	seg.Gate = rep
}

// starved says how the generator fared much worse in res than in the
// baseline's runs (runcheck.Starved), "the generator was starved (cpu
// pressure 38% vs 2% in the baseline)"; empty when it did not, or when
// the baseline is of another load shape.
func (g *Part) starved(res *result.Run) string {
	if len(g.runs) == 0 || len(g.shapeOff) > 0 {
		return ""
	}
	base := make([]result.Meta, len(g.runs))
	for i, b := range g.runs {
		base[i] = b.Meta
	}
	why := runcheck.Starved(res.Meta, base)
	if len(why) == 0 {
		return ""
	}
	return "the generator was starved (" + strings.Join(why, "; ") + ")"
}

// Write logs the comparison, writes it to the results folder and, when
// asked to, records the segment into the baseline.
func (g *Part) Write(seg *pipeline.Segment) {
	if seg.Gate == nil {
		return
	}
	g.info.Logf("%s", "\n"+seg.Gate.Text())
	g.writeOutputs(seg)
	if g.cfg.Update {
		g.record(seg)
	}
}

// compare fills rep with a row per task (the per-user OnStart step
// excluded) and metric, then the aggregate's.
func (g *Part) compare(res *result.Run, rep *gate.Report) {
	tasks := make([]*result.Task, 0, len(res.Tasks)+1)
	for _, t := range res.Tasks {
		if !t.Setup {
			tasks = append(tasks, t)
		}
	}
	tasks = append(tasks, res.Total)
	var baseSecs float64
	for _, b := range g.runs {
		baseSecs += b.Meta.Elapsed.Seconds()
	}
	for _, t := range tasks {
		var hists []*hdrhistogram.Histogram
		var baseReq, baseFail int64
		known := false
		for _, b := range g.runs {
			s, ok := b.Task(t.Type, t.Name)
			if !ok {
				continue
			}
			known = true
			baseReq += int64(s.Requests)
			baseFail += int64(s.Failures)
			hists = append(hists, runHistogram(b, t))
		}
		for _, m := range g.cfg.Metrics {
			if m == gate.Rate && res.Meta.Model != "open" {
				continue
			}
			row := gate.Row{Task: t.Key()}
			cfg := g.cfg.Gate
			switch {
			case !known:
				row.Comparison = gate.Comparison{Metric: m, Base: math.NaN(), Cur: math.NaN(), Delta: math.NaN(), Lo: math.NaN(), Hi: math.NaN(), P: math.NaN(),
					Tolerance: cfg.Tolerance, Alpha: cfg.Alpha, Warnings: []string{"a new task: not in the baseline, nothing to compare"}}
			case m == gate.Failures:
				row.Comparison = gate.CompareFailures(baseFail, baseReq, t.Failures, t.Requests, len(g.runs), cfg)
			case m == gate.Rate:
				row.Comparison = gate.CompareRate(baseReq, baseSecs, t.Requests, res.Meta.Elapsed.Seconds(), len(g.runs), cfg)
			default:
				if tau, _, ok := g.tau(t.Key(), string(m)); ok {
					cfg.Tau, cfg.EstimateTau = tau, false // the history's τ, when calibrated, wins
				}
				cur := t.Latency
				if cur == nil {
					cur = result.NewHistogram()
				}
				row.Comparison = gate.Compare(hists, cur, m, cfg)
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
}

// runHistogram is a baseline run's histogram of task t: the task's own,
// or the merge of all tasks' for the aggregate.
func runHistogram(b *baseline.Run, t *result.Task) *hdrhistogram.Histogram {
	if t.Name == result.AggregateName && t.Type == "" {
		h := result.NewHistogram()
		for _, x := range b.Histograms {
			h.Merge(x.Latency)
		}
		return h
	}
	if h := b.Histogram(t.Type, t.Name); h != nil {
		return h
	}
	return result.NewHistogram()
}

// tau returns the calibrated τ of a task's metric, when the history has one.
func (g *Part) tau(task, metric string) (float64, int, bool) {
	if g.cfg.Tau == nil {
		return 0, 0, false
	}
	tau, n, ok := g.cfg.Tau(task, metric)
	if !ok || !(tau > 0) || math.IsInf(tau, 0) {
		return 0, 0, false
	}
	return max(tau, gate.MinTau), n, true
}

// params are the gate parameters in force, recorded with a baseline run.
func (g *Part) params(res *result.Run, rep *gate.Report) baseline.Params {
	c := g.cfg.Gate
	p := baseline.Params{Tolerance: c.Tolerance, FailureTolerance: c.FailureTolerance, Alpha: c.Alpha, K: g.cfg.K,
		MinRequests: c.MinRequests, Tau: c.Tau, TauSource: g.cfg.TauSource}
	for _, m := range g.cfg.Metrics {
		p.Metrics = append(p.Metrics, string(m))
	}
	for _, t := range append(append([]*result.Task(nil), res.Tasks...), res.Total) {
		for _, m := range g.cfg.Metrics {
			if _, ok := m.Quantile(); !ok || t.Setup {
				continue
			}
			if tau, n, ok := g.tau(t.Key(), string(m)); ok {
				p.Taus = append(p.Taus, baseline.Tau{Task: t.Key(), Metric: string(m), Tau: tau, Source: fmt.Sprintf("history, %d runs", n)})
			} else if row, ok := estimatedTau(rep, t.Key(), m); ok {
				p.Taus = append(p.Taus, baseline.Tau{Task: t.Key(), Metric: string(m), Tau: row.Tau, Source: row.TauSource})
			}
		}
	}
	return p
}

// estimatedTau returns the row of rep that estimated τ of a task's metric
// from the baseline runs, if any.
func estimatedTau(rep *gate.Report, task string, m gate.Metric) (gate.Row, bool) {
	if rep == nil {
		return gate.Row{}, false
	}
	for _, row := range rep.Rows {
		if row.Task == task && row.Metric == m && row.TauSource != "" {
			return row, true
		}
	}
	return gate.Row{}, false
}

// record adds the run to the baseline: only a complete run with enough
// requests.
func (g *Part) record(seg *pipeline.Segment) {
	res, minReq := seg.Run, g.cfg.Gate.MinRequests
	n := int64(0)
	if res.Total != nil {
		n = res.Total.Requests - res.Total.Failures
	}
	switch {
	case res.Meta.Status != result.Complete:
		seg.Failf("baseline not updated: the run is %s (%s); only a complete run is recorded", res.Meta.Status, res.Meta.Reason)
		return
	case res.Meta.Starved > 0:
		seg.Failf("baseline not updated: the generator was starved or suspended in %d window(s) of this segment; record on a quieter machine", res.Meta.Starved)
		return
	case res.Meta.Outages > 0 || res.Meta.Paused > 0:
		seg.Failf("baseline not updated: the load was paused for %s by an outage of the target in this segment; only a segment without one is recorded", res.Meta.Paused.Round(time.Second))
		return
	case n < minRecord:
		seg.Failf("baseline not updated: %d successful requests, a baseline run needs at least %d (and %d for a verdict); run longer or raise the rate", n, minRecord, minReq)
		return
	case g.info.Shape.Model == "open" && res.Meta.Scheduled+res.Meta.Dropped > 0 &&
		float64(res.Meta.Late+res.Meta.Waited+res.Meta.Dropped)/float64(res.Meta.Scheduled+res.Meta.Dropped) > g.cfg.MaxLateRatio:
		if res.Meta.Late == 0 {
			seg.Failf("baseline not updated: the rate was not held (%d starts late for a slot, every one taken by a task in flight; %d never made), so this run's load is not the baseline's; record when the target answers as it should", res.Meta.Waited, res.Meta.Dropped)
			return
		}
		seg.Failf("baseline not updated: the generator did not hold the rate, so the latencies measured are not the target's; record on a quieter machine")
		return
	case g.cfg.MaxFailureRatio >= 0 && res.Total != nil && res.Total.FailureRatio() > g.cfg.MaxFailureRatio:
		seg.Failf("baseline not updated: %.1f%% of requests failed, above the limit of %s", 100*res.Total.FailureRatio(), numfmt.Percent(g.cfg.MaxFailureRatio))
		return
	case g.starved(res) != "":
		g.info.Logf("loadtest: baseline: WARNING: %s next to the baseline's runs; record on a quieter machine, or delete this run if the gate gives no verdict too often", g.starved(res))
	case n < int64(minReq):
		g.info.Logf("loadtest: baseline: WARNING: this run has %d successful requests; the gate gives no verdict below %d per run and task: run longer or raise the rate", n, minReq)
	}
	rec, err := baseline.Record(g.cfg.Dir, res, g.params(res, seg.Gate), g.cfg.K)
	if err != nil {
		seg.Failf("baseline not updated: %v", err)
		return
	}
	g.info.Logf("loadtest: baseline: recorded run %s in %s (%d of %d runs kept)", rec.Name, g.cfg.Dir, rec.Kept, g.cfg.K)
	if len(rec.Removed) > 0 {
		g.info.Logf("loadtest: baseline: removed older run(s) %s", strings.Join(rec.Removed, ", "))
	}
}

// writeOutputs writes the comparison CSV and benchmark lines to the
// results folder and appends the Markdown table to $GITHUB_STEP_SUMMARY.
func (g *Part) writeOutputs(seg *pipeline.Segment) {
	res, rep := seg.Run, seg.Gate
	base := filepath.Join(g.info.Out, seg.Name)
	if err := atomicfile.Write(base+"_gate.csv", rep.WriteCSV); err != nil {
		seg.Failf("comparison not written: %v", err)
	}
	if err := atomicfile.Write(base+"_bench.txt", func(w io.Writer) error { return writeBench(w, res) }); err != nil {
		seg.Failf("benchmark lines not written: %v", err)
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			_, err = io.WriteString(f, rep.Markdown())
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			seg.Failf("step summary not written: %v", err)
		}
	}
}

// writeBench writes the run as Go benchmark lines that benchstat compares
// unchanged: BenchmarkOrdersSteadyRate/POST_orders 1 41.2 p95-ms ...
func writeBench(w io.Writer, res *result.Run) error {
	var buf bytes.Buffer
	bw := benchfmt.NewWriter(&buf)
	cfg := []benchfmt.Config{
		{Key: "env", Value: []byte(res.Meta.EnvKey()), File: true},
		{Key: "shape", Value: []byte(res.Meta.Shape().String()), File: true},
	}
	if res.Meta.GitCommit != "" {
		cfg = append(cfg, benchfmt.Config{Key: "commit", Value: []byte(res.Meta.GitCommit), File: true})
	}
	name := strings.TrimPrefix(result.FileBase(strings.SplitN(res.Meta.Test, "/", 2)[0]), "Test")
	secs := res.Meta.Elapsed.Seconds()
	for _, t := range append(append([]*result.Task(nil), res.Tasks...), res.Total) {
		if t == nil || t.Setup || t.Latency == nil || t.Latency.TotalCount() == 0 {
			continue
		}
		sub := strings.NewReplacer(" /", "_", " ", "_", "/", "_").Replace(t.Key())
		ms := func(p float64) float64 { return float64(t.Latency.ValueAtPercentile(p)) / 1000 }
		vals := []benchfmt.Value{{Value: ms(50), Unit: "p50-ms"}, {Value: ms(95), Unit: "p95-ms"}, {Value: ms(99), Unit: "p99-ms"},
			{Value: t.FailureRatio(), Unit: "failure-ratio"}}
		if secs > 0 {
			vals = append(vals, benchfmt.Value{Value: float64(t.Requests) / secs, Unit: "req/s"})
		}
		if err := bw.Write(&benchfmt.Result{Config: cfg, Name: benchfmt.Name(name + "/" + sub), Iters: 1, Values: vals}); err != nil {
			return err
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
