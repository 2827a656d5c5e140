package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Indexes of the charted percentiles in result.Percentiles.
const (
	iP50 = 0
	iP90 = 4
	iP95 = 5
	iP99 = 7
)

// slowestShown is how many of the run's slowest requests the page lists.
const slowestShown = 15

// HTML writes the self-contained report page of in.
func HTML(w io.Writer, in Input) error {
	if in.Run == nil {
		return fmt.Errorf("report: no run")
	}
	return page.Execute(w, build(in))
}

// view is what the template renders.
type view struct {
	Title, Status, StatusClass, Reason string
	Facts                              [][2]string
	Findings                           []Finding
	Figures                            Table
	Latency                            []template.HTML
	Throughput                         template.HTML
	SignalsNote                        string
	SignalWarnings                     []string
	Signals                            []template.HTML
	Gate                               *Table
	History                            []template.HTML
	Slowest                            Table
}

func build(in Input) view {
	run := in.Run
	m := run.Meta
	v := view{Title: m.Test, Status: string(m.Status), Reason: m.Reason, Findings: in.Findings, Gate: in.Gate}
	v.StatusClass = "ok"
	if m.Status != result.Complete {
		v.StatusClass = "bad"
	}
	for _, f := range in.Findings {
		if f.Severity == Fail && v.StatusClass == "ok" {
			v.StatusClass, v.Status = "bad", v.Status+", failed"
		}
	}
	v.Facts = facts(m)
	v.Figures = figures(run)
	for _, t := range run.Tasks {
		if t.Requests == 0 || t.Setup {
			continue
		}
		v.Latency = append(v.Latency, template.HTML(latencyChart(run, t, in.Baseline).svg()))
	}
	v.Throughput = template.HTML(throughputChart(run).svg())
	if s := in.Signals; s != nil {
		v.SignalsNote = signalsNote(s)
		v.SignalWarnings = s.Warnings
		for i, name := range s.Names() {
			v.Signals = append(v.Signals, template.HTML(signalChart(s, name, palette[i%len(palette)]).svg()))
		}
	}
	for _, h := range in.History {
		if len(h.Points) > 0 {
			v.History = append(v.History, template.HTML(historyChart(h).svg()))
		}
	}
	v.Slowest = slowest(run)
	return v
}

