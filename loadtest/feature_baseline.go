package loadtest

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"golang.org/x/perf/benchfmt"

	"github.com/steadyload/steadyload/loadtest/baseline"
	"github.com/steadyload/steadyload/loadtest/gate"
	"github.com/steadyload/steadyload/loadtest/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// DefaultBaselineRuns is the number of runs a baseline keeps (K) when the
// scenario and -loadtest.baseline-runs say nothing.
const DefaultBaselineRuns = 5

// Gate configures the comparison of a run with its baseline: the last K
// recorded runs in <Dir>/<env>/<Test>/. Its zero value is the default
// gate: p95, the failure ratio and (open model) the achieved rate of every
// task and of the aggregate, tolerance 10 %, α = 0.01, K = 5, τ = 5 %
// until the history calibrates it. A set -loadtest.* flag overrides the
// matching field.
type Gate struct {
	// Dir is the baseline root (default "baseline", relative to the
	// scenario package's directory); -loadtest.baseline.
	Dir string
	// Metrics are the gated metrics: p50, p90, p95, p99, failures, rate
	// (default p95, failures, rate); -loadtest.gate.
	Metrics []string
	// Tolerance is the practical effect below which a significant change
	// passes (default 0.10: latency +10 %, rate −10 %); -loadtest.tolerance.
	Tolerance float64
	// FailureTolerance is the rise of the failure ratio that fails, in
	// absolute terms (default 0.01, one percentage point).
	FailureTolerance float64
	// Alpha is the one-sided significance level (default 0.01);
	// -loadtest.alpha.
	Alpha float64
	// K is the number of baseline runs kept and compared with (default 5);
	// -loadtest.baseline-runs.
	K int
	// Tau is the run-to-run noise of ln(percentile) assumed when the
	// history has not calibrated it (default 0.05).
	Tau float64

	update bool // record this run, as -loadtest.update (tests of the package)
}

// tauSource returns the run-to-run noise τ of a task's metric calibrated
// from the run history, and from how many runs; ok false means "not
// calibrated", and the gate uses Gate.Tau or its 5 % default.
type tauSource func(task, metric string) (tau float64, runs int, ok bool)

// baselineFlags are the gate's flags, on one flag set.
type baselineFlags struct {
	fs        *flag.FlagSet
	dir       *string
	update    *bool
	require   *bool
	tolerance *float64
	alpha     *float64
	metrics   *string
	runs      *int
	probe     func(dir string) error // atomicfile.Probe when nil (tests inject failures)
}

func newBaselineFlags(fs *flag.FlagSet) *baselineFlags {
	return &baselineFlags{
		fs:        fs,
		dir:       fs.String("loadtest.baseline", "baseline", "`dir`ectory of the baselines, <dir>/<env>/<Test>/ (relative to the package)"),
		update:    fs.Bool("loadtest.update", false, "record this run into the baseline (only a complete run with enough requests; the last K runs are kept)"),
		require:   fs.Bool("loadtest.require-baseline", false, "fail when there is no comparable baseline or no verdict"),
		tolerance: fs.Float64("loadtest.tolerance", 0, "change that fails when significant: latency +F, rate -F (default 0.10)"),
		alpha:     fs.Float64("loadtest.alpha", 0, "one-sided significance level of the gate (default 0.01)"),
		metrics:   fs.String("loadtest.gate", "", "gated `metrics`, comma-separated: p50, p90, p95, p99, failures, rate (default p95,failures,rate)"),
		runs:      fs.Int("loadtest.baseline-runs", 0, "baseline runs kept and compared with, K (default 5)"),
	}
}

func (f *baselineFlags) set(name string) bool { return isSetIn(f.fs, name) }

// gatePart is the gate's state for one run: it compares the segment with
// the baseline (an evaluator), then writes the comparison and, when asked
// to, records the run into the baseline (a sink).
type gatePart struct {
	r        *runner
	history  tauSource
	report   *gate.Report
	cfg      gate.Config
	metrics  []gate.Metric
	k        int
	dir      string
	update   bool
	require  bool
	tauSrc   string
	runs     []*baseline.Run
	shapeOff []string // how this run's shape differs from the baseline's
}

