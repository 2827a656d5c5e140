package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/gatecheck"
	"github.com/steadyload/steadyload/loadtest/result"
)

// DefaultBaselineRuns is the number of runs a baseline keeps (K) when the
// scenario and -loadtest.baseline-runs say nothing.
const DefaultBaselineRuns = 5

// Gate configures the comparison of a run with its baseline: the last K
// recorded runs in <Dir>/<env>/<Test>/. Its zero value is the default
// gate: p95, the failure ratio and (open model) the achieved rate of every
// task and of the aggregate, tolerance 10 %, α = 0.01, K = 5, τ
// estimated from the baseline runs (shrunk toward 5 %) until the history
// calibrates it. A set -loadtest.* flag overrides the matching field.
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
	// Tau is the run-to-run noise of ln(percentile) when the history has
	// not calibrated it. Zero (the default) estimates it from the K
	// baseline runs, shrunk toward 0.05 (see docs/gate.md); a value set
	// here is used as it is.
	Tau float64
	// JudgeStarved judges a run even when its generator was starved —
	// denied CPU, or late starting its tasks, far more than in the
	// baseline's runs — with a warning; by default such a comparison
	// gives "no verdict" (see docs/gate.md); -loadtest.judge-starved.
	JudgeStarved bool

	update bool // record this run, as -loadtest.update (tests of the package)
}

// baselineFlags are the gate's flags, on one flag set.
type baselineFlags struct {
	fs        *flag.FlagSet
	dir       *string
	update    *bool
	require   *bool
	judge     *bool
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
		judge:     fs.Bool("loadtest.judge-starved", false, "judge a run even when its generator was starved next to the baseline's runs (default: no verdict)"),
		tolerance: fs.Float64("loadtest.tolerance", 0, "change that fails when significant: latency +F, rate -F (default 0.10)"),
		alpha:     fs.Float64("loadtest.alpha", 0, "one-sided significance level of the gate (default 0.01)"),
		metrics:   fs.String("loadtest.gate", "", "gated `metrics`, comma-separated: p50, p90, p95, p99, failures, rate (default p95,failures,rate)"),
		runs:      fs.Int("loadtest.baseline-runs", 0, "baseline runs kept and compared with, K (default 5)"),
	}
}

func (f *baselineFlags) set(name string) bool { return isSetIn(f.fs, name) }

// newGatePart makes the baseline gate of r from flags f, with τ from tau
// (nil: never calibrated). Invalid settings, a malformed baseline, and a
// folder that cannot be written are errors before any request.
func newGatePart(r *runner, f *baselineFlags, tau func(task, metric string) (float64, int, bool)) (*gatecheck.Part, error) {
	cfg, err := gateConfig(r, f)
	if err != nil {
		return nil, err
	}
	cfg.Tau = tau
	return gatecheck.New(r.info(), cfg)
}

// gateConfig reads the gate's flags and scenario fields.
func gateConfig(r *runner, f *baselineFlags) (gatecheck.Config, error) {
	sc := r.plan.Gate
	g := gatecheck.Config{
		Update: sc.update || *f.update, Require: *f.require, JudgeStarved: sc.JudgeStarved || *f.judge, K: sc.K, TauSource: "default (not calibrated)",
		MaxFailureRatio: r.plan.MaxFailureRatio, MaxLateRatio: r.plan.MaxLateRatio, Probe: f.probe,
	}
	g.Gate = gate.Config{Tolerance: sc.Tolerance, FailureTolerance: sc.FailureTolerance, Alpha: sc.Alpha, Tau: sc.Tau, EstimateTau: sc.Tau == 0}
	if sc.Tau != 0 {
		g.TauSource = "scenario"
	}
	var errs []error
	if f.set("loadtest.tolerance") {
		g.Gate.Tolerance = *f.tolerance
		if !(*f.tolerance > 0) {
			errs = append(errs, fmt.Errorf("-loadtest.tolerance=%g: want a positive fraction, e.g. 0.10 for 10%%", *f.tolerance))
		}
	}
	if f.set("loadtest.alpha") {
		g.Gate.Alpha = *f.alpha
		if !(*f.alpha > 0) {
			errs = append(errs, fmt.Errorf("-loadtest.alpha=%g: want a level in (0, 0.5), e.g. 0.01", *f.alpha))
		}
	}
	if err := g.Gate.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gate: %w", err))
	}
	g.Gate = g.Gate.Normalize()
	if f.set("loadtest.baseline-runs") {
		g.K = *f.runs
		if g.K < 1 {
			errs = append(errs, fmt.Errorf("-loadtest.baseline-runs=%d: want at least 1 (3 or more for a reliable gate)", *f.runs))
		}
	}
	if g.K == 0 {
		g.K = DefaultBaselineRuns
	}
	if g.K < 0 {
		errs = append(errs, fmt.Errorf("gate: K = %d runs is negative", g.K))
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
			g.Metrics = append(g.Metrics, m)
		}
		seen[m] = true
	}
	if len(names) == 0 {
		g.Metrics = gate.DefaultMetrics
	}
	root := sc.Dir
	if f.set("loadtest.baseline") || root == "" {
		root = *f.dir
	}
	if root == "" {
		errs = append(errs, errors.New("-loadtest.baseline is empty: name the baseline directory"))
	}
	g.Dir = baseline.DirAt(root, r.env, r.plan.location, r.tb.Name())
	return g, errors.Join(errs...)
}

// planMeta is the load shape of the plan, as the run's metadata will say:
// pipeline.Info.Shape, which the gate compares with the baseline's.
func planMeta(p *plan) result.Meta {
	m := result.Meta{Model: "closed", Users: p.Users, SpawnRate: p.SpawnRate, MaxInFlight: p.MaxInFlight, Duration: p.Duration}
	if p.Segment > 0 {
		m.Duration = p.Segment // what each segment's meta will say
	}
	m.Wait = waitName(p.Wait)
	if p.open {
		m.Model, m.Rate, m.Users, m.SpawnRate = "open", p.Rate, 0, 0
	}
	if m.Stages = formatStages(p.Stages); m.Stages != "" {
		m.SpawnRate = 0 // the stages start the users
	}
	return m
}
