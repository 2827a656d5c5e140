package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"

	"github.com/montanaflynn/stats"
	"golang.org/x/perf/benchmath"
	"gonum.org/v1/gonum/stat/distuv"
)

// togetherPrefix starts the workload of a run made at the same moment as
// the subject's: "together:vegeta" holds a vegeta run and the subject's
// run beside it, both with the repetition's number.
const togetherPrefix = "together:"

// pairSet is the pairs of one paired table: per peer, the subject's record
// and the peer's that go together.
type pairSet struct {
	desc  string
	peers []string               // in order of first appearance
	pairs map[string][][2]record // peer → (subject, peer) pairs
}

func (ps *pairSet) add(peer string, subj, other record) {
	if ps.pairs == nil {
		ps.pairs = map[string][][2]record{}
	}
	if _, ok := ps.pairs[peer]; !ok {
		ps.peers = append(ps.peers, peer)
	}
	ps.pairs[peer] = append(ps.pairs[peer], [2]record{subj, other})
}

// pairSets returns the two kinds of pairs of a results file. In turn: the
// delay workload's runs of the subject and of each peer in the same
// repetition, a few seconds apart. Together: each together:PEER
// workload's runs, the peer's (and any other reading of it, such as
// k6-iteration) and the subject's made at the same moment.
func pairSets(recs []record) (inTurn, together pairSet) {
	type key struct {
		workload string
		rep      int
	}
	subj := map[key]record{}
	for _, r := range recs {
		if r.tool == Subject {
			subj[key{r.workload, r.rep}] = r
		}
	}
	for _, r := range recs {
		if r.tool == Subject {
			continue
		}
		s, ok := subj[key{r.workload, r.rep}]
		switch {
		case r.workload == "delay":
			inTurn.desc = r.desc
			if ok {
				inTurn.add(r.tool, s, r)
			}
		case strings.HasPrefix(r.workload, togetherPrefix):
			together.desc = r.desc
			if ok {
				together.add(r.tool, s, r)
			}
		}
	}
	return inTurn, together
}

// writePaired prints the subject's latency overhead against each peer's,
// pair by pair, for the delay workload and for the runs made together.
//
// The delay workload's tools run in turn, a few seconds apart, so a slow
// spell of the machine that lasts a repetition moves both sides of a
// pair, but one that comes and goes within it does not. A together run
// has the subject and one peer on the generator's core at the same
// moment, against the same server, so every spell hits both: the
// difference of one pair is far steadier than the difference of two runs
// in turn; the two sides' levels are not those of a tool run alone.
//
// Each row gives both sides' median overhead, the median difference with a
// distribution-free 95 % confidence interval, in how many pairs the
// subject was lower, and the two-sided sign test's p of that count (ties
// left out). It prints nothing without pairs.
func writePaired(w io.Writer, recs []record) error {
	inTurn, together := pairSets(recs)
	sep := ""
	for _, t := range []struct {
		set  pairSet
		what string
	}{
		{inTurn, "run in turn, in the same repetition"},
		{together, "run at the same moment, on the same core"},
	} {
		if len(t.set.peers) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s%s: %s's latency overhead against each peer's, %s, ms\n\n", sep, t.set.desc, Subject, t.what)
		if err := writePairTable(w, t.set); err != nil {
			return err
		}
		sep = "\n"
	}
	return nil
}

func writePairTable(w io.Writer, ps pairSet) error {
	var hdr []string
	for _, q := range []string{"p50", "p99"} {
		hdr = append(hdr, q+": "+Subject+" vs peer", q+": difference (95 % CI)",
			q+": "+Subject+" lower", q+": sign test p")
	}
	fmt.Fprintf(w, "| peer | pairs | %s |\n|%s\n", strings.Join(hdr, " | "), strings.Repeat("---|", len(hdr)+2))
	for _, peer := range ps.peers {
		cells := []string{peer, ""}
		pairs := 0
		for _, col := range []string{"p50_ms", "p99_ms"} {
			var mine, theirs, diffs []float64
			for _, p := range ps.pairs[peer] {
				sv, ok1 := overhead(col)(p[0])
				pv, ok2 := overhead(col)(p[1])
				if ok1 && ok2 {
					mine, theirs = append(mine, sv), append(theirs, pv)
					diffs = append(diffs, sv-pv)
				}
			}
			if len(diffs) == 0 {
				cells = append(cells, "–", "–", "–", "–")
				continue
			}
			pairs = max(pairs, len(diffs))
			ms, err := stats.Median(mine)
			if err != nil {
				return fmt.Errorf("%s %s: %w", peer, col, err)
			}
			mt, _ := stats.Median(theirs)
			med, _ := stats.Median(diffs)
			diff := signedMs(med)
			if lo, hi, ok := medianCI(diffs, 0.95); ok {
				// Signed even when it rounds to zero: which side of 0 a
				// bound falls on is the point of the interval.
				diff += fmt.Sprintf(" (%s to %s)", signed(lo), signed(hi))
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
			cells = append(cells, fmt.Sprintf("%.2f vs %.2f", ms, mt), diff,
				fmt.Sprintf("%d of %d", lower, len(diffs)), pValue(signTest(lower, higher)))
		}
		if pairs == 0 {
			continue
		}
		cells[1] = fmt.Sprint(pairs)
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	return nil
}

// signedMs prints a difference in ms with its sign, and a difference that
// rounds to zero as 0.00.
func signedMs(v float64) string {
	if math.Abs(v) < 0.005 {
		return "0.00"
	}
	return signed(v)
}

// pValue prints a p with two decimals, or three below 0.01 so that it
// never reads 0.
func pValue(p float64) string {
	if p < 0.01 {
		return fmt.Sprintf("%.3f", p)
	}
	return fmt.Sprintf("%.2f", p)
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

// medianCI is the distribution-free confidence interval of the median of
// xs at level, benchstat's (x/perf's benchmath, assuming nothing about the
// distribution): order statistics whose binomial coverage is at least
// level. ok is false when there are too few values for that coverage (5
// or fewer for 95 %).
func medianCI(xs []float64, level float64) (lo, hi float64, ok bool) {
	if len(xs) == 0 {
		return 0, 0, false
	}
	sum := benchmath.AssumeNothing.Summary(benchmath.NewSample(slices.Clone(xs), &benchmath.DefaultThresholds), level)
	if math.IsInf(sum.Lo, 0) || math.IsInf(sum.Hi, 0) {
		return 0, 0, false
	}
	return sum.Lo, sum.Hi, true
}
