package duet

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/gocarina/gocsv"

	"github.com/steadyload/steadyload/internal/gate"
)

// Aggregated names the row of all tasks' pairs together.
const Aggregated = "Aggregated"

// A Sample is one task's pairs and the outcomes of its starts, as Judge
// takes them.
type Sample struct {
	Task     string
	Pairs    []Pair
	Seen     int64 // pairs the run made; 0: len(Pairs)
	Outcomes Outcomes
}

// Report is a duet run's judgement: a row per task and gated percentile.
type Report struct {
	Test string
	Base string // the base's target, as shown
	Cand string // the candidate's target
	Rows []Row  // sorted by task (Aggregated last), then metric
}

// Judge compares every latency percentile of metrics, and the failure
// ratio when metrics has Failures (the rate is never compared: both
// sides get the same starts), for each task and for all tasks together.
func Judge(samples []Sample, metrics []gate.Metric, c gate.Config) *Report {
	rep := &Report{}
	all := Sample{Task: Aggregated}
	sorted := append([]Sample(nil), samples...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Task < sorted[j].Task })
	for _, s := range sorted {
		all.Pairs = append(all.Pairs, s.Pairs...)
		all.Seen += seen(s)
		all.Outcomes.add(s.Outcomes)
	}
	sortBySeq(all.Pairs) // in the run's order, for the bootstrap's blocks
	for _, s := range append(sorted, all) {
		for _, m := range metrics {
			if m == gate.Failures {
				rep.Rows = append(rep.Rows, CompareFailures(s.Task, s.Outcomes, c))
				continue
			}
			if _, ok := m.Quantile(); !ok {
				continue
			}
			row := Compare(s.Task, s.Pairs, m, c)
			row.Seen = seen(s)
			if row.Seen > int64(row.N) {
				row.Warnings = append(row.Warnings, fmt.Sprintf("a uniform sample of %d of its %d pairs judged", row.N, row.Seen))
			}
			rep.Rows = append(rep.Rows, row)
		}
	}
	return rep
}

func seen(s Sample) int64 {
	if s.Seen == 0 {
		return int64(len(s.Pairs))
	}
	return s.Seen
}

// Failed returns the rows whose verdict is FAIL.
func (r *Report) Failed() []Row {
	var out []Row
	for _, row := range r.Rows {
		if row.Verdict == gate.Regressed {
			out = append(out, row)
		}
	}
	return out
}

// Message says the row in one line: what, how much, how sure. For a
// percentile "GET /x: p95 +32% (B/A 1.32, 98% CI 1.21-1.44): FAIL", the
// CI being the band's; for the failure ratio "GET /x: failures +9.80 pts
// (0.00% → 9.80%; 98% CI +7.02 .. +12.96 pts, p=0.0000; discordant
// starts 0 A only, 49 B only; tolerance +1.00 pts; 500 pairs): FAIL".
func (row Row) Message() string {
	if row.Metric == gate.Failures && !math.IsNaN(row.Delta) && !math.IsNaN(row.Lo) {
		o := row.Outcomes
		return fmt.Sprintf("%s: failures %s (%s → %s; %s CI %s, p=%.4f; discordant starts %d A only, %d B only; tolerance %s; %d pairs): %s",
			row.Task, pts(row.Delta), pct(row.A), pct(row.B), confidence(row.Alpha), ciText(row), row.P, o.OnlyA, o.OnlyB,
			pts(row.Tolerance), row.N, row.Verdict)
	}
	if math.IsNaN(row.Ratio) || math.IsNaN(row.Lo) {
		return fmt.Sprintf("%s: %s: %s (%s)", row.Task, row.Metric, row.Verdict, strings.Join(row.Warnings, "; "))
	}
	return fmt.Sprintf("%s: %s %s (B/A %.2f, %s CI %.2f-%.2f): %s", row.Task, row.Metric, signedPct(row.Ratio-1),
		row.Ratio, confidence(row.Alpha), row.Lo, row.Hi, row.Verdict)
}

func signedPct(f float64) string { return fmt.Sprintf("%+.0f%%", 100*f) }

// pts is an absolute difference of ratios in percentage points.
func pts(d float64) string { return fmt.Sprintf("%+.2f pts", 100*d) }

// pct is a ratio as a percentage.
func pct(f float64) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*f)
}

func confidence(alpha float64) string {
	return strconv.FormatFloat(100*(1-2*alpha), 'f', -1, 64) + "%"
}

// header is the table's header, the CI's level filled in.
func (r *Report) header() []string {
	alpha := gate.DefaultAlpha
	if len(r.Rows) > 0 {
		alpha = r.Rows[0].Alpha
	}
	return []string{"Task", "Metric", "Base (A)", "Candidate (B)", "B vs A", "Shift", confidence(alpha) + " CI", "p", "Tolerance", "Pairs", "Verdict"}
}

func (r *Report) cells() [][]string {
	out := make([][]string, 0, len(r.Rows))
	for _, row := range r.Rows {
		if row.Metric == gate.Failures {
			change := "-"
			if !math.IsNaN(row.Delta) {
				change = pts(row.Delta)
			}
			out = append(out, []string{row.Task, string(row.Metric), pct(row.A), pct(row.B), change, "-",
				ciText(row), num(row.P, 3), pts(row.Tolerance), strconv.Itoa(row.N), row.Verdict.String()})
			continue
		}
		out = append(out, []string{row.Task, string(row.Metric), ms(row.A), ms(row.B), times(row.Ratio), ratio(row.Shift),
			ciText(row), num(row.P, 3), "+" + strconv.FormatFloat(100*row.Tolerance, 'f', -1, 64) + "%", strconv.Itoa(row.N), row.Verdict.String()})
	}
	return out
}

