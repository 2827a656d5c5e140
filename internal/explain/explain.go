package explain

import (
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

// DefaultTraces is how many trace ids an explanation lists by default.
const DefaultTraces = 3

// Config is what the explanations read and how strict they are.
type Config struct {
	Options
	Traces int // most trace ids listed (default DefaultTraces)
	// HistoryPath is the history file, read for the drift and step
	// findings (the signals history beside it); empty: those findings
	// are not explained.
	HistoryPath string
}

// Part explains a run's latency findings: an evaluator that runs after
// the others, once their findings are in the segment.
type Part struct {
	info  pipeline.Info
	cfg   Config
	shape string
	rows  []history.Row       // the history, this run's complete segments added
	sigs  []history.SignalRow // the signals history, likewise
}

var _ pipeline.Evaluator = (*Part)(nil)

// New reads the history, when cfg names one, of the run info describes.
// A malformed history is an error (the history's part reports it too).
func New(info pipeline.Info, cfg Config) (*Part, error) {
	if cfg.Traces == 0 {
		cfg.Traces = DefaultTraces
	}
	p := &Part{info: info, cfg: cfg, shape: info.Shape.Shape().Key()}
	if cfg.HistoryPath != "" {
		var err error
		if p.rows, err = history.ReadFile(cfg.HistoryPath); err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
		if p.sigs, err = history.ReadSignalsFile(filepath.Join(filepath.Dir(cfg.HistoryPath), history.SignalsFileName)); err != nil {
			return nil, fmt.Errorf("explain: %w", err)
		}
	}
	return p, nil
}

// Evaluate explains each latency finding of seg that some signal moved
// with: it adds the explanation to seg.Explanations and to the text of
// the finding's verdict, so the log line says it too.
func (p *Part) Evaluate(seg *pipeline.Segment) {
	if seg.Meta.Status == result.Complete && p.cfg.HistoryPath != "" {
		p.rows = append(p.rows, history.FromRun(seg.Run, nil)...)
		p.sigs = append(p.sigs, history.SignalsFromRun(seg.Run, seg.Signals)...)
	}
	var cands windowSignals
	if seg.Signals != nil {
		cands = windowed(seg.Run, p.info.Window, seg.Signals)
	}
	explain := func(kind, task, metric, verdictText string, text string) {
		if text == "" {
			return
		}
		seg.Explanations = append(seg.Explanations, pipeline.Explanation{Kind: kind, Task: task, Metric: metric, Text: text})
		for i := range seg.Verdicts {
			if seg.Verdicts[i].Text == verdictText {
				seg.Verdicts[i].Text += "; " + text
				break
			}
		}
	}
	if seg.Gate != nil && len(cands.series) > 0 {
		for _, row := range seg.Gate.Regressions() {
			q, ok := row.Metric.Quantile()
			if !ok {
				continue // failures and rate are not latency
			}
			explain("regression", row.Task, string(row.Metric), "baseline gate: "+row.Message(), p.inWindows(seg.Run, cands, row.Task, q))
		}
	}
	for _, f := range slices.Clone(seg.Findings) {
		switch {
		case f.Kind == "leak" && len(cands.series) > 0:
			explain(f.Kind, f.Task, f.Metric, f.Text, p.inWindows(seg.Run, cands, f.Task, 0.5))
		case (f.Kind == "drift" || f.Kind == "step") && f.Task != "" && f.Metric == history.P95.Name:
			explain(f.Kind, f.Task, f.Metric, f.Text, p.overRuns(f.Task))
		}
	}
}

// windowSignals are the segment's signals, one mean per window.
type windowSignals struct {
	offsets []time.Duration // the windows kept: full length, after the warm-up
	series  []Series
}

// windowed averages each signal's samples over the windows of res that
// count: full-length, after the run's first (the warm-up).
func windowed(res *result.Run, window time.Duration, rep *signals.Report) windowSignals {
	var ws windowSignals
	last := time.Duration(-1)
	for _, w := range res.Windows {
		if w.Offset != last && w.Length == window && w.Offset >= window {
			ws.offsets = append(ws.offsets, w.Offset)
		}
		last = w.Offset
	}
	if len(ws.offsets) == 0 {
		return ws
	}
	for _, name := range rep.Names() {
		sums := make([]float64, len(ws.offsets))
		counts := make([]int, len(ws.offsets))
		for _, s := range rep.Series(name) {
			i := windowIndex(ws.offsets, window, s.Offset)
			if i >= 0 {
				sums[i] += s.Value
				counts[i]++
			}
		}
		vals := make([]float64, len(sums))
		for i := range sums {
			vals[i] = math.NaN()
			if counts[i] > 0 {
				vals[i] = sums[i] / float64(counts[i])
			}
		}
		ws.series = append(ws.series, Series{Name: name, Values: vals})
	}
	return ws
}

// windowIndex is the index of the window of offsets holding at; −1 when
// none does.
func windowIndex(offsets []time.Duration, window, at time.Duration) int {
	i, found := slices.BinarySearch(offsets, at/window*window)
	if !found {
		return -1
	}
	return i
}

// inWindows ranks the signals against task's latency quantile q (0.95
// for p95) over the
// windows, and names the traces of the slowest requests in the windows
// whose latency moved most.
func (p *Part) inWindows(res *result.Run, ws windowSignals, task string, q float64) string {
	qi := slices.IndexFunc(result.Percentiles, func(pc float64) bool { return math.Abs(pc-100*q) < 1e-9 })
	if qi < 0 {
		return ""
	}
	lat := make([]float64, len(ws.offsets))
	rows := make([]*result.Window, len(ws.offsets))
	for i := range lat {
		lat[i] = math.NaN()
	}
	for i := range res.Windows {
		w := &res.Windows[i]
		if w.Generator != "" || (&result.Task{Type: w.Type, Name: w.Name}).Key() != task {
			continue
		}
		if j, ok := slices.BinarySearch(ws.offsets, w.Offset); ok && len(w.Quantiles) > qi && w.Quantiles[qi] > 0 {
			lat[j], rows[j] = float64(w.Quantiles[qi]), w
		}
	}
	movers := Rank(lat, ws.series, p.cfg.Options)
	if len(movers) == 0 {
		return ""
	}
	text := "moved with it: " + describe(movers, "windows")
	if ids := slowestTraces(lat, rows, p.cfg.Traces); len(ids) > 0 {
		text += "; slowest requests of the windows that moved most: trace " + strings.Join(ids, ", ")
	}
	return text
}

// slowestTraces is the trace ids of the slowest request of each of the
// windows farthest above the median latency, farthest first.
func slowestTraces(lat []float64, rows []*result.Window, n int) []string {
	var vals []float64
	for _, v := range lat {
		if !math.IsNaN(v) {
			vals = append(vals, v)
		}
	}
	if len(vals) == 0 {
		return nil
	}
	slices.Sort(vals)
	median := vals[len(vals)/2]
	idx := make([]int, 0, len(lat))
	for i, v := range lat {
		if !math.IsNaN(v) && v > median && rows[i] != nil {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return lat[idx[a]] > lat[idx[b]] })
	var ids []string
	for _, i := range idx {
		for _, e := range rows[i].Exemplars {
			if e.TraceID != "" {
				ids = append(ids, e.TraceID)
				break
			}
		}
		if len(ids) == n {
			break
		}
	}
	return ids
}

// overRuns ranks the signals' run means against task's p95 over the
// history's runs of this load shape.
func (p *Part) overRuns(task string) string {
	runs := history.Task(history.SameShape(p.rows, p.shape), task)
	if len(runs) == 0 {
		return ""
	}
	at := map[string]int{}
	lat := make([]float64, len(runs))
	for i, r := range runs {
		at[runKey(r.RunID, r.Time)] = i
		lat[i] = math.NaN()
		if r.P95 > 0 {
			lat[i] = float64(r.P95)
		}
	}
	var series []Series
	byName := map[string]int{}
	for _, s := range p.sigs {
		i, ok := at[runKey(s.RunID, s.Time)]
		if !ok || s.Shape != p.shape {
			continue
		}
		k, seen := byName[s.Signal]
		if !seen {
			vals := make([]float64, len(runs))
			for j := range vals {
				vals[j] = math.NaN()
			}
			k = len(series)
			byName[s.Signal] = k
			series = append(series, Series{Name: s.Signal, Values: vals})
		}
		series[k].Values[i] = s.Mean
	}
	sort.Slice(series, func(i, j int) bool { return series[i].Name < series[j].Name })
	movers := Rank(lat, series, p.cfg.Options)
	if len(movers) == 0 {
		return ""
	}
	return "moved with it: " + describe(movers, "runs")
}

// runKey joins a run's task rows with its signal rows: by run id and
// start time (the segments of a run without end share its id).
func runKey(id string, at time.Time) string {
	return id + "|" + at.UTC().Format(time.RFC3339Nano)
}

// describe writes the movers: "db latency (ρ = +0.93, step p < 0.0001,
// 28 windows; 2ms → 31ms, +1450%, changed at the same point)", the test
// that passed named before its p-value.
func describe(ms []Mover, unit string) string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		s := fmt.Sprintf("%s (ρ = %+.2f, %s %s, %d %s; %s → %s, %s", m.Signal, m.Rho, m.By, numfmt.PValue(m.P), m.N, unit,
			signals.Compact(m.From), signals.Compact(m.To), changeText(m.Change))
		if m.SameChange {
			s += ", changed at the same point"
		}
		parts[i] = s + ")"
	}
	return strings.Join(parts, ", ")
}

func changeText(c float64) string {
	switch {
	case math.IsInf(c, 1):
		return "from zero"
	case math.IsInf(c, -1):
		return "from zero, down"
	case math.IsNaN(c):
		return "change unknown"
	}
	return fmt.Sprintf("%+.0f%%", 100*c)
}
