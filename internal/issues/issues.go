// Package issues turns a results folder into the GitHub issues that
// track what failed in it: one open issue per failing finding, commented
// on while it keeps failing, closed once a run that judged it finds it no
// more. It plans; a workflow step applies the plan with the GitHub CLI.
//
// A failing finding is a gate row whose verdict is FAIL (<Test>_gate.csv),
// a finding of severity "fail" (<Test>_findings.csv), or a run the abort
// guard stopped (<Test>_meta.csv). Each is an issue titled
//
//	steadyload: <test> <task> <metric> <kind>
//
// (the task and metric left out where there are none), which is how an
// issue is found again: by its exact title. An open issue of that shape
// whose finding is not failing is closed only when the run judged it: the
// test ran to completion and the file that would say it is there — the
// gate's comparison with rows for a regression, the findings file for a
// leak, drift, step or signal. A test absent from the folder, or cut
// short, leaves its issues alone.
//
//	res, err := issues.Read("loadtest-results")
//	plan := issues.Plan(res, existing, runURL)
package issues

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/steadyload/steadyload/internal/findings"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/strictcsv"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TitlePrefix starts the title of every issue this package plans.
const TitlePrefix = "steadyload: "

// The kinds of failing finding beyond the findings' own (leak, drift,
// step, signal).
const (
	Regression = "regression"
	Abort      = "abort"
)

// Key says which finding an issue tracks.
type Key struct {
	Test, Task, Metric, Kind string
}

// Title is the issue's title: "steadyload: <test> <task> <metric> <kind>",
// without the parts that are empty.
func (k Key) Title() string {
	parts := slices.DeleteFunc([]string{k.Test, k.Task, k.Metric, k.Kind}, func(s string) bool { return s == "" })
	return TitlePrefix + strings.Join(parts, " ")
}

// Failing is one failing finding of a run.
type Failing struct {
	Key
	Details string      // what was found, one line
	Meta    result.Meta // the run (segment) it was found in
}

// Results is what a results folder says: the failing findings and what
// was judged.
type Results struct {
	Failing []Failing // sorted by title
	// Judged holds, per test, the kinds a run of it judged: findings of
	// those kinds that are not failing have cleared.
	Judged map[string]Judged
}

// Judged is what a test's run judged.
type Judged struct {
	Regression bool // the gate compared the run
	Findings   bool // the findings file was written for a complete run
	Complete   bool // the run went its whole way (no abort)
}

// judges reports whether j says anything about a finding of kind.
func (j Judged) judges(kind string) bool {
	switch kind {
	case Regression:
		return j.Regression
	case Abort:
		return j.Complete
	}
	return j.Findings
}

// Read reads the results folder dir: each <Test>_meta.csv, and beside it
// the test's gate comparison and findings when they were written. When a
// test has several (the segments of a run without end), its latest is
// read. A folder with no run in it is an error, and so is any file that
// does not read.
func Read(dir string) (*Results, error) {
	metas, err := filepath.Glob(filepath.Join(dir, "*_meta.csv"))
	if err != nil {
		return nil, err
	}
	if len(metas) == 0 {
		return nil, fmt.Errorf("%s: no run in the folder (no *_meta.csv)", dir)
	}
	latest := map[string]string{} // test → the base of its latest files
	starts := map[string]result.Meta{}
	for _, path := range metas {
		m, err := readMeta(path)
		if err != nil {
			return nil, err
		}
		if old, ok := starts[m.Test]; ok && !m.Start.After(old.Start) {
			continue
		}
		starts[m.Test] = m
		latest[m.Test] = strings.TrimSuffix(path, "_meta.csv")
	}
	res := &Results{Judged: map[string]Judged{}}
	for _, test := range slices.Sorted(maps.Keys(latest)) {
		m, base := starts[test], latest[test]
		j := Judged{Complete: m.Status == result.Complete}
		if m.Status == result.Aborted {
			res.Failing = append(res.Failing, Failing{Key: Key{Test: test, Kind: Abort}, Details: "stopped by the abort guard: " + m.Reason, Meta: m})
		}
		rows, compared, err := readGate(base + "_gate.csv")
		if err != nil {
			return nil, err
		}
		j.Regression = compared && len(rows) > 0 && j.Complete
		for _, r := range rows {
			if r.verdict == gate.Regressed.String() {
				res.Failing = append(res.Failing, Failing{Key: Key{Test: test, Task: r.task, Metric: r.metric, Kind: Regression}, Details: r.text, Meta: m})
			}
		}
		found, written, err := readFindings(base + findings.Suffix)
		if err != nil {
			return nil, err
		}
		j.Findings = written && j.Complete
		for _, f := range found {
			if f.Fail {
				res.Failing = append(res.Failing, Failing{Key: Key{Test: test, Task: f.Task, Metric: f.Metric, Kind: f.Kind}, Details: f.Text, Meta: m})
			}
		}
		res.Judged[test] = j
	}
	slices.SortStableFunc(res.Failing, func(a, b Failing) int { return cmp.Compare(a.Title(), b.Title()) })
	return res, nil
}

func readMeta(path string) (result.Meta, error) {
	f, err := os.Open(path)
	if err != nil {
		return result.Meta{}, err
	}
	defer f.Close()
	return result.ReadMeta(path, f)
}

// gateRow is what a row of the gate's comparison says of a regression.
type gateRow struct {
	task, metric, verdict, text string
}

// readGate reads a gate comparison; found is false when there is none.
func readGate(path string) (rows []gateRow, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	rd, err := strictcsv.NewReader(path, f, gate.CSVHeader)
	if err != nil {
		return nil, false, err
	}
	col := func(name string) int { return slices.Index(gate.CSVHeader, name) }
	for {
		rec, _, err := rd.Read()
		if err == io.EOF {
			return rows, true, nil
		}
		if err != nil {
			return nil, false, err
		}
		r := gateRow{task: rec[col("Task")], metric: rec[col("Metric")], verdict: rec[col("Verdict")]}
		unit := rec[col("Unit")]
		r.text = fmt.Sprintf("%s %s: %s → %s %s (Δ %s, p %s, tolerance %s)", r.task, r.metric,
			orDash(rec[col("Baseline")]), orDash(rec[col("Current")]), unit, orDash(rec[col("Delta")]), orDash(rec[col("P")]), orDash(rec[col("Tolerance")]))
		if w := rec[col("Warnings")]; w != "" {
			r.text += "; " + w
		}
		rows = append(rows, r)
	}
}

func orDash(s string) string { return cmp.Or(s, "-") }

// readFindings reads a findings file; found is false when there is none.
func readFindings(path string) (list []result.Finding, found bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	out, err := findings.ReadCSV(path, f)
	return out, err == nil, err
}
