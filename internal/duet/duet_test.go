package duet

import (
	"bytes"
	"cmp"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/gate"
)

func TestCompareVerdicts(t *testing.T) {
	for _, tc := range []struct {
		name string
		n    int
		s    shape
		want gate.Verdict
	}{
		{"same", 1000, scale(1), gate.Same},
		{"slower x1.6", 1000, scale(1.6), gate.Regressed},
		{"faster x0.6", 1000, scale(0.6), gate.Improved},
		{"too few", 100, scale(2), gate.NoVerdict},
		{"median-only x2", 1000, medianOnly(2), gate.Same},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pairs := duetRun(rand.New(rand.NewPCG(1, 2)), tc.n, tc.s, false)
			row := Compare("t", pairs, gate.P95, gate.Config{Replicates: 400})
			assert.Equal(t, tc.want, row.Verdict, "Compare(%s) = %s; want %s (%s)", tc.name, row.Verdict, tc.want, row.Message())
			again := Compare("t", pairs, gate.P95, gate.Config{Replicates: 400})
			assert.Equal(t, row.Message(), again.Message(), "the same pairs give the same row")
		})
	}
}

// TestLevels checks that the band hears no level below the percentile.
func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		q    float64
		n    int
		want []float64
	}{
		{0.95, 600, []float64{0.95, 0.967, 0.977}},
		{0.95, 200, []float64{0.95, 0.967}},
		{0.99, 300, []float64{0.99}},
		{0.5, 300, []float64{0.5, 0.579, 0.637}},
	} {
		got := Levels(tc.q, tc.n)
		require.Len(t, got, len(tc.want), "Levels(%g, %d) = %v", tc.q, tc.n, got)
		for j := range got {
			assert.InDelta(t, tc.want[j], got[j], 0.001, "Levels(%g, %d) = %v; want %v", tc.q, tc.n, got, tc.want)
		}
	}
}

func TestPairsCap(t *testing.T) {
	p := NewPairs(2, 10, 1)
	for i := range 100 {
		p.Add(0, time.Duration(i)*time.Millisecond, time.Millisecond)
	}
	p.Add(1, time.Millisecond, 2*time.Millisecond)
	p.Outcome(1, false, true)
	p.Outcome(1, true, true)
	p.Outcome(1, true, false)
	p.Outcome(1, false, false)
	pairs, seen, outs := p.Take()
	assert.Len(t, pairs[0], 10)
	assert.Equal(t, []int64{100, 1}, seen)
	assert.Equal(t, []Pair{{A: 1000, B: 2000, Seq: 100}}, pairs[1], "Seq numbers the pairs across tasks")
	assert.True(t, slices.IsSortedFunc(pairs[0], func(x, y Pair) int { return cmp.Compare(x.Seq, y.Seq) }),
		"the reservoir's pairs come back in the order they were added: %v", pairs[0])
	assert.Equal(t, []Outcomes{{}, {Starts: 4, OnlyA: 1, OnlyB: 1, Both: 1}}, outs)
	pairs, _, outs = p.Take()
	assert.Empty(t, pairs[0], "Take starts afresh")
	assert.Zero(t, outs[1])
}

func TestReport(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	rep := Judge([]Sample{
		{Task: "GET /b", Pairs: duetRun(rng, 800, scale(1.6), false), Outcomes: Outcomes{Starts: 500, OnlyB: 60, OnlyA: 2, Both: 3}},
		{Task: "GET /a", Pairs: duetRun(rng, 50, scale(1), false), Outcomes: Outcomes{Starts: 50}},
	}, []gate.Metric{gate.P95, gate.Failures, gate.Rate}, gate.Config{Replicates: 300})
	var tasks []string
	for _, r := range rep.Rows {
		tasks = append(tasks, r.Task+" "+string(r.Metric))
	}
	assert.Equal(t, []string{"GET /a p95", "GET /a failures", "GET /b p95", "GET /b failures", "Aggregated p95", "Aggregated failures"}, tasks,
		"sorted by task, Aggregated last, percentiles and failures, never the rate")
	agg := rep.Rows[len(rep.Rows)-1]
	assert.Equal(t, Outcomes{Starts: 550, OnlyB: 60, OnlyA: 2, Both: 3}, agg.Outcomes, "Aggregated sums the tasks' starts")
	require.Len(t, rep.Failed(), 4)
	assert.Regexp(t, `^GET /b: p95 \+\d+% \(B/A 1\.\d\d, 98% CI \d\.\d\d-\d\.\d\d\): FAIL$`, rep.Failed()[0].Message())
	assert.Equal(t, "GET /b: failures +11.60 pts (1.00% → 12.60%; 98% CI +9.21 .. +12.34 pts, p=0.0000; discordant starts 2 A only, 60 B only; tolerance +1.00 pts; 500 pairs): FAIL",
		rep.Failed()[1].Message())
	var b bytes.Buffer
	require.NoError(t, rep.WriteCSV(&b))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Equal(t, "task,metric,unit,base,candidate,ratio,delta,shift,ci_low,ci_high,p,tolerance,alpha,pairs,pairs_made,verdict,warnings", lines[0])
	assert.Len(t, lines, 7)
	assert.Contains(t, lines[1], "no verdict,too few pairs for a verdict: 50; need 200")
	assert.True(t, strings.HasPrefix(lines[4], "GET /b,failures,ratio,0.010000,0.126000,,0.116000,,0.0921,0.1234,0.0000,0.0100,0.0100,500,500,FAIL,"), "%s", lines[4])
	assert.Contains(t, rep.Markdown(), "| **FAIL** |")
	assert.Contains(t, rep.Text(), "Aggregated")
}

// TestOrderStats checks the bootstrap's shortcut: the order statistics
// read off the counts of a resample are those of the resample sorted.
func TestOrderStats(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 2, 10, 301} {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(rng.IntN(20)) // ties too
		}
		cnt := make([]int32, n)
		var res []float64
		for range n {
			i := rng.IntN(n)
			cnt[i]++
			res = append(res, xs[i])
		}
		slices.Sort(res)
		ks := []int{1, (n + 1) / 2, max(n-1, 1), n}
		got := make([]float64, len(ks))
		orderStats(xs, byValue(xs), cnt, ks, got)
		for j, k := range ks {
			assert.Equal(t, res[k-1], got[j], "n=%d: order statistic %d", n, k)
		}
	}
}
