package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/drift"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/gatecheck"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/report"
	"github.com/steadyload/steadyload/internal/reportsink"
	"github.com/steadyload/steadyload/internal/runcheck"
	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The harness's defaults, which a stored run is judged with unless a
// flag says otherwise (loadtest's DefaultMaxFailureRatio and so on).
const (
	defaultBaselineRuns    = 5
	defaultMaxFailureRatio = 0.01
	defaultMaxLateRatio    = 0.01
	defaultLateTolerance   = 10 * time.Millisecond
)

// judgeFlags are how a stored run is judged: the -loadtest.* flags of a
// run that judge it, without their prefix.
type judgeFlags struct {
	fs               *flag.FlagSet
	baseline         *string
	historyDir       *string
	env              *string
	location         *string
	name             *string
	out              *string
	metrics          *string
	tolerance        *float64
	failureTolerance *float64
	alpha            *float64
	k                *int
	require          *bool
	judgeStarved     *bool
	update           *bool
	historyAppend    *bool
	drift            *string
	driftRuns        *int
	driftSlope       *float64
	maxFailures      *float64
	maxLate          *float64
	lateTolerance    *time.Duration
}

func newJudgeFlags(fs *flag.FlagSet) *judgeFlags {
	return &judgeFlags{
		fs:               fs,
		baseline:         fs.String("baseline", "baseline", "`dir`ectory of the baselines, <dir>/<env>/<Test>/, as -loadtest.baseline"),
		historyDir:       fs.String("history-dir", "", "`dir`ectory of the history files, as -loadtest.history-dir (default: -baseline's)"),
		env:              fs.String("env", "", "judge against this environment's baseline and history (default: the run's)"),
		location:         fs.String("location", "", "judge against this location's baseline and history (default: the run's; \"-\" for none)"),
		name:             fs.String("name", "", "judge only the run of this `name` in each folder (its files' prefix, e.g. TestCheckout; default: every run)"),
		out:              fs.String("out", "", "`dir`ectory for the gate's files, <name>_gate.csv and _bench.txt (default: the results folder)"),
		metrics:          fs.String("gate", "", "gated `metrics`, comma-separated: p50, p90, p95, p99, failures, rate (default p95,failures,rate)"),
		tolerance:        fs.Float64("tolerance", 0, "change that fails when significant: latency +F, rate -F (default 0.10)"),
		failureTolerance: fs.Float64("failure-tolerance", 0, "rise of the failure ratio that fails, in absolute terms (default 0.01)"),
		alpha:            fs.Float64("alpha", 0, "one-sided significance level of the gate (default 0.01)"),
		k:                fs.Int("baseline-runs", defaultBaselineRuns, "baseline runs kept when recording, K"),
		require:          fs.Bool("require-baseline", false, "fail when there is no comparable baseline or no verdict"),
		judgeStarved:     fs.Bool("judge-starved", false, "judge a run even when its generator was starved next to the baseline's runs (default: no verdict)"),
		update:           fs.Bool("update", false, "record the run into the baseline, as -loadtest.update (a regression is then reported, not failed)"),
		historyAppend:    fs.Bool("history-append", false, "append the run's rows to the history, as -loadtest.history"),
		drift:            fs.String("drift", "warn", "history check for a creep or a step of each task's p95: warn, fail or off"),
		driftRuns:        fs.Int("drift-runs", 0, "runs of the history tested for a creep (default 14)"),
		driftSlope:       fs.Float64("drift-slope", 0, "smallest creep per run that counts, as a fraction (default 0.005)"),
		maxFailures:      fs.Float64("max-failure-ratio", defaultMaxFailureRatio, "fail when a task's failure ratio exceeds this (0: any failure; negative disables)"),
		maxLate:          fs.Float64("max-late-ratio", defaultMaxLateRatio, "open model: fail when more of the starts than this were late (the generator's or for a slot), or dropped"),
		lateTolerance:    fs.Duration("late-tolerance", defaultLateTolerance, "open model: how late a start may be before it counts as late (for the message)"),
	}
}

