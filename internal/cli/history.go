package cli

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/drift"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/internal/report"
	"github.com/steadyload/steadyload/internal/reportsink"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

const historyDoc = `History reads a stored history (a history.csv, or the folder holding one, e.g.
baseline/<env>/<Test>) and tests each task's p95 over the runs of one load shape for a
creep and for recent steps, as a run does: it prints each task's runs and what it found,
and with -html draws the report's history chart. Exit code 1 with -fail when something
is found.`

func runHistory(e *env, args []string) int {
	fs := e.newFlagSet("[flags] HISTORY", historyDoc)
	shape := fs.String("shape", "", "the load shape's `key`, as the file's shape column says it (default: the newest run's)")
	runs := fs.Int("drift-runs", 0, "runs tested for a creep (default 14)")
	slope := fs.Float64("drift-slope", 0, "smallest creep per run that counts, as a fraction (default 0.005)")
	fail := fs.Bool("fail", false, "exit 1 when a creep or a step is found")
	page := fs.String("html", "", "write the history page (findings and chart) to this `file`")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		return e.usagef(fs, "name one history file or folder")
	}
	path := fs.Arg(0)
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, history.FileName)
	}
	if _, err := os.Stat(path); err != nil {
		return e.errorf("%v", err)
	}
	rows, err := history.ReadFile(path)
	if err != nil {
		return e.errorf("%v", err)
	}
	if len(rows) == 0 {
		return e.errorf("%s: no runs recorded", path)
	}
	o := trend.DriftOptions{}
	if *runs != 0 {
		if *runs < 3 {
			return e.usagef(fs, "-drift-runs=%d: want at least 3 runs", *runs)
		}
		o.Runs, o.MinRuns = *runs, min(*runs, trend.DefaultDriftMinRuns)
	}
	if *slope != 0 {
		if !(*slope > 0) || math.IsInf(*slope, 0) {
			return e.usagef(fs, "-drift-slope=%g: want a positive fraction per run", *slope)
		}
		o.MinSlope = *slope
	}
	key := *shape
	if key == "" {
		key = rows[len(rows)-1].Shape
	}
	same := history.SameShape(rows, key)
	if len(same) == 0 {
		return e.errorf("%s: no run of shape %q", path, key)
	}
	found := drift.Check(rows, key, o, *fail)
	printHistory(e.stdout, path, key, same, found)
	if *page != "" {
		in := report.HistoryInput{Title: filepath.Base(filepath.Dir(path)), Note: fmt.Sprintf("%s, load shape %q", path, key),
			History: reportsink.HistorySeries(rows, key, nil)}
		for _, f := range found {
			sev := report.Warn
			if f.Fail {
				sev = report.Fail
			}
			in.Findings = append(in.Findings, report.Finding{Severity: sev, Kind: f.Kind, Text: f.Text})
		}
		if err := atomicfile.Write(*page, func(w io.Writer) error { return report.HistoryHTML(w, in) }); err != nil {
			return e.errorf("%v", err)
		}
		e.printf("history page written to %s\n", *page)
	}
	if *fail && len(found) > 0 {
		return ExitFail
	}
	return ExitPass
}

// printHistory prints each task's runs of the shape, then the findings.
func printHistory(w io.Writer, path, shape string, rows []history.Row, found []result.Finding) {
	fmt.Fprintf(w, "%s: load shape %q, %d runs from %s to %s\n\n", path, shape, len(history.Task(rows, result.AggregateName)),
		rows[0].Time.UTC().Format("2006-01-02 15:04"), rows[len(rows)-1].Time.UTC().Format("2006-01-02 15:04"))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Task\tRuns\tFirst p95\tLast p95\tMin p95\tMax p95\t")
	for _, task := range history.Tasks(rows) {
		xs := history.Values(history.Task(rows, task), history.P95)
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, x := range xs {
			if !math.IsNaN(x) {
				lo, hi = math.Min(lo, x), math.Max(hi, x)
			}
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t\n", task, len(xs), numfmt.Millis(xs[0]), numfmt.Millis(xs[len(xs)-1]), numfmt.Millis(lo), numfmt.Millis(hi))
	}
	tw.Flush()
	fmt.Fprintln(w)
	if len(found) == 0 {
		fmt.Fprintln(w, "no drift, no step")
	}
	for _, f := range found {
		word := "warning"
		if f.Fail {
			word = "FAIL"
		}
		fmt.Fprintf(w, "%s: %s: %s\n", word, f.Kind, f.Text)
	}
}
