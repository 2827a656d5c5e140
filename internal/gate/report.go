package gate

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is the comparison of one run with its baseline: a row per task
// and metric, or a note saying why nothing was compared.
type Report struct {
	Test     string
	Env      string
	Baseline string   // the baseline directory of the test
	Runs     []string // the baseline runs compared against, oldest first
	// Note says why nothing was compared (no baseline, another load
	// shape), or adds to the comparison; empty when there is nothing to add.
	Note string
	Rows []Row // in task order (as the stats file), metrics in the order gated
}

// Row is one task's comparison of one metric.
type Row struct {
	Task string // "POST /orders", or "Aggregated"
	Comparison
}

// Regressions returns the rows whose verdict is Regressed.
func (r *Report) Regressions() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Verdict == Regressed {
			out = append(out, row)
		}
	}
	return out
}

// Header is the header of the table returned by Cells.
var Header = []string{"Task", "Metric", "Baseline", "Current", "Δ", "98% CI", "p", "Tolerance", "Verdict"}

// Cells returns the table as text cells, one row per Row, in Header's
// column order: what Text, Markdown and an HTML report render.
func (r *Report) Cells() [][]string {
	out := make([][]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		out = append(out, row.cells())
	}
	return out
}

func (row Row) cells() []string {
	c := row.Comparison
	ci := "-"
	if !math.IsNaN(c.Lo) {
		ci = fmt.Sprintf("%s .. %s", c.fmtDelta(c.Lo), c.fmtDelta(c.Hi))
	}
	p := "-"
	if !math.IsNaN(c.P) {
		p = fmt.Sprintf("%.3f", c.P)
	}
	tol := "+" + pct(c.Tolerance)
	switch c.Metric {
	case Failures:
		tol = fmt.Sprintf("+%.2f pts", 100*c.Tolerance)
	case Rate:
		tol = "-" + pct(c.Tolerance)
	}
	delta := "-"
	if !math.IsNaN(c.Delta) {
		delta = c.fmtDelta(c.Delta)
	}
	return []string{row.Task, string(c.Metric), c.fmtValue(c.Base), c.fmtValue(c.Cur), delta, ci, p, tol, c.Verdict.String()}
}

// Notes returns the warnings of the rows, "task metrics: warning" (the
// metrics of a task sharing a warning named together), after the
// report's note.
func (r *Report) Notes() []string {
	var out []string
	if r.Note != "" {
		out = append(out, r.Note)
	}
	for i := 0; i < len(r.Rows); {
		j := i
		for j < len(r.Rows) && r.Rows[j].Task == r.Rows[i].Task {
			j++
		}
		var order []string
		metrics := map[string][]string{}
		for _, row := range r.Rows[i:j] {
			for _, w := range row.Warnings {
				if _, ok := metrics[w]; !ok {
					order = append(order, w)
				}
				metrics[w] = append(metrics[w], string(row.Metric))
			}
		}
		for _, w := range order {
			out = append(out, fmt.Sprintf("%s %s: %s", r.Rows[i].Task, strings.Join(metrics[w], ", "), w))
		}
		i = j
	}
	return out
}

// Text renders the report as an aligned table, benchstat style, with the
// notes below it.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: baseline comparison, env %q, %d baseline run(s) in %s\n", r.Test, r.Env, len(r.Runs), r.Baseline)
	if len(r.Rows) > 0 {
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.Join(Header, "\t"))
		for _, row := range r.Cells() {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		tw.Flush()
		b.WriteString("(latencies in ms; Δ = current vs baseline; ~ = no significant change)\n")
	}
	for _, n := range r.Notes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Markdown renders the report as a Markdown section, for