func (f *judgeFlags) set(name string) bool {
	set := false
	f.fs.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// judged is one stored run, judged.
type judged struct {
	dir string
	seg *pipeline.Segment
	// historyPath is the history file the run was tested against.
	historyPath string
}

// judge reads run name from results folder dir and judges it as the
// harness judged it: its own checks, the gate against the baseline, the
// history; with sinks, the gate's files are written and the baseline and
// history recorded when asked to. An error is input that cannot be used.
func (f *judgeFlags) judge(e *env, dir, name string, sinks bool) (*judged, error) {
	res, err := runfiles.Read(dir, name)
	if err != nil {
		return nil, err
	}
	m := res.Meta
	if m.Shard != "" {
		return nil, fmt.Errorf("%s: shard %s of run %s: merge the shards first (steadyload merge), then judge the merged run", result.MetaFile(dir, name), m.Shard, m.RunID)
	}
	envName, location := m.Env, m.Location
	if *f.env != "" {
		envName = *f.env
	}
	switch *f.location {
	case "":
	case "-":
		location = ""
	default:
		location = *f.location
	}
	out := *f.out
	if out == "" {
		out = dir
	}
	info := pipeline.Info{
		Test: m.Test, Env: envName, Location: location, Target: m.Target, StandIn: m.StandIn != "",
		Out: out, Window: m.Window, Shape: m, Logf: func(format string, args ...any) { fmt.Fprintf(e.stdout, format+"\n", args...) },
	}
	for _, t := range res.Tasks {
		info.Tasks = append(info.Tasks, t.Key())
	}
	var errs []error
	var hist *drift.Part
	histRoot := *f.historyDir
	if histRoot == "" {
		histRoot = *f.baseline
	}
	j := &judged{dir: dir, historyPath: history.PathAt(histRoot, envName, location, m.Test)}
	dcfg, err := f.driftConfig(j.historyPath, m.RunID, sinks)
	errs = append(errs, err)
	if err == nil && (dcfg.Check || dcfg.Append) {
		// As in the run: the history, when checked or appended to, also
		// calibrates the gate's τ.
		hist, err = drift.New(info, dcfg)
		errs = append(errs, err)
	}
	gcfg, err := f.gateConfig(envName, location, m.Test, sinks)
	errs = append(errs, err)
	if hist != nil {
		gcfg.Tau = hist.Tau
	}
	var gp *gatecheck.Part
	if err == nil {
		gp, err = gatecheck.New(info, gcfg)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// In the run's order (loadtest's buildPipeline): the checks, the
	// gate, the history; then the gate's files, the history's rows.
	pipe := &pipeline.Pipeline{Evaluators: []pipeline.Evaluator{checks{f.checks()}, gp}}
	if hist != nil {
		pipe.Evaluators = append(pipe.Evaluators, hist)
	}
	if sinks {
		pipe.Sinks = []pipeline.Sink{gp}
		if hist != nil {
			pipe.Sinks = append(pipe.Sinks, hist)
		}
	}
	j.seg = &pipeline.Segment{Run: res, Name: name, Last: true}
	pipe.Finish(j.seg)
	return j, nil
}

// checks is the harness's own judgement of the run.
type checks struct{ cfg runcheck.Config }

func (c checks) Evaluate(seg *pipeline.Segment) {
	for _, msg := range runcheck.Check(seg.Run, c.cfg) {
		seg.Failf("%s", msg)
	}
}

func (f *judgeFlags) checks() runcheck.Config {
	c := runcheck.Config{MaxFailureRatio: *f.maxFailures, MaxLateRatio: *f.maxLate, LateTolerance: *f.lateTolerance}
	if c.MaxFailureRatio == 0 {
		c.MaxFailureRatio = math.SmallestNonzeroFloat64 // "no failures at all", as the harness
	}
	return c
}

// gateConfig is the gate's configuration from the flags, as the harness
// makes it from its own.
func (f *judgeFlags) gateConfig(envName, location, test string, record bool) (gatecheck.Config, error) {
	c := gatecheck.Config{
		Update: record && *f.update, Require: *f.require, JudgeStarved: *f.judgeStarved, K: *f.k, TauSource: "default (not calibrated)",
		MaxFailureRatio: f.checks().MaxFailureRatio, MaxLateRatio: *f.maxLate,
	}
	// τ as the harness takes it when the scenario sets none: estimated
	// from the baseline runs, unless the history has calibrated it.
	c.Gate = gate.Config{Tolerance: *f.tolerance, FailureTolerance: *f.failureTolerance, Alpha: *f.alpha, EstimateTau: true}
	var errs []error
	if f.set("tolerance") && !(*f.tolerance > 0) {
		errs = append(errs, fmt.Errorf("-tolerance=%g: want a positive fraction, e.g. 0.10 for 10%%", *f.tolerance))
	}
	if f.set("alpha") && !(*f.alpha > 0) {
		errs = append(errs, fmt.Errorf("-alpha=%g: want a level in (0, 0.5), e.g. 0.01", *f.alpha))
	}
	if err := c.Gate.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("gate: %w", err))
	}
	c.Gate = c.Gate.Normalize()
	if c.K < 1 {
		errs = append(errs, fmt.Errorf("-baseline-runs=%d: want at least 1", c.K))
	}
	seen := map[gate.Metric]bool{}
	if *f.metrics != "" {
		for _, n := range strings.Split(*f.metrics, ",") {
			m, err := gate.ParseMetric(n)
			if err != nil {
				errs = append(errs, fmt.Errorf("gate: %w", err))
				continue
			}
			if !seen[m] {
				c.Metrics = append(c.Metrics, m)
			}
			seen[m] = true
		}
	} else {
		c.Metrics = gate.DefaultMetrics
	}
	if *f.baseline == "" {
		errs = append(errs, errors.New("-baseline is empty: name the baseline directory"))
	}
	c.Dir = baseline.DirAt(*f.baseline, envName, location, test)
	return c, errors.Join(errs...)
}