// ciText is the row's interval: of the ratio B/A for a percentile, of
// the difference B−A in points for failures.
func ciText(row Row) string {
	if math.IsNaN(row.Lo) {
		return "-"
	}
	if row.Metric == gate.Failures {
		return fmt.Sprintf("%+.2f .. %+.2f pts", 100*row.Lo, 100*row.Hi)
	}
	return fmt.Sprintf("%.2f-%.2f", row.Lo, row.Hi)
}

// times is a ratio B/A as "×1.32".
func times(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return "×" + strconv.FormatFloat(x, 'f', 2, 64)
}

func ms(us float64) string {
	if math.IsNaN(us) {
		return "-"
	}
	return strconv.FormatFloat(us/1e3, 'f', 1, 64) + "ms"
}

func ratio(x float64) string {
	if math.IsNaN(x) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', 2, 64)
}

func num(x float64, prec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "-"
	}
	return strconv.FormatFloat(x, 'f', prec, 64)
}

// notes are the rows' warnings, "task metric: warning".
func (r *Report) notes() []string {
	var out []string
	for _, row := range r.Rows {
		for _, w := range row.Warnings {
			out = append(out, fmt.Sprintf("%s %s: %s", row.Task, row.Metric, w))
		}
	}
	return out
}

// Text renders the report as an aligned table with its notes.
func (r *Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: duet, candidate (B) %s against base (A) %s\n", r.Test, r.Cand, r.Base)
	rows := append([][]string{r.header()}, r.cells()...)
	width := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for _, row := range rows {
		for i, c := range row {
			if i < len(row)-1 {
				c += strings.Repeat(" ", width[i]-len([]rune(c))+2)
			}
			b.WriteString(c)
		}
		b.WriteString("\n")
	}
	b.WriteString("(B vs A: a percentile's ratio B/A, the failure ratio's difference B−A; Shift and CI: the band at and above the percentile, paired bootstrap, or the difference's interval from the discordant starts; ~ = no significant change)\n")
	for _, n := range r.notes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	return b.String()
}

// Markdown renders the report as a Markdown section for
// $GITHUB_STEP_SUMMARY.
func (r *Report) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s: duet\n\nCandidate (B) `%s` against base (A) `%s`, same schedule, same moments.\n\n", r.Test, r.Cand, r.Base)
	h := r.header()
	b.WriteString("| " + strings.Join(h, " | ") + " |\n|" + strings.Repeat(" --- |", len(h)) + "\n")
	for _, row := range r.cells() {
		for i := range row {
			row[i] = strings.ReplaceAll(row[i], "|", `\|`)
		}
		if row[len(row)-1] == gate.Regressed.String() {
			row[len(row)-1] = "**FAIL**"
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	b.WriteString("\n")
	for _, n := range r.notes() {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n")
	return b.String()
}

// csvRow is one row of the duet CSV, in its documented column order.
type csvRow struct {
	Task      string `csv:"task"`
	Metric    string `csv:"metric"`
	Unit      string `csv:"unit"`
	Base      string `csv:"base"`
	Cand      string `csv:"candidate"`
	Ratio     string `csv:"ratio"`
	Delta     string `csv:"delta"`
	Shift     string `csv:"shift"`
	CILow     string `csv:"ci_low"`
	CIHigh    string `csv:"ci_high"`
	P         string `csv:"p"`
	Tolerance string `csv:"tolerance"`
	Alpha     string `csv:"alpha"`
	Pairs     int    `csv:"pairs"`
	Seen      int64  `csv:"pairs_made"`
	Verdict   string `csv:"verdict"`
	Warnings  string `csv:"warnings"`
}

// WriteCSV writes the rows in their order (by task, Aggregated last, then
// metric): a percentile's latencies in milliseconds (unit ms) with their
// ratio and its band's shift and CI as ratios; the failure ratios as
// fractions (unit ratio) with their difference B−A (delta) and its CI as
// fractions; empty cells where there is no value.
func (r *Report) WriteCSV(w io.Writer) error {
	f := func(x float64, prec int) string {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	rows := make([]csvRow, 0, len(r.Rows))
	for _, row := range r.Rows {
		unit, base, cand := "ms", f(row.A/1e3, 3), f(row.B/1e3, 3)
		if row.Metric == gate.Failures {
			unit, base, cand = "ratio", f(row.A, 6), f(row.B, 6)
		}
		rows = append(rows, csvRow{Task: row.Task, Metric: string(row.Metric), Unit: unit, Base: base, Cand: cand,
			Ratio: f(row.Ratio, 4), Delta: f(row.Delta, 6), Shift: f(row.Shift, 4), CILow: f(row.Lo, 4), CIHigh: f(row.Hi, 4), P: f(row.P, 4),
			Tolerance: f(row.Tolerance, 4), Alpha: f(row.Alpha, 4), Pairs: row.N, Seen: row.Seen,
			Verdict: row.Verdict.String(), Warnings: strings.Join(row.Warnings, "; ")})
	}
	if err := gocsv.Marshal(rows, w); err != nil {
		return fmt.Errorf("write duet csv: %w", err)
	}
	return nil
}
