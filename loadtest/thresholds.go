package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/steadyload/steadyload/internal/threshold"
)

// limitFlags are the flags of the absolute thresholds, on one flag set.
type limitFlags struct {
	fs   *flag.FlagSet
	list *stringList
}

func newLimitFlags(fs *flag.FlagSet) *limitFlags {
	f := &limitFlags{fs: fs, list: &stringList{}}
	fs.Var(f.list, "loadtest.threshold", "absolute `limit`s beside the gate, comma-separated or repeated, e.g. \"p95 < 300ms\", \"GET /orders/{id}: failures < 0.5%\", \"rate > 9.5/s\" (overrides Scenario.Thresholds)")
	return f
}

// stringList is a flag that collects values: each use adds its
// comma-separated items, spaces around them trimmed.
type stringList []string

func (l *stringList) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *stringList) Set(s string) error {
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	return nil
}

// newThresholdPart reads the thresholds from their flag, when set, else
// from the scenario; nil when there are none.
func newThresholdPart(r *runner, f *limitFlags) (*threshold.Part, error) {
	exprs, src := r.plan.Thresholds, "Scenario.Thresholds"
	if isSetIn(f.fs, "loadtest.threshold") {
		exprs, src = *f.list, "-loadtest.threshold"
	}
	if len(exprs) == 0 {
		return nil, nil
	}
	var ts []threshold.Threshold
	var errs []error
	for _, e := range exprs {
		t, err := threshold.Parse(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %w", src, err))
			continue
		}
		ts = append(ts, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return threshold.New(r.info(), threshold.Config{Thresholds: ts, Source: src})
}