func facts(m result.Meta) [][2]string {
	f := [][2]string{{"load", load(m)}, {"target", m.Target}}
	env := m.Env
	if m.StandIn != "" {
		env += " (stand-in " + m.StandIn + ")"
	}
	f = append(f, [2]string{"environment", env})
	if !m.Start.IsZero() {
		f = append(f, [2]string{"started", m.Start.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	f = append(f, [2]string{"ran for", m.Elapsed.Round(time.Millisecond).String()}, [2]string{"run id", m.RunID})
	if m.GitCommit != "" {
		f = append(f, [2]string{"commit", m.GitCommit})
	}
	f = append(f, [2]string{"harness", strings.TrimSpace(m.Version + " " + m.GoVersion)})
	return f
}

// load describes the load: its shape, as the log and the gate say it,
// and the windows.
func load(m result.Meta) string {
	return m.Shape().String() + ", windows of " + m.Window.String()
}

func figures(run *result.Run) Table {
	t := Table{Header: []string{"Task", "Requests", "Failures", "req/s", "p50", "p90", "p95", "p99", "max"}}
	secs := run.Meta.Elapsed.Seconds()
	row := func(task *result.Task) {
		r := []string{task.Key(), strconv.FormatInt(task.Requests, 10), failures(task), rate(task.Requests, secs)}
		for _, p := range []float64{50, 90, 95, 99, 100} {
			if task.Latency == nil || task.Latency.TotalCount() == 0 {
				r = append(r, "—")
				continue
			}
			r = append(r, ms(task.Latency.ValueAtPercentile(p)))
		}
		t.Rows = append(t.Rows, r)
	}
	for _, task := range run.Tasks {
		row(task)
	}
	if run.Total != nil {
		row(run.Total)
	}
	return t
}

func failures(t *result.Task) string {
	if t.Failures == 0 {
		return "0"
	}
	return fmt.Sprintf("%d (%.2f%%)", t.Failures, 100*t.FailureRatio())
}

func rate(n int64, secs float64) string {
	if secs <= 0 {
		return "—"
	}
	return strconv.FormatFloat(float64(n)/secs, 'f', 2, 64)
}

// ms formats microseconds as milliseconds: "12.3 ms".
func ms(us int64) string { return trim(float64(us)/1000) + " ms" }

// windowsOf returns the run's rows of one task (or of the aggregate).
func windowsOf(rows []result.Window, typ, name string) []result.Window {
	var out []result.Window
	for _, w := range rows {
		if w.Type == typ && w.Name == name {
			out = append(out, w)
		}
	}
	return out
}

func latencyChart(run *result.Run, t *result.Task, baseline []result.Window) *chart {
	c := &chart{title: "Latency of " + t.Key(), unit: "ms", zeroY: true}
	rows := windowsOf(run.Windows, t.Type, t.Name)
	names := []string{"p50", "p90", "p95", "p99"}
	for k, qi := range []int{iP50, iP90, iP95, iP99} {
		s := series{name: names[k], color: palette[k]}
		for _, w := range rows {
			s.x = append(s.x, w.Offset.Seconds())
			y := math.NaN()
			if w.Requests > w.Failures && len(w.Quantiles) > qi {
				y = float64(w.Quantiles[qi]) / 1000
			}
			s.y = append(s.y, y)
		}
		c.series = append(c.series, s)
	}
	if b := baselineBand(windowsOf(baseline, t.Type, t.Name)); len(b.x) > 0 {
		c.bands = append(c.bands, b)
	}
	for _, w := range rows {
		if len(w.Exemplars) == 0 {
			continue
		}
		e := w.Exemplars[0]
		c.dots = append(c.dots, dot{
			x: e.At.Sub(run.Meta.Start).Seconds(), y: float64(e.LatencyUS) / 1000,
			class: "exemplar", color: "#444", title: exemplarTitle(e),
		})
	}
	return c
}

func exemplarTitle(e result.Exemplar) string {
	s := fmt.Sprintf("%s at %s, status %d", ms(e.LatencyUS), e.At.UTC().Format("15:04:05.000"), e.Status)
	if e.Class != "" {
		s += ", failed (" + e.Class + ")"
	}
	return s + ", trace " + e.TraceID
}

// baselineBand spans, at each window offset, the lowest p50 to the highest
// p95 of the baseline's rows.
func baselineBand(rows []result.Window) band {
	type span struct{ lo, hi float64 }
	by := map[time.Duration]*span{}
	for _, w := range rows {
		if w.Requests <= w.Failures || len(w.Quantiles) <= iP95 {
			continue
		}
		lo, hi := float64(w.Quantiles[iP50])/1000, float64(w.Quantiles[iP95])/1000
		off := w.Offset.Round(time.Millisecond)
		if s, ok := by[off]; ok {
			s.lo, s.hi = math.Min(s.lo, lo), math.Max(s.hi, hi)
		} else {
			by[off] = &span{lo, hi}
		}
	}
	offs := make([]time.Duration, 0, len(by))
	for o := range by {
		offs = append(offs, o)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	b := band{name: "baseline p50–p95", color: "#7f7f7f"}
	for _, o := range offs {
		b.x = append(b.x, o.Seconds())
		b.lo = append(b.lo, by[o].lo)
		b.hi = append(b.hi, by[o].hi)
	}
	return b
}

func throughputChart(run *result.Run) *chart {
	c := &chart{title: "Throughput and failures", unit: "per s", zeroY: true}
	ok := series{name: "requests/s", color: palette[0]}
	bad := series{name: "failures/s", color: palette[3]}
	for _, w := range windowsOf(run.Windows, "", result.AggregateName) {
		secs := w.Length.Seconds()
		if secs <= 0 {
			continue
		}
		ok.x = append(ok.x, w.Offset.Seconds())
		ok.y = append(ok.y, float64(w.Requests)/secs)
		bad.x = append(bad.x, w.Offset.Seconds())
		bad.y = append(bad.y, float64(w.Failures)/secs)
	}
	c.series = []series{ok, bad}
	return c
}

func signalsNote(s *signals.Report) string {
	var parts []string
	if s.Source != "" {
		parts = append(parts, fmt.Sprintf("scraped from %s every %s (%d scrapes, %d failed)", s.Source, s.Interval, s.Scrapes, s.Failed))
	}
	if len(s.Trends) > 0 {
		parts = append(parts, "rise tested with Mann-Kendall and a Theil-Sen fit on the raw samples, warm-up excluded")
	}
	return strings.Join(parts, "; ")
}

func signalChart(s *signals.Report, name, color string) *chart {
	c := &chart{title: name, unit: unitOf(name)}
	line := series{name: "value", color: color}
	for _, smp := range s.Series(name) {
		line.x = append(line.x, smp.Offset.Seconds())
		line.y = append(line.y, smp.Value)
	}
	c.series = append(c.series, line)
	for _, t := range s.Trends {
		if t.Signal != name {
			continue
		}
		fit := series{name: "trend", color: "#999", dashed: true,
			x: []float64{t.Start.Seconds(), t.End.Seconds()}, y: []float64{t.From, t.To}}
		if t.Rising {
			fit.name, fit.color = "rising", palette[3]
			c.note = t.Summary()
		} else {
			c.note = fmt.Sprintf("no rise: %+.1f%% over the run (%s)", 100*t.Growth, pvalue(t.P))
		}
		c.series = append(c.series, fit)
	}
	return c
}

func unitOf(name string) string {
	base := strings.TrimSuffix(strings.TrimPrefix(name, "rate("), ")")
	base, _, _ = strings.Cut(base, "{")
	var u string
	switch {
	case strings.HasSuffix(base, "_bytes") || strings.HasSuffix(base, "_bytes_total"):
		u = "bytes"
	case strings.HasSuffix(base, "_seconds") || strings.HasSuffix(base, "_seconds_total"):
		u = "s"
	}
	if strings.HasPrefix(name, "rate(") {
		if u == "" {
			return "per s"
		}
		return u + "/s"
	}
	return u
}

func pvalue(p float64) string {
	if p < 0.0001 {
		return "p < 0.0001"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 2, 64)
}

func historyChart(h HistorySeries) *chart {
	c := &chart{title: fmt.Sprintf("%s of %s per run", h.Metric, h.Task), unit: h.Unit, xKind: xRuns, zeroY: true}
	s := series{name: h.Metric, color: palette[0]}
	for i, p := range h.Points {
		s.x = append(s.x, float64(i))
		s.y = append(s.y, p.Value)
		c.xLabels = append(c.xLabels, p.Time.UTC().Format("01-02"))
		title := p.Time.UTC().Format("2006-01-02 15:04") + ": " + trim(p.Value) + " " + h.Unit
		if p.Commit != "" {
			title += ", commit " + short(p.Commit)
		}
		c.dots = append(c.dots, dot{x: float64(i), y: p.Value, class: "run", color: palette[0], title: title})
	}
	c.series = append(c.series, s)
	for _, i := range h.Changes {
		if i <= 0 || i >= len(h.Points) {
			continue
		}
		c.markers = append(c.markers, marker{x: float64(i) - 0.5, label: "step", color: palette[3]})
	}
	return c
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// slowest lists the run's slowest requests of all windows and tasks.
func slowest(run *result.Run) Table {
	type ex struct {
		task string
		e    result.Exemplar
		off  time.Duration
	}
	var all []ex
	for _, w := range run.Windows {
		if w.Type == "" && w.Name == result.AggregateName {
			continue
		}
		key := (&result.Task{Type: w.Type, Name: w.Name}).Key()
		for _, e := range w.Exemplars {
			all = append(all, ex{key, e, w.Offset})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if all[i].e.LatencyUS != all[j].e.LatencyUS {
			return all[i].e.LatencyUS > all[j].e.LatencyUS
		}
		return all[i].e.At.Before(all[j].e.At)
	})
	if len(all) > slowestShown {
		all = all[:slowestShown]
	}
	t := Table{Header: []string{"Latency", "Task", "Ended (UTC)", "Window", "Status", "Class", "Trace ID"}}
	for _, x := range all {
		status := "—"
		if x.e.Status != 0 {
			status = strconv.Itoa(x.e.Status)
		}
		class := x.e.Class
		if class == "" {
			class = "ok"
		}
		t.Rows = append(t.Rows, []string{ms(x.e.LatencyUS), x.task, x.e.At.UTC().Format("15:04:05.000"),
			formatSeconds(x.off.Seconds()), status, class, x.e.TraceID})
	}
	return t
}

var page = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — load test report</title>
<style>
` + pageStyle + `</style>
</head>
<body>
<h1>{{.Title}} <span class="status {{.StatusClass}}">{{.Status}}</span></h1>
{{if .Reason}}<p class="note">{{.Reason}}</p>{{end}}
<dl class="facts">{{range .Facts}}<dt>{{index . 0}}</dt><dd>{{index . 1}}</dd>{{end}}</dl>

<h2>Findings</h2>
{{if .Findings}}<ul class="findings">{{range .Findings}}<li class="{{.Severity}}"><span class="kind">{{.Kind}}</span>{{.Text}}{{if .MovedWith}}<div class="moved">{{.MovedWith}}</div>{{end}}</li>{{end}}</ul>
{{else}}<p class="note">Nothing found: no regression, leak, rising server signal or drift.</p>{{end}}

<h2>Figures</h2>
{{template "table" .Figures}}
<p class="note">Latency of successful requests; failures are counted apart.</p>

<h2>Latency over time</h2>
<p class="note">Per window; the grey band is the baseline's p50 to p95 when there is one; circles are each window's slowest request (hover for its trace id).</p>
<div class="charts">{{range .Latency}}{{.}}{{end}}</div>

<h2>Throughput and failures</h2>
<div class="charts">{{.Throughput}}</div>

<h2>Server signals</h2>
{{if .SignalsNote}}<p class="note">{{.SignalsNote}}</p>{{end}}
{{range .SignalWarnings}}<p class="note">⚠ {{.}}</p>{{end}}
{{if .Signals}}<div class="charts">{{range .Signals}}{{.}}{{end}}</div>{{else}}<p class="note">No server signals were recorded.</p>{{end}}

{{with .Gate}}<h2>{{if .Title}}{{.Title}}{{else}}Regression gate{{end}}</h2>
{{template "table" .}}{{if .Note}}<p class="note">{{.Note}}</p>{{end}}{{end}}

{{if .History}}<h2>History</h2>
<p class="note">One point per recorded run; a dashed red line marks a step change.</p>
<div class="charts">{{range .History}}{{.}}{{end}}</div>{{end}}

<h2>Slowest requests</h2>
{{if .Slowest.Rows}}{{template "table" .Slowest}}
<p class="note">Search the target's tracing for the trace id: the harness sent it in the request's <code>traceparent</code> header. All of them are in the exemplars CSV file.</p>
{{else}}<p class="note">No request was recorded.</p>{{end}}
</body>
</html>
{{define "table"}}<table><thead><tr>{{range .Header}}<th>{{.}}</th>{{end}}</tr></thead>
<tbody>{{range .Rows}}<tr>{{range $i, $c := .}}<td{{if ge (len $c) 32}} class="mono"{{end}}>{{$c}}</td>{{end}}</tr>{{end}}</tbody></table>{{end}}
`))

// pageStyle is the style of the report's pages.
const pageStyle = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:24px auto;max-width:1600px;padding:0 16px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.status{display:inline-block;padding:1px 8px;border-radius:10px;font-size:13px;color:#fff;vertical-align:middle}
.status.ok{background:#2ca02c}.status.bad{background:#d62728}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:8px 0}dl.facts dt{color:#666}dl.facts dd{margin:0}
ul.findings{list-style:none;padding:0}ul.findings li{padding:6px 10px;margin:4px 0;border-left:4px solid;border-radius:2px}
li.fail{border-color:#d62728;background:#fdecea}li.warn{border-color:#ff9f0e;background:#fff6e5}li.info{border-color:#1f77b4;background:#eef5fb}
.kind{font-weight:600;margin-right:6px;text-transform:uppercase;font-size:11px;color:#555}
.moved{color:#555;font-size:13px;margin-top:2px}
table{border-collapse:collapse;margin:6px 0}th,td{padding:3px 10px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}td.mono{font-family:ui-monospace,Menlo,monospace;font-size:12px}
.charts{display:flex;flex-wrap:wrap;gap:8px}
svg.chart{background:#fff;border:1px solid #e5e5e5;border-radius:4px;max-width:100%;height:auto}
svg .title{font-size:13px;font-weight:600}svg .note{font-size:11px;fill:#444}svg .tick,svg .unit,svg .legend,svg .marker-label{font-size:11px;fill:#555}
svg .grid{stroke:#eee}svg .xtick{stroke:#999}svg .frame{fill:none;stroke:#ccc}
.note{color:#666;font-size:13px}
`

// HistoryInput is what the history page shows: a stored history's
// findings and its chart, without a run.
type HistoryInput struct {
	Title    string // e.g. the test's name
	Note     string // e.g. the file and the load shape
	Findings []Finding
	History  []HistorySeries
}

// HistoryHTML writes the self-contained page of a stored history: its
// findings, then the report's history chart of each task.
func HistoryHTML(w io.Writer, in HistoryInput) error {
	v := struct {
		HistoryInput
		Charts []template.HTML
	}{HistoryInput: in}
	for _, h := range in.History {
		if len(h.Points) > 0 {
			v.Charts = append(v.Charts, template.HTML(historyChart(h).svg()))
		}
	}
	return historyPage.Execute(w, v)
}

var historyPage = template.Must(template.New("history").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — load test history</title>
<style>
` + pageStyle + `</style>
</head>
<body>
<h1>{{.Title}}: history</h1>
{{if .Note}}<p class="note">{{.Note}}</p>{{end}}
<h2>Findings</h2>
{{if .Findings}}<ul class="findings">{{range .Findings}}<li class="{{.Severity}}"><span class="kind">{{.Kind}}</span>{{.Text}}</li>{{end}}</ul>
{{else}}<p class="note">Nothing found: no drift, no step.</p>{{end}}
<h2>History</h2>
<p class="note">One point per recorded run; a dashed red line marks a step change.</p>
{{if .Charts}}<div class="charts">{{range .Charts}}{{.}}{{end}}</div>{{else}}<p class="note">Fewer than two runs of this load shape: nothing to draw.</p>{{end}}
</body>
</html>
`))
