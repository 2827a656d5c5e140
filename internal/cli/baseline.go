package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/loadtest/result"
)

const baselineListDoc = `Baseline list lists the baselines under a baseline root: each <env>[@<location>]/<Test>
directory holding recorded runs, with its number of runs, load shape and newest run.`

func runBaselineList(e *env, args []string) int {
	fs := e.newFlagSet("[-baseline DIR]", baselineListDoc)
	root := fs.String("baseline", "baseline", "the baseline root `dir`ectory, as -loadtest.baseline")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 0 {
		return e.usagef(fs, "unexpected arguments %q", fs.Args())
	}
	envs, err := os.ReadDir(*root)
	if err != nil {
		return e.errorf("%v", err)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ENV\tTEST\tRUNS\tSHAPE\tNEWEST")
	var errs []error
	for _, env := range envs {
		if !env.IsDir() || strings.HasPrefix(env.Name(), ".") {
			continue
		}
		tests, err := os.ReadDir(filepath.Join(*root, env.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, t := range tests {
			if !t.IsDir() || strings.HasPrefix(t.Name(), ".") {
				continue
			}
			runs, err := baseline.Load(filepath.Join(*root, env.Name(), t.Name()))
			if err != nil {
				errs = append(errs, err)
				continue
			}
			if len(runs) == 0 {
				continue // a history folder without a baseline
			}
			newest := runs[len(runs)-1]
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", env.Name(), t.Name(), len(runs), newest.Meta.Shape(), newest.Name)
		}
	}
	tw.Flush()
	if err := errors.Join(errs...); err != nil {
		return e.errorf("%v", err)
	}
	return ExitPass
}

const baselineShowDoc = `Baseline show prints the runs recorded in each test's baseline directory
(<baseline>/<env>[@<location>]/<Test>), oldest first, and the gate's settings they were
recorded with.`

func runBaselineShow(e *env, args []string) int {
	fs := e.newFlagSet("BASELINE-DIR...", baselineShowDoc)
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() == 0 {
		return e.usagef(fs, "name a test's baseline directory, e.g. baseline/loopback/TestCheckout")
	}
	for i, dir := range fs.Args() {
		if i > 0 {
			e.printf("\n")
		}
		if _, err := os.Stat(dir); err != nil {
			return e.errorf("%v", err)
		}
		runs, err := baseline.Load(dir)
		if err != nil {
			return e.errorf("%v", err)
		}
		showBaseline(e.stdout, dir, runs)
	}
	return ExitPass
}

// showBaseline prints the runs of one baseline.
func showBaseline(w io.Writer, dir string, runs []*baseline.Run) {
	if len(runs) == 0 {
		fmt.Fprintf(w, "%s: no runs recorded\n", dir)
		return
	}
	fmt.Fprintf(w, "%s: %d run(s), %s\n\n", dir, len(runs), runs[0].Meta.Shape())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Run\tCommit\tRequests\tFailures\tp50\tp95\tp99\t")
	for _, r := range runs {
		h := result.NewHistogram()
		for _, x := range r.Histograms {
			h.Merge(x.Latency)
		}
		agg, _ := r.Task("", result.AggregateName)
		commit := r.Meta.GitCommit
		if len(commit) > 12 {
			commit = commit[:12]
		}
		q := func(p float64) string {
			if h.TotalCount() == 0 {
				return "—"
			}
			return numfmt.Millis(float64(h.ValueAtPercentile(p)))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t\n", r.Name, commit, agg.Requests, agg.Failures, q(50), q(95), q(99))
	}
	tw.Flush()
	p := runs[len(runs)-1].Params
	fmt.Fprintf(w, "\ngate (newest run): metrics %s, tolerance %s, failure tolerance %s, α %g, K %d, τ %g (%s)\n",
		strings.Join(p.Metrics, ","), numfmt.Percent(p.Tolerance), numfmt.Percent(p.FailureTolerance), p.Alpha, p.K, p.Tau, p.TauSource)
}

const baselinePruneDoc = `Baseline prune keeps only the newest -keep runs in each test's baseline directory,
removing the older ones under the baseline's lock, as recording does.`

func runBaselinePrune(e *env, args []string) int {
	fs := e.newFlagSet("-keep K BASELINE-DIR...", baselinePruneDoc)
	keep := fs.Int("keep", 0, "runs to keep, the newest (required, at least 1)")
	if code, done := parse(fs, args); done {
		return code
	}
	switch {
	case *keep < 1:
		return e.usagef(fs, "-keep=%d: want at least 1 run", *keep)
	case fs.NArg() == 0:
		return e.usagef(fs, "name a test's baseline directory, e.g. baseline/loopback/TestCheckout")
	}
	for _, dir := range fs.Args() {
		if _, err := os.Stat(dir); err != nil {
			return e.errorf("%v", err)
		}
		removed, err := baseline.Prune(dir, *keep)
		if err != nil {
			return e.errorf("%v", err)
		}
		if len(removed) == 0 {
			e.printf("%s: nothing to prune\n", dir)
			continue
		}
		e.printf("%s: removed %s\n", dir, strings.Join(removed, ", "))
	}
	return ExitPass
}
