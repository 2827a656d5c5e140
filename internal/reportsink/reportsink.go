// Package reportsink writes what a segment's report shows: the exemplars
// CSV, the self-contained HTML report, and the Markdown summary appended
// to $GITHUB_STEP_SUMMARY when it is set. It is the last sink of a run,
// so the report shows what every other part found.
//
//	r := reportsink.New(info, reportsink.Config{HTML: true, HistoryPath: path})
//	// in the pipeline: r.Write(seg), after every other sink
package reportsink

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/drift"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/report"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the report writes in one run.
type Config struct {
	HTML        bool   // write <Test>_report.html
	HistoryPath string // the history file drawn in the report; none when empty
}

// historyRuns is how many of the latest runs the report's history chart
// shows.
const historyRuns = 60

// Part writes the report's files of a segment.
type Part struct {
	info pipeline.Info
	cfg  Config
}

var _ pipeline.Sink = (*Part)(nil)

// New makes the report of the run info describes.
func New(info pipeline.Info, cfg Config) *Part {
	return &Part{info: info, cfg: cfg}
}

// Write writes the report's files.
func (p *Part) Write(seg *pipeline.Segment) {
	base := filepath.Join(p.info.Out, seg.Name)
	if err := atomicfile.Write(base+"_exemplars.csv", func(w io.Writer) error {
		return report.WriteExemplarsCSV(w, seg.Run)
	}); err != nil {
		seg.Failf("exemplars not written: %v", err)
	}
	in := Input(seg, p.cfg.HistoryPath)
	if p.cfg.HTML {
		path := base + "_report.html"
		if err := atomicfile.Write(path, func(w io.Writer) error { return report.HTML(w, in) }); err != nil {
			seg.Failf("report not written: %v", err)
		} else {
			abs, _ := filepath.Abs(path)
			p.info.Logf("loadtest: report: file://%s", abs)
		}
	}
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendSummary(path, in); err != nil {
			p.info.Logf("loadtest: warning: step summary not written: %v", err)
		}
	}
}

// appendSummary appends the Markdown summary to the step summary file, in
// one write.
func appendSummary(path string, in report.Input) error {
	var b bytes.Buffer
	if err := report.Markdown(&b, in); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b.Bytes())
	return errors.Join(err, f.Close())
}

// Input gathers what the report shows from the segment and the files
// next to it: the history file at historyPath, when not empty, and the
// baseline the gate compared with.
func Input(seg *pipeline.Segment, historyPath string) report.Input {
	in := report.Input{Run: seg.Run, Signals: seg.Signals}
	for _, f := range seg.Findings {
		sev := report.Warn
		if f.Fail {
			sev = report.Fail
		}
		in.Findings = append(in.Findings, report.Finding{Severity: sev, Kind: f.Kind, Text: f.Text, MovedWith: seg.Explained(f.Kind, f.Task, f.Metric)})
	}
	if g := seg.Gate; g != nil {
		title := "Regression gate"
		if len(g.Runs) > 0 {
			title = fmt.Sprintf("Regression gate (against %d baseline runs)", len(g.Runs))
		}
		in.Gate = &report.Table{Title: title, Header: gate.Header, Rows: g.Cells(), Note: strings.Join(g.Notes(), "; ")}
		var regressions []report.Finding
		for _, row := range g.Regressions() {
			regressions = append(regressions, report.Finding{Severity: report.Fail, Kind: "gate", Text: row.Message(),
				MovedWith: seg.Explained("regression", row.Task, string(row.Metric))})
		}
		in.Findings = append(regressions, in.Findings...)
		in.Baseline = baselineWindows(g)
	}
	if historyPath != "" {
		in.History = historySeries(historyPath, seg.Run)
	}
	return in
}

// baselineWindows returns the per-window rows of the baseline runs the
// gate compared with, for the band behind each latency chart.
func baselineWindows(g *gate.Report) []result.Window {
	if g.Baseline == "" || len(g.Runs) == 0 {
		return nil
	}
	runs, err := baseline.Load(g.Baseline)
	if err != nil {
		return nil // the gate reports an unreadable baseline
	}
	used := map[string]bool{}
	for _, name := range g.Runs {
		used[name] = true
	}
	var out []result.Window
	for _, run := range runs {
		if !used[run.Name] {
			continue
		}
		for _, h := range run.Windows {
			q := make([]int64, len(result.Percentiles))
			q[0], q[5] = int64(h.P50), int64(h.P95) // the band's p50 and p95
			out = append(out, result.Window{
				Offset: time.Duration(float64(h.Offset) * float64(time.Second)).Round(time.Millisecond),
				Type:   h.Type, Name: h.Name, Requests: int64(h.WindowRequests), Failures: int64(h.WindowFailures), Quantiles: q,
			})
		}
	}
	return out
}

// historySeries reads the history file, when there is one, and returns
// the p95 of each task per run at this run's load shape, with the change
// points found among the recorded runs. This run is drawn last when it is
// not recorded (no -loadtest.history), and takes no part in the change
// point search.
func historySeries(path string, res *result.Run) []report.HistorySeries {
	rows, err := history.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil // the history check reports a malformed file
	}
	recorded := len(rows) > 0 && rows[len(rows)-1].RunID == res.Meta.RunID
	var cur []history.Row
	if !recorded {
		cur = history.FromRun(res, func(*result.Task) float64 { return math.NaN() })
	}
	return HistorySeries(rows, res.Meta.Shape().Key(), cur)
}

// HistorySeries is what the report's history chart draws: the p95 of
// each task (the aggregate left out) per run of rows at load shape shape
// (the latest runs), then the rows of cur, a run not recorded, which
// take no part in the search for change points.
func HistorySeries(rows []history.Row, shape string, cur []history.Row) []report.HistorySeries {
	rows = history.SameShape(rows, shape)
	var out []report.HistorySeries
	for _, task := range history.Tasks(slices.Concat(rows, cur)) {
		if task == result.AggregateName {
			continue
		}
		past := history.Task(rows, task)
		if len(past) > historyRuns {
			past = past[len(past)-historyRuns:]
		}
		s := report.HistorySeries{Task: task, Metric: "p95", Unit: "ms"}
		xs := make([]float64, 0, len(past)+1)
		for _, row := range slices.Concat(past, history.Task(cur, task)) {
			xs = append(xs, float64(row.P95)/1000)
			s.Points = append(s.Points, report.HistoryPoint{Time: row.Time.Truncate(time.Second), Commit: row.Commit, Value: xs[len(xs)-1]})
		}
		if len(s.Points) < 2 {
			continue
		}
		for _, cp := range trend.ChangePoints(xs[:len(past)], trend.ChangeOptions{Log: true, MinSize: drift.MinStepRuns}) {
			s.Changes = append(s.Changes, cp.Index)
		}
		out = append(out, s)
	}
	return out
}
