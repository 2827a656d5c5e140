package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/steadyload/steadyload/loadtest/result"
)

// mermaidMaxPoints caps the points of a Mermaid chart; longer series are
// thinned by taking every k-th point.
const mermaidMaxPoints = 60

// Markdown writes the run's summary for a CI page ($GITHUB_STEP_SUMMARY):
// the status, the headline figures per task, the findings, and trend
// charts GitHub renders (Mermaid xychart-beta): p95 per window of the run,
// and p95 per run of the history when there is one.
func Markdown(w io.Writer, in Input) error {
	if in.Run == nil {
		return fmt.Errorf("report: no run")
	}
	run, m := in.Run, in.Run.Meta
	var b strings.Builder
	icon := "✅"
	if m.Status != result.Complete {
		icon = "⚠️"
	}
	for _, f := range in.Findings {
		if f.Severity == Fail {
			icon = "❌"
		}
	}
	fmt.Fprintf(&b, "### %s %s — %s\n\n", icon, mdEsc(m.Test), m.Status)
	if m.Reason != "" {
		fmt.Fprintf(&b, "%s\n\n", mdEsc(m.Reason))
	}
	fmt.Fprintf(&b, "%s against %s", load(m), mdEsc(m.Target))
	if m.Env != "" {
		fmt.Fprintf(&b, " (env %s)", mdEsc(m.Env))
	}
	if m.GitCommit != "" {
		fmt.Fprintf(&b, ", commit `%s`", short(m.GitCommit))
	}
	b.WriteString("\n\n")

	fig := figures(run)
	b.WriteString("| " + strings.Join(fig.Header, " | ") + " |\n|")
	for i := range fig.Header {
		if i == 0 {
			b.WriteString(" :--- |")
		} else {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	for _, r := range fig.Rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = mdEsc(c)
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\n")

	if len(in.Findings) == 0 {
		b.WriteString("No finding: no regression, leak, rising server signal or drift.\n\n")
	} else {
		for _, f := range in.Findings {
			mark := map[Severity]string{Fail: "❌", Warn: "⚠️"}[f.Severity]
			if mark == "" {
				mark = "ℹ️"
			}
			fmt.Fprintf(&b, "- %s **%s**: %s\n", mark, f.Kind, mdEsc(f.Text))
			if f.MovedWith != "" {
				fmt.Fprintf(&b, "  - %s\n", mdEsc(f.MovedWith))
			}
		}
		b.WriteString("\n")
	}

	// p95 per window of the aggregate.
	var xs []string
	var ys []float64
	for _, win := range windowsOf(run.Windows, "", result.AggregateName) {
		xs = append(xs, formatSeconds(win.Offset.Seconds()))
		y := math.NaN()
		if win.Requests > win.Failures && len(win.Quantiles) > iP95 {
			y = float64(win.Quantiles[iP95]) / 1000
		}
		ys = append(ys, y)
	}
	mermaid(&b, "p95 latency per window, all tasks (ms)", "window start", xs, ys)
	for _, h := range in.History {
		xs, ys = nil, nil
		for _, p := range h.Points {
			xs = append(xs, p.Time.UTC().Format("01-02"))
			ys = append(ys, p.Value)
		}
		title := fmt.Sprintf("%s of %s per run (%s)", h.Metric, h.Task, h.Unit)
		for _, i := range h.Changes {
			if i > 0 && i < len(h.Points) {
				title += fmt.Sprintf("; step at %s", h.Points[i].Time.UTC().Format("01-02"))
			}
		}
		mermaid(&b, title, "run", xs, ys)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mermaid writes a Mermaid xychart-beta line chart. Missing values (NaN)
// are carried forward, as the chart has no gaps.
func mermaid(b *strings.Builder, title, xTitle string, xs []string, ys []float64) {
	if countFinite(ys) < 2 {
		return
	}
	step := (len(xs) + mermaidMaxPoints - 1) / mermaidMaxPoints
	var labels, values []string
	last, hi := math.NaN(), 0.0
	for i := range xs {
		if finite(ys[i]) {
			last = ys[i]
		}
		if i%step != 0 || !finite(last) {
			continue
		}
		labels = append(labels, `"`+strings.ReplaceAll(xs[i], `"`, "'")+`"`)
		values = append(values, strconv.FormatFloat(last, 'f', 1, 64))
		hi = math.Max(hi, last)
	}
	top := math.Ceil(hi*1.1/niceStep(hi/5)) * niceStep(hi/5)
	fmt.Fprintf(b, "```mermaid\nxychart-beta\n    title \"%s\"\n    x-axis \"%s\" [%s]\n    y-axis 0 --> %s\n    line [%s]\n```\n\n",
		strings.ReplaceAll(title, `"`, "'"), xTitle, strings.Join(labels, ", "), trim(top), strings.Join(values, ", "))
}

// mdEsc escapes the characters that would break a Markdown table cell or
// start markup.
func mdEsc(s string) string {
	r := strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`", "<", "&lt;", ">", "&gt;")
	return r.Replace(s)
}
