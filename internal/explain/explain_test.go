package explain

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

func TestSpearman(t *testing.T) {
	for _, tc := range []struct {
		xs, ys []float64
		want   float64
	}{
		{[]float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{[]float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		{[]float64{1, 2, 3, 4}, []float64{1, 4, 9, 1000}, 1}, // ranks, not values
		{[]float64{1, 2, 2, 3}, []float64{1, 2, 2, 3}, 1},    // ties at their mean rank
		{[]float64{1, 2, 3, 4, 5}, []float64{2, 1, 4, 3, 5}, 0.8},
	} {
		assert.InDelta(t, tc.want, Spearman(tc.xs, tc.ys), 1e-12, "Spearman(%v, %v)", tc.xs, tc.ys)
	}
}

// series makes n values: a level of 10 that steps to 30 at step (n: no
// step), with relative noise of the given size.
func series(rng *rand.Rand, n, step int, noise float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		level := 10.0
		if i >= step {
			level = 30
		}
		xs[i] = level * (1 + noise*(rng.Float64()-0.5))
	}
	return xs
}

func TestRank(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 40
	latency := series(rng, n, 20, 0.2)
	db := series(rng, n, 20, 0.3)
	weak := make([]float64, n) // follows the latency a little, mostly noise
	for i := range weak {
		weak[i] = latency[i] + 200*rng.Float64()
	}
	noise := series(rng, n, n, 0.5)
	constant := make([]float64, n)
	short := []float64{1, 2, 3}
	inverse := make([]float64, n)
	for i := range inverse {
		inverse[i] = 100 - latency[i]
	}
	got := Rank(latency, []Series{{"noise", noise}, {"db", db}, {"weak", weak}, {"constant", constant}, {"short", short}, {"free memory", inverse}}, Options{})
	names := make([]string, len(got))
	for i, m := range got {
		names[i] = m.Signal
	}
	require.Equal(t, []string{"free memory", "db"}, names, "Rank: movers %+v", got)
	assert.Equal(t, -1.0, got[0].Rho, "free memory's ρ")
	db0 := got[1]
	assert.Greater(t, db0.Rho, 0.6, "db's ρ")
	assert.True(t, db0.SameChange, "db: changed at the latency's change point")
	assert.InDelta(t, 2, db0.Change, 0.3, "db's change at the change point: 10 → 30")
	assert.Equal(t, n, db0.N, "db's pairs")

	flat := series(rng, n, n, 0.2)
	assert.Empty(t, Rank(flat, []Series{{"noise", series(rng, n, n, 0.5)}, {"db", series(rng, n, n, 0.3)}}, Options{}),
		"Rank of a flat latency against noise; want nothing listed")
}

// TestRankFalsePositives: over 200 seeded trials, a latency that steps
// and signals of pure noise, nothing is listed in more than 2 % of the
// trials (the family-wise level is 1 %).
func TestRankFalsePositives(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	listed := 0
	for range 200 {
		lat := series(rng, 30, 15, 0.2)
		var sigs []Series
		for k := range 5 {
			sigs = append(sigs, Series{Name: string(rune('a' + k)), Values: series(rng, 30, 30, 0.5)})
		}
		if len(Rank(lat, sigs, Options{})) > 0 {
			listed++
		}
	}
	assert.LessOrEqual(t, listed, 4, "trials with a noise signal listed, of 200")
}

// segment builds a segment of n windows of one second: task "GET /" whose
// window p50 and p95 follow lat, with an exemplar per window, and the
// signals sampled twice per window.
func segment(lat []float64, sigs map[string][]float64) *pipeline.Segment {
	t0 := time.Unix(1000, 0)
	res := &result.Run{Meta: result.Meta{Start: t0, Elapsed: time.Duration(len(lat)) * time.Second, Status: result.Complete}}
	for i, v := range lat {
		q := make([]int64, len(result.Percentiles))
		for k := range q {
			q[k] = int64(v)
		}
		off := time.Duration(i) * time.Second
		res.Windows = append(res.Windows,
			result.Window{Start: t0.Add(off), Offset: off, Length: time.Second, Type: "GET", Name: "/", Quantiles: q,
				Exemplars: []result.Exemplar{{LatencyUS: int64(v), TraceID: fmt.Sprintf("trace%02d", i)}}},
			result.Window{Start: t0.Add(off), Offset: off, Length: time.Second, Name: result.AggregateName, Quantiles: q})
	}
	rep := &signals.Report{}
	for name, xs := range sigs {
		for i, v := range xs {
			for _, half := range []time.Duration{0, 500 * time.Millisecond} {
				off := time.Duration(i)*time.Second + half
				rep.Samples = append(rep.Samples, signals.Sample{Signal: name, At: t0.Add(off), Offset: off, Value: v})
			}
		}
	}
	sortSamples(rep.Samples)
	return &pipeline.Segment{Run: res, Signals: rep, Name: "T"}
}

func sortSamples(s []signals.Sample) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && (s[j].Signal < s[j-1].Signal || s[j].Signal == s[j-1].Signal && s[j].Offset < s[j-1].Offset); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestEvaluateLeak(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n = 30
	lat := make([]float64, n)
	db := make([]float64, n)
	for i := range lat {
		db[i] = 2 + float64(i) + rng.Float64()
		lat[i] = 1000 * (3 + db[i]*(1+0.1*rng.Float64()))
	}
	seg := segment(lat, map[string][]float64{"db latency": db, "cache entries": series(rng, n, n, 0.5)})
	text := "latency of GET / grew"
	seg.Find(result.Finding{Kind: "leak", Task: "GET /", Metric: "window p50", Text: text})
	p, err := New(pipeline.Info{Window: time.Second}, Config{})
	require.NoError(t, err, "New")
	p.Evaluate(seg)
	got := seg.Explained("leak", "GET /", "window p50")
	require.NotEmpty(t, got, "explanation of the leak; explanations %+v", seg.Explanations)
	assert.True(t, strings.HasPrefix(got, "moved with it: db latency (ρ = +"), "explanation %q; want the db latency first", got)
	assert.NotContains(t, got, "cache entries", "explanation")
	assert.Contains(t, got, "29 windows", "explanation: the warm-up window left out")
	_, traces, ok := strings.Cut(got, "; slowest requests of the windows that moved most: trace ")
	require.True(t, ok, "explanation %q: no traces", got)
	assert.Subset(t, []string{"trace29", "trace28", "trace27", "trace26"}, strings.Split(traces, ", "), "traces of the slowest windows")
	assert.Len(t, strings.Split(traces, ", "), 3, "traces %q", traces)
	assert.Equal(t, text+"; "+got, seg.Verdicts[0].Text, "the leak's verdict text")
}

func TestEvaluateNothingMoved(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const n = 30
	lat := series(rng, n, n, 0.1)
	for i := range lat {
		lat[i] *= 1000
	}
	seg := segment(lat, map[string][]float64{"db latency": series(rng, n, n, 0.3), "cache entries": series(rng, n, n, 0.5)})
	seg.Find(result.Finding{Kind: "leak", Task: "GET /", Metric: "window p50", Text: "latency of GET / grew"})
	p, err := New(pipeline.Info{Window: time.Second}, Config{})
	require.NoError(t, err, "New")
	p.Evaluate(seg)
	assert.Empty(t, seg.Explanations, "explanations of a latency nothing followed")
	assert.Equal(t, "latency of GET / grew", seg.Verdicts[0].Text, "verdict text")
}

func TestChangeText(t *testing.T) {
	for _, tc := range []struct {
		from, to float64
		want     string
	}{
		{10, 30, "+200%"}, {10, 5, "-50%"}, {0, 3, "from zero"}, {-2, -1, "+50%"}, {math.NaN(), 1, "change unknown"},
	} {
		assert.Equal(t, tc.want, changeText(change(tc.from, tc.to)), "changeText(change(%g, %g))", tc.from, tc.to)
	}
}