// newGatePart makes the baseline gate of r from flags f, with τ from
// history. A malformed baseline is an error before any request, and so is
// a results folder, or (when recording) a baseline directory, in which no
// file can be created: a run's outcome is never lost after the load was
// sent.
func newGatePart(r *runner, f *baselineFlags, history tauSource) (*gatePart, error) {
	g, err := gateSettings(r, f)
	if err != nil {
		return nil, err
	}
	g.history = history
	if err := probeDir(f.probe, "results folder (-loadtest.out)", r.plan.out); err != nil {
		return nil, err
	}
	if g.update {
		if err := probeDir(f.probe, "baseline directory (-loadtest.baseline)", g.dir); err != nil {
			return nil, err
		}
	}
	if g.runs, err = baseline.Load(g.dir); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	if len(g.runs) > 0 {
		g.shapeOff = g.runs[0].Meta.Shape().Diff(planMeta(r.plan).Shape())
	}
	return g, nil
}

// gateSettings reads the gate's flags and scenario fields.
func gateSettings(r *runner, f *baselineFlags) (*gatePart, error) {
	sc := r.plan.Gate
	g := &gatePart{r: r, update: sc.update || *f.update, require: *f.require, k: sc.K, tauSrc: "default (not calibrated)"}
	g.cfg = gate.Config{Tolerance: sc.Tolerance, FailureTolerance: sc.FailureTolerance, Alpha: sc.Alpha, Tau: sc.Tau}
	if sc.Tau != 0 {
		g.tauSrc = "scenario"
	}
	var errs []error
	if f.set("loadtest.tolerance") {
		g.cfg.Tolerance = *f.tolerance
		if !(*f.tolerance > 0) {
			errs = append(errs, fmt.Errorf("-loadtest.tolerance=%g: want a positive fraction, e.g. 0.10 for 10%%", *f.tolerance))
		}
	}
	if f.set("loadtest.alpha") {
		g.cfg.Alpha = *f.alpha
		if !(*f.alpha > 0) {
			errs = append(errs, fmt.Errorf("-loadtest.alpha=%g: want a level in (0, 0.5), e.g. 0.01", *f.alpha))
		}
	}
	if err := g.cfg.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gate: %w", err))
	}
	g.cfg = g.cfg.Normalize()
	if f.set("loadtest.baseline-runs") {
		g.k = *f.runs
		if g.k < 1 {
			errs = append(errs, fmt.Errorf("-loadtest.baseline-runs=%d: want at least 1 (3 or more for a reliable gate)", *f.runs))
		}
	}
	if g.k == 0 {
		g.k = DefaultBaselineRuns
	}
	if g.k < 0 {
		errs = append(errs, fmt.Errorf("gate: K = %d runs is negative", g.k))
	}
	names := sc.Metrics
	if f.set("loadtest.gate") {
		names = strings.Split(*f.metrics, ",")
	}
	seen := map[gate.Metric]bool{}
	for _, n := range names {
		m, err := gate.ParseMetric(n)
		if err != nil {
			errs = append(errs, fmt.Errorf("gate: %w", err))
			continue
		}
		if !seen[m] {
			g.metrics = append(g.metrics, m)
		}
		seen[m] = true
	}
	if len(names) == 0 {
		g.metrics = gate.DefaultMetrics
	}
	root := sc.Dir
	if f.set("loadtest.baseline") || root == "" {
		root = *f.dir
	}
	if root == "" {
		errs = append(errs, errors.New("-loadtest.baseline is empty: name the baseline directory"))
	}
	g.dir = baseline.Dir(root, r.env, r.tb.Name())
	return g, errors.Join(errs...)
}

// probeDir checks, before any request, that the run can create files in
// dir, with probe, or atomicfile.Probe when nil. what names the
// directory's role in the message; the probe's error names the directory.
func probeDir(probe func(string) error, what, dir string) error {
	if probe == nil {
		probe = atomicfile.Probe
	}
	if err := probe(dir); err != nil {
		return fmt.Errorf("%s: %w; nothing would record this run's outcome", what, err)
	}
	return nil
}