// driftConfig is the history's configuration from the flags.
func (f *judgeFlags) driftConfig(path, runID string, record bool) (drift.Config, error) {
	c := drift.Config{Path: path, Append: record && *f.historyAppend, Exclude: runID}
	var errs []error
	switch *f.drift {
	case "warn":
		c.Check = true
	case "fail":
		c.Check, c.Fail = true, true
	case "off":
	default:
		errs = append(errs, fmt.Errorf("-drift=%s: want warn, fail or off", *f.drift))
	}
	if f.set("drift-runs") {
		c.Drift.Runs = *f.driftRuns
		if c.Drift.Runs < 3 {
			errs = append(errs, fmt.Errorf("-drift-runs=%d: want at least 3 runs", *f.driftRuns))
		}
		c.Drift.MinRuns = min(c.Drift.Runs, trend.DefaultDriftMinRuns)
	}
	if f.set("drift-slope") {
		c.Drift.MinSlope = *f.driftSlope
		if !(c.Drift.MinSlope > 0) || math.IsInf(c.Drift.MinSlope, 0) {
			errs = append(errs, fmt.Errorf("-drift-slope=%g: want a positive fraction per run, e.g. 0.005", *f.driftSlope))
		}
	}
	return c, errors.Join(errs...)
}

// runsIn lists the runs of each results folder to judge: every run, or
// the one -name names.
func (f *judgeFlags) runsIn(dirs []string) ([][2]string, error) {
	var runs [][2]string
	var errs []error
	for _, dir := range dirs {
		names, err := runfiles.Names(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found := false
		for _, n := range names {
			if *f.name == "" || n == *f.name {
				runs = append(runs, [2]string{dir, n})
				found = true
			}
		}
		switch {
		case !found && *f.name != "":
			errs = append(errs, fmt.Errorf("%s: no run %q (runs: %s)", dir, *f.name, strings.Join(names, ", ")))
		case !found:
			errs = append(errs, fmt.Errorf("%s: no run: no <name>_meta.csv", dir))
		}
	}
	return runs, errors.Join(errs...)
}

const compareDoc = `Compare judges each run stored in the results folders as the run itself was judged:
the harness's own checks (status, failure ratio, the generator's schedule), the gate
against the run's baseline (<baseline>/<env>[@<location>]/<Test>/) with the same table,
and the history's drift and step check (warnings unless -drift=fail). It writes the
gate's files (<name>_gate.csv, <name>_bench.txt) and, with -update or -history-append,
records the run. Exit code 0 when every run passed, 1 when one failed, 2 for bad usage or
unreadable input. The gate's settings are the harness's defaults unless flags set them:
give the same ones the run was given.`

func runCompare(e *env, args []string) int {
	return compare(e, args, false)
}

func runBaselineRecord(e *env, args []string) int {
	return compare(e, args, true)
}

// compare judges the runs of the folders args names; record makes it
// baseline record (compare -update).
func compare(e *env, args []string, record bool) int {
	fs := e.newFlagSet("[flags] RESULTS...", compareDoc)
	f := newJudgeFlags(fs)
	if code, done := parse(fs, args); done {
		return code
	}
	if record {
		*f.update = true
	}
	if fs.NArg() == 0 {
		return e.usagef(fs, "name at least one results folder")
	}
	runs, err := f.runsIn(fs.Args())
	if err != nil {
		return e.errorf("%v", err)
	}
	code := ExitPass
	for _, r := range runs {
		j, err := f.judge(e, r[0], r[1], true)
		if err != nil {
			return e.errorf("%v", err)
		}
		if verdict(e, j.seg) {
			code = ExitFail
		}
	}
	return code
}

// verdict prints seg's warnings, then its failures, then one line of
// verdict; it reports whether the run failed.
func verdict(e *env, seg *pipeline.Segment) bool {
	for _, v := range seg.Verdicts {
		if !v.Fail {
			e.printf("warning: %s\n", v.Text)
		}
	}
	for _, v := range seg.Verdicts {
		if v.Fail {
			e.printf("FAIL: %s\n", v.Text)
		}
	}
	word := "PASS"
	if seg.Failed() {
		word = "FAIL"
	}
	e.printf("%s %s (run %s)\n", word, seg.Meta.Test, seg.Meta.RunID)
	return seg.Failed()
}

const reportDoc = `Report writes the HTML report of each run stored in the results folders, judged as
compare judges it (nothing is written but the report): the findings, the figures, the
windows, the gate's table and the baseline's band, the history chart.`

func runReport(e *env, args []string) int {
	fs := e.newFlagSet("[flags] RESULTS...", reportDoc)
	f := newJudgeFlags(fs)
	outFile := fs.String("o", "", "the report's `file` (default <results>/<name>_report.html; only with one run)")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return e.usagef(fs, "name at least one results folder")
	}
	runs, err := f.runsIn(fs.Args())
	if err != nil {
		return e.errorf("%v", err)
	}
	if *outFile != "" && len(runs) > 1 {
		return e.usagef(fs, "-o names one file, and the folders hold %d runs: pick one with -name", len(runs))
	}
	for _, r := range runs {
		j, err := f.judge(e, r[0], r[1], false)
		if err != nil {
			return e.errorf("%v", err)
		}
		path := *outFile
		if path == "" {
			path = filepath.Join(r[0], r[1]+"_report.html")
		}
		in := reportsink.Input(j.seg, j.historyPath)
		if err := atomicfile.Write(path, func(w io.Writer) error { return report.HTML(w, in) }); err != nil {
			return e.errorf("%v", err)
		}
		e.printf("%s: report written to %s\n", r[1], path)
	}
	return ExitPass
}
