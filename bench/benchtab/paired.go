package main

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/montanaflynn/stats"
	"gonum.org/v1/gonum/stat/distuv"
)

// writePaired prints, for the delay workload, the subject's latency
// overhead minus each peer's in the same repetition. The tools of one
// repetition run a few seconds apart, so a slow spell of the machine that
// lasts a repetition moves both sides of a pair; the medians of the table
// keep it in both columns. Each row gives the median difference, in how
// many repetitions the subject was lower, and the two-sided sign test's p
// of that count (ties left out). It prints nothing without a delay
// workload.
func writePaired(w io.Writer, recs []record) error {
	desc := ""
	byRep := map[string]map[int]record{} // tool → rep → record
	var tools []string
	for _, r := range recs {
		if r.workload != "delay" {
			continue
		}
		desc = r.desc
		if byRep[r.tool] == nil {
			byRep[r.tool] = map[int]record{}
			if r.tool != Subject {
				tools = append(tools, r.tool)
			}
		}
		byRep[r.tool][r.rep] = r
	}
	subj := byRep[Subject]
	if len(subj) == 0 || len(tools) == 0 {
		return nil
	}
	fmt.Fprintf(w, "%s: %s's latency overhead minus each peer's in the same repetition, ms\n\n", desc, Subject)
	fmt.Fprintln(w, "| peer | pairs | p50: median difference | p50: "+Subject+" lower | p50: sign test p | p99: median difference | p99: "+Subject+" lower | p99: sign test p |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", 8))
	for _, tool := range tools {
		cells := []string{tool, ""}
		pairs := 0
		for _, col := range []string{"p50_ms", "p99_ms"} {
			var diffs []float64
			for rep, s := range subj {
				p, ok := byRep[tool][rep]
				if !ok {
					continue
				}
				sv, ok1 := s.f[col]
				pv, ok2 := p.f[col]
				if ok1 && ok2 {
					diffs = append(diffs, sv-pv)
				}
			}
			if len(diffs) == 0 {
				cells = append(cells, "–", "–", "–")
				continue
			}
			pairs = max(pairs, len(diffs))
			med, err := stats.Median(diffs)
			if err != nil {
				return fmt.Errorf("%s %s: %w", tool, col, err)
			}
			lower, higher := 0, 0
			for _, d := range diffs {
				switch {
				case d < 0:
					lower++
				case d > 0:
					higher++
				}
			}
			cells = append(cells, fmt.Sprintf("%+.2f", med), fmt.Sprintf("%d of %d", lower, len(diffs)),
				fmt.Sprintf("%.2f", signTest(lower, higher)))
		}
		if pairs == 0 {
			continue
		}
		cells[1] = fmt.Sprint(pairs)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	return nil
}

// signTest is the two-sided exact sign test's p for k successes and m
// failures under a fair coin: twice the smaller tail, at most 1.
func signTest(k, m int) float64 {
	n := k + m
	if n == 0 {
		return 1
	}
	tail := distuv.Binomial{N: float64(n), P: 0.5}.CDF(float64(min(k, m)))
	return math.Min(1, 2*tail)
}