// planMeta is the load shape of the plan, as the run's metadata will say.
func planMeta(p *plan) result.Meta {
	m := result.Meta{Model: "closed", Users: p.Users, SpawnRate: p.SpawnRate, MaxInFlight: p.MaxInFlight, Duration: p.Duration}
	m.Wait = waitName(p.Wait)
	if p.open {
		m.Model, m.Rate, m.Users, m.SpawnRate = "open", p.Rate, 0, 0
	}
	return m
}

// Evaluate compares the segment with the baseline and gives a verdict
// for each regression.
func (g *gatePart) Evaluate(seg *pipeline.Segment) {
	r, res := g.r, seg.Run
	rep := &gate.Report{Test: res.Meta.Test, Env: res.Meta.Env, Baseline: g.dir}
	for _, b := range g.runs {
		rep.Runs = append(rep.Runs, b.Name)
	}
	record := fmt.Sprintf("go test -tags loadtest -count=%d -run '^%s$' . -args -loadtest.update", g.k, strings.SplitN(res.Meta.Test, "/", 2)[0])
	switch {
	case len(g.runs) == 0:
		rep.Note = fmt.Sprintf("NO BASELINE for env %q in %s: nothing compared. Record %d runs with: %s (plus this run's -loadtest.* flags)", res.Meta.Env, g.dir, g.k, record)
		if g.require && !g.update {
			seg.Failf("baseline gate: no baseline and -loadtest.require-baseline is set: %s", rep.Note)
		}
	case len(g.shapeOff) > 0:
		rep.Note = fmt.Sprintf("NOT COMPARED: the baseline in %s was recorded with another load shape (%s; this run: %s): %s. Refresh it on purpose with: %s",
			g.dir, g.runs[0].Meta.Shape(), res.Meta.Shape(), strings.Join(g.shapeOff, ", "), record)
		if g.require && !g.update {
			seg.Failf("baseline gate: no comparable baseline and -loadtest.require-baseline is set: %s", rep.Note)
		}
	default:
		g.compare(res, rep)
		if len(g.runs) < min(3, g.k) {
			rep.Note = fmt.Sprintf("the baseline holds %d run(s); record %d for a reliable gate: %s", len(g.runs), g.k, record)
		}
		for _, row := range rep.Rows {
			switch {
			case row.Verdict == gate.Regressed && g.update:
				r.tb.Logf("loadtest: baseline gate: %s (not failed: -loadtest.update records this run as the new baseline)", row.Message())
			case row.Verdict == gate.Regressed:
				seg.Failf("baseline gate: %s", row.Message())
			case row.Verdict == gate.NoVerdict && g.require:
				seg.Failf("baseline gate: %s %s: no verdict (%s) and -loadtest.require-baseline is set", row.Task, row.Metric, strings.Join(row.Warnings, "; "))
			}
		}
	}
	seg.Gate = rep
}

// Write logs the comparison, writes it to the results folder and, when
// asked to, records the segment into the baseline.
func (g *gatePart) Write(seg *pipeline.Segment) {
	if seg.Gate == nil {
		return
	}
	g.r.tb.Log("\n" + seg.Gate.Text())
	g.writeOutputs(seg)
	if g.update {
		g.record(seg)
	}
}

