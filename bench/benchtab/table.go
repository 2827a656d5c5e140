package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/montanaflynn/stats"
)

// Columns are the columns of a results file, in order. workload is one of
// saturation, fixed, delay, rss, or together:PEER (the delay workload's
// shape, PEER and the subject run at the same moment; see writePaired);
// desc says its shape ("16 conns, 10 s");
// delay_ms is the server's fixed delay; expected is rate × duration for
// paced workloads, one more for the subject's together runs (0
// otherwise); requests is what the server counted; the other figures
// come from benchtab measure and benchtab latency. "-" marks
// a figure a tool does not have.
var Columns = []string{"workload", "desc", "tool", "rep", "delay_ms", "expected", "requests", "cpu_s", "peak_rss_mb", "rss_growth", "p50_ms", "p99_ms"}

// Subject is the tool compared with the peers.
const Subject = "steadyload"

// flatGrowth is the growth of resident memory still called flat.
const flatGrowth = 1.10

// record is one row of a results file.
type record struct {
	workload, desc, tool string
	rep                  int
	f                    map[string]float64 // numeric columns present
}

// readResults reads a results file, strictly: the header must be Columns
// and every row must have as many fields.
func readResults(r io.Reader, name string) ([]record, error) {
	sc := bufio.NewScanner(r)
	line := 0
	var recs []record
	for sc.Scan() {
		line++
		fields := strings.Split(sc.Text(), "\t")
		if line == 1 {
			if strings.Join(fields, ",") != strings.Join(Columns, ",") {
				return nil, fmt.Errorf("%s:1: header is %q; want %q", name, sc.Text(), strings.Join(Columns, "\t"))
			}
			continue
		}
		if len(fields) != len(Columns) {
			return nil, fmt.Errorf("%s:%d: %d fields; want %d", name, line, len(fields), len(Columns))
		}
		rep, err := strconv.Atoi(fields[3])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: rep %q: not a number", name, line, fields[3])
		}
		rec := record{workload: fields[0], desc: fields[1], tool: fields[2], rep: rep, f: map[string]float64{}}
		for i := 4; i < len(Columns); i++ {
			if fields[i] == "-" || fields[i] == "" {
				continue
			}
			v, err := strconv.ParseFloat(fields[i], 64)
			if err != nil || math.IsNaN(v) {
				return nil, fmt.Errorf("%s:%d: %s %q: not a number", name, line, Columns[i], fields[i])
			}
			rec.f[Columns[i]] = v
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if line == 0 {
		return nil, fmt.Errorf("%s: empty", name)
	}
	return recs, nil
}

// figure is one row of the table: a metric of one workload.
type figure struct {
	label string
	// value returns the metric of one repetition; ok is false when the
	// tool does not have it.
	value func(r record) (float64, bool)
	// format prints a median.
	format func(v float64) string
	// abs is true for figures whose best value is the one nearest zero
	// (rate accuracy, memory growth); for the others lower is better.
	abs bool
}

func col(name string) func(record) (float64, bool) {
	return func(r record) (float64, bool) { v, ok := r.f[name]; return v, ok }
}

func overhead(name string) func(record) (float64, bool) {
	return func(r record) (float64, bool) {
		v, ok := r.f[name]
		return v - r.f["delay_ms"], ok
	}
}

func deviation(r record) (float64, bool) {
	e, n := r.f["expected"], r.f["requests"]
	if e <= 0 || n <= 0 {
		return 0, false
	}
	return (n - e) / e * 100, true
}

func fixed(d int) func(float64) string {
	return func(v float64) string { return strconv.FormatFloat(v, 'f', d, 64) }
}

// figures returns the table rows of a workload.
func figures(workload, desc string) []figure {
	l := func(s string) string { return desc + ": " + s }
	switch workload {
	case "saturation":
		return []figure{{label: l("generator CPU s per 10k requests"), value: func(r record) (float64, bool) {
			c, ok := r.f["cpu_s"]
			n := r.f["requests"]
			return c / n * 1e4, ok && n > 0
		}, format: fixed(3)}}
	case "fixed":
		return []figure{
			{label: l("generator CPU s"), value: col("cpu_s"), format: fixed(2)},
			{label: l("peak RSS MB"), value: col("peak_rss_mb"), format: fixed(1)},
			{label: l("requests counted vs rate × duration, %"), value: deviation, format: signed, abs: true},
		}
	case "delay":
		return []figure{
			{label: l("p50 overhead ms"), value: overhead("p50_ms"), format: fixed(2)},
			{label: l("p99 overhead ms"), value: overhead("p99_ms"), format: fixed(2)},
		}
	case "rss":
		return []figure{
			{label: l("peak RSS MB"), value: col("peak_rss_mb"), format: fixed(1)},
			{label: l("RSS growth after the first third, %"), value: func(r record) (float64, bool) {
				g, ok := r.f["rss_growth"]
				return (g - 1) * 100, ok
			}, format: func(v float64) string {
				if v <= (flatGrowth-1)*100 {
					return fmt.Sprintf("%+.0f flat", v)
				}
				return fmt.Sprintf("%+.0f grows", v)
			}, abs: true},
			{label: l("requests counted vs rate × duration, %"), value: deviation, format: signed, abs: true},
		}
	}
	return nil
}

func signed(v float64) string { return fmt.Sprintf("%+.2f", v) }

func tableCmd(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := readResults(f, path)
	if err != nil {
		return err
	}
	var alone []record // the together runs have a table of their own
	for _, r := range recs {
		if !strings.HasPrefix(r.workload, togetherPrefix) {
			alone = append(alone, r)
		}
	}
	if len(alone) > 0 {
		if err := writeTable(w, alone); err != nil {
			return err
		}
	}
	var b strings.Builder
	if err := writePaired(&b, recs); err != nil {
		return err
	}
	if b.Len() > 0 {
		if len(alone) > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprint(w, b.String())
	}
	return nil
}

// writeTable prints a Markdown table: one row per figure, one column per
// tool (the median of its repetitions), and the subject's ratio to the
// best peer.
func writeTable(w io.Writer, recs []record) error {
	var tools, workloads []string
	descs := map[string]string{}
	seenTool := map[string]bool{}
	for _, r := range recs {
		if !seenTool[r.tool] && r.tool != Subject {
			seenTool[r.tool] = true
			tools = append(tools, r.tool)
		}
		if _, ok := descs[r.workload]; !ok {
			workloads = append(workloads, r.workload)
		}
		descs[r.workload] = r.desc
	}
	tools = append(tools, Subject)
	if len(tools) < 2 {
		return errors.New("no peers in the results")
	}
	hdr := append([]string{"figure"}, tools...)
	hdr = append(hdr, Subject+" vs best peer")
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(hdr, " | "), strings.Repeat("---|", len(hdr)))
	for _, wl := range workloads {
		figs := figures(wl, descs[wl])
		if figs == nil {
			return fmt.Errorf("unknown workload %q (want saturation, fixed, delay or rss)", wl)
		}
		for _, fg := range figs {
			med := map[string]float64{}
			cells := []string{fg.label}
			for _, tool := range tools {
				var vals []float64
				for _, r := range recs {
					if r.workload == wl && r.tool == tool {
						if v, ok := fg.value(r); ok {
							vals = append(vals, v)
						}
					}
				}
				if len(vals) == 0 {
					cells = append(cells, "–")
					continue
				}
				m, _ := stats.Median(vals)
				med[tool] = m
				cells = append(cells, fg.format(m))
			}
			cells = append(cells, versus(med, tools, fg.abs))
			fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
		}
	}
	return nil
}

// versus says how the subject compares with the best peer: the ratio for
// figures where lower is better, the difference for rate accuracy.
func versus(med map[string]float64, tools []string, abs bool) string {
	sv, ok := med[Subject]
	if !ok {
		return "–"
	}
	best, bestTool := math.Inf(1), ""
	for _, t := range tools {
		v, ok := med[t]
		if t == Subject || !ok {
			continue
		}
		if abs {
			v = math.Abs(v)
		}
		if v < best {
			best, bestTool = v, t
		}
	}
	if bestTool == "" {
		return "no peer"
	}
	if abs {
		verdict := "ahead"
		switch sv := math.Abs(sv); {
		case sv > best:
			verdict = "behind"
		case sv == best:
			verdict = "even"
		}
		return fmt.Sprintf("%.2f vs %.2f (%s), nearest 0 best: %s", math.Abs(sv), best, bestTool, verdict)
	}
	if best <= 0 {
		return fmt.Sprintf("%s vs %s %s", fixed(2)(sv), fixed(2)(best), bestTool)
	}
	ratio := sv / best
	verdict := "ahead"
	if ratio > 1 {
		verdict = "behind"
	}
	return fmt.Sprintf("%.2f× %s: %s", ratio, bestTool, verdict)
}
