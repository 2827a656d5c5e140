package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"math"

	"github.com/steadyload/steadyload/internal/drift"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/trend"
)

// The run history: with -loadtest.history, a complete run appends one row
// per task to <history-dir>/<env>/<Test>/history.csv (see package
// history). Whenever that file exists, each task's p95 over the runs of
// the same load shape is checked for a creep (Mann-Kendall over the last
// -loadtest.drift-runs runs, α = 0.01, Theil-Sen slope above
// -loadtest.drift-slope per run) and for a recent step (change points in
// the manner of Hunter/Otava: t-test p < 0.001, magnitude > 5 %), and the
// run-to-run noise τ of each task's p95 is calibrated for the gate once
// 20 runs of the shape are recorded (package internal/drift).
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

// historyFile is the path of r's history file under f's directory.
func historyFile(r *runner, f *historyFlags) string {
	return history.PathAt(*f.dir, r.env, r.plan.location, r.tb.Name())
}

// newHistoryPart reads the history flags and the history of r's test; nil
// when the history is neither appended to nor checked. A history that
// could not be appended to, or a malformed one, is an error before any
// request.
func newHistoryPart(r *runner, f *historyFlags) (*drift.Part, error) {
	var errs []error
	mode, err := checkMode(f.fs, "loadtest.drift", *f.drift, r.plan.Drift, "Drift")
	if err != nil {
		errs = append(errs, err)
	}
	cfg := drift.Config{Append: *f.append, Check: mode != ModeOff, Fail: mode == ModeFail, Probe: f.probe}
	if isSetIn(f.fs, "loadtest.drift-runs") {
		cfg.Drift.Runs = *f.driftRuns
		if cfg.Drift.Runs < 3 {
			errs = append(errs, fmt.Errorf("-loadtest.drift-runs=%d: want at least 3 runs", *f.driftRuns))
		}
		cfg.Drift.MinRuns = min(cfg.Drift.Runs, trend.DefaultDriftMinRuns)
	}
	if isSetIn(f.fs, "loadtest.drift-slope") {
		cfg.Drift.MinSlope = *f.driftSlope
		if !(cfg.Drift.MinSlope > 0) || math.IsInf(cfg.Drift.MinSlope, 0) {
			errs = append(errs, fmt.Errorf("-loadtest.drift-slope=%g: want a positive fraction per run, e.g. 0.005", *f.driftSlope))
		}
	}
	if *f.dir == "" {
		errs = append(errs, fmt.Errorf("-loadtest.history-dir is empty: name the directory of the history files"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if !cfg.Append && !cfg.Check {
		return nil, nil
	}
	cfg.Path = historyFile(r, f)
	return drift.New(r.info(), cfg)
}