// compare fills rep with a row per task (the per-user OnStart step
// excluded) and metric, then the aggregate's.
func (g *gatePart) compare(res *result.Run, rep *gate.Report) {
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
			hists = append(hists, g.runHistogram(b, t))
		}
		for _, m := range g.metrics {
			if m == gate.Rate && res.Meta.Model != "open" {
				continue
			}
			row := gate.Row{Task: t.Key()}
			cfg := g.cfg
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
					cfg.Tau = tau
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
func (g *gatePart) runHistogram(b *baseline.Run, t *result.Task) *hdrhistogram.Histogram {
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
func (g *gatePart) tau(task, metric string) (float64, int, bool) {
	tau, n, ok := g.history(task, metric)
	if !ok || !(tau > 0) || math.IsInf(tau, 0) {
		return 0, 0, false
	}
	return max(tau, gate.MinTau), n, true
}

// params are the gate parameters in force, recorded with a baseline run.
func (g *gatePart) params(res *result.Run) baseline.Params {
	p := baseline.Params{Tolerance: g.cfg.Tolerance, FailureTolerance: g.cfg.FailureTolerance, Alpha: g.cfg.Alpha, K: g.k,
		MinRequests: g.cfg.MinRequests, Tau: g.cfg.Tau, TauSource: g.tauSrc}
	for _, m := range g.metrics {
		p.Metrics = append(p.Metrics, string(m))
	}
	for _, t := range append(append([]*result.Task(nil), res.Tasks...), res.Total) {
		for _, m := range g.metrics {
			if _, ok := m.Quantile(); !ok || t.Setup {
				continue
			}
			if tau, n, ok := g.tau(t.Key(), string(m)); ok {
				p.Taus = append(p.Taus, baseline.Tau{Task: t.Key(), Metric: string(m), Tau: tau, Source: fmt.Sprintf("history, %d runs", n)})
			}
		}
	}
	return p
}

// minRecord is the fewest successful requests a run needs to be recorded
// as a baseline run at all; below the gate's minimum sample it is recorded
// with a warning, as the gate will give its tasks no verdict.
const minRecord = 20

// record adds the run to the baseline: only a complete run with enough
// requests.
func (g *gatePart) record(seg *pipeline.Segment) {
	r, res := g.r, seg.Run
	n := int64(0)
	if res.Total != nil {
		n = res.Total.Requests - res.Total.Failures
	}
	switch {
	case res.Meta.Status != result.Complete:
		seg.Failf("baseline not updated: the run is %s (%s); only a complete run is recorded", res.Meta.Status, res.Meta.Reason)
		return
	case n < minRecord:
		seg.Failf("baseline not updated: %d successful requests, a baseline run needs at least %d (and %d for a verdict); run longer or raise the rate", n, minRecord, g.cfg.MinRequests)
		return
	case r.plan.open && res.Meta.Scheduled+res.Meta.Dropped > 0 &&
		float64(res.Meta.Late+res.Meta.Dropped)/float64(res.Meta.Scheduled+res.Meta.Dropped) > r.plan.MaxLateRatio:
		seg.Failf("baseline not updated: the generator did not hold the rate, so the latencies measured are not the target's; record on a quieter machine")
		return
	case r.plan.MaxFailureRatio >= 0 && res.Total != nil && res.Total.FailureRatio() > r.plan.MaxFailureRatio:
		seg.Failf("baseline not updated: %.1f%% of requests failed, above the limit of %s", 100*res.Total.FailureRatio(), percent(r.plan.MaxFailureRatio))
		return
	case n < int64(g.cfg.MinRequests):
		r.tb.Logf("loadtest: baseline: WARNING: this run has %d successful requests; the gate gives no verdict below %d per run and task: run longer or raise the rate", n, g.cfg.MinRequests)
	}
	rec, err := baseline.Record(g.dir, res, g.params(res), g.k)
	if err != nil {
		seg.Failf("baseline not updated: %v", err)
		return
	}
	r.tb.Logf("loadtest: baseline: recorded run %s in %s (%d of %d runs kept)", rec.Name, g.dir, rec.Kept, g.k)
	if len(rec.Removed) > 0 {
		r.tb.Logf("loadtest: baseline: removed older run(s) %s", strings.Join(rec.Removed, ", "))
	}
}

// writeOutputs writes the comparison CSV and benchmark lines to the
// results folder and appends the Markdown table to $GITHUB_STEP_SUMMARY.
func (g *gatePart) writeOutputs(seg *pipeline.Segment) {
	res, rep := seg.Run, seg.Gate
	base := filepath.Join(g.r.plan.out, result.FileBase(res.Meta.Test))
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
		{Key: "env", Value: []byte(res.Meta.Env), File: true},
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