// $GITHUB_STEP_SUMMARY or a pull request.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s: baseline comparison\n\nEnv `%s`, %d baseline run(s) in `%s`.\n\n", r.Test, r.Env, len(r.Runs), r.Baseline)
	if len(r.Rows) > 0 {
		b.WriteString("| " + strings.Join(Header, " | ") + " |\n")
		b.WriteString("|" + strings.Repeat(" --- |", len(Header)) + "\n")
		for _, row := range r.Cells() {
			for i := range row {
				row[i] = strings.ReplaceAll(row[i], "|", `\|`)
			}
			if row[len(row)-1] == Regressed.String() {
				row[len(row)-1] = "**" + row[len(row)-1] + "**"
			}
			b.WriteString("| " + strings.Join(row, " | ") + " |\n")
		}
		b.WriteString("\n")
	}
	for _, n := range r.Notes() {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n")
	return b.String()
}

// CSVHeader is the header of the comparison CSV written by WriteCSV.
var CSVHeader = []string{"Task", "Metric", "Unit", "Baseline", "Current", "Delta", "CI Low", "CI High", "P", "Tolerance", "Alpha", "Tau",
	"Baseline Runs", "Baseline N", "Current N", "MDE", "Verdict", "Warnings"}

// WriteCSV writes one row per task and metric in CSVHeader's columns:
// latencies in milliseconds, the failure ratio as a fraction, the rate in
// requests per second; Delta, the CI and MDE as fractions (relative for
// latencies and the rate, absolute for failures); empty cells where there
// is no value.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, row := range r.Rows {
		c := row.Comparison
		unit, scale := "ms", 1e-3
		switch c.Metric {
		case Failures:
			unit, scale = "ratio", 1
		case Rate:
			unit, scale = "req/s", 1
		}
		num := func(x float64, prec int) string {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return ""
			}
			return strconv.FormatFloat(x, 'f', prec, 64)
		}
		cw.Write([]string{row.Task, string(c.Metric), unit, num(c.Base*scale, 3), num(c.Cur*scale, 3),
			num(c.Delta, 4), num(c.Lo, 4), num(c.Hi, 4), num(c.P, 4), num(c.Tolerance, 4), num(c.Alpha, 4), num(c.Tau, 4),
			strconv.Itoa(c.K), strconv.FormatInt(c.NBase, 10), strconv.FormatInt(c.NCur, 10), num(c.MDE, 4),
			c.Verdict.String(), strings.Join(c.Warnings, "; ")})
	}
	cw.Flush()
	return cw.Error()
}

// Message describes a regression in one line: what, how much, how sure.
func (row Row) Message() string {
	c := row.Comparison
	if math.IsNaN(c.Delta) {
		return fmt.Sprintf("%s: %s regressed: %s", row.Task, c.Metric, strings.Join(c.Warnings, "; "))
	}
	verb := "rose"
	if c.Metric == Rate {
		verb = "fell"
	}
	cells := row.cells()
	return fmt.Sprintf("%s: %s %s %s (%s → %s; %.0f%% CI %s, p=%.4f; tolerance %s; %d requests vs %d in %d baseline run(s))",
		row.Task, c.Metric, verb, c.fmtDelta(c.Delta), c.fmtValue(c.Base), c.fmtValue(c.Cur),
		100*(1-2*c.Alpha), cells[5], c.P, cells[7], c.NCur, c.NBase, c.K)
}

func (c Comparison) fmtValue(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	switch c.Metric {
	case Failures:
		return fmt.Sprintf("%.2f%%", 100*v)
	case Rate:
		return fmt.Sprintf("%.2f/s", v)
	}
	return fmtMillis(v)
}

func (c Comparison) fmtDelta(d float64) string {
	if c.Metric == Failures {
		return fmt.Sprintf("%+.2f pts", 100*d)
	}
	return fmt.Sprintf("%+.1f%%", 100*d)
}

// fmtMillis formats microseconds as milliseconds with three significant
// digits or more.
func fmtMillis(us float64) string {
	ms := us / 1000
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0fms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1fms", ms)
	case ms >= 1:
		return fmt.Sprintf("%.2fms", ms)
	}
	return fmt.Sprintf("%.3fms", ms)
}

func pct(f float64) string {
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", 100*f), "0"), ".0") + "%"
}
