package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"math"

	"github.com/steadyload/steadyload/internal/leak"
)

// The within-run trend check: each task's per-window median latency is
// tested for a steady rise (a leak, a growing backlog) with the one-sided
// Mann-Kendall test at α = 0.01 and a Theil-Sen growth over the run of at
// least LeakGrowth (package internal/leak).
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

// newLeakPart reads the leak test's flags and scenario fields; nil when
// the test is off.
func newLeakPart(r *runner, f *leakFlags) (*leak.Part, error) {
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
	return leak.New(r.info(), leak.Config{Growth: growth, Fail: mode == ModeFail}), nil
}
