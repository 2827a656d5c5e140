package explain

import (
	"bytes"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/history"
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

// shapeOfRuns is the load shape of the runs the history tests record.
var shapeOfRuns = result.Meta{Model: "open", Rate: 10, Duration: 5 * time.Minute}

// writeHistory writes, in a fresh folder, the history of task "GET /" over
// len(p95) runs of shapeOfRuns, one run an hour (p95 in ms), and the
// signals history beside it: each signal's run means, aligned with the
// runs. extra rows, of runs of other shapes, are added to both files.
// It returns the history file's path.
func writeHistory(t *testing.T, p95 []float64, means map[string][]float64, extra []history.Row, extraSigs []history.SignalRow) string {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	shape := shapeOfRuns.Shape().Key()
	var rows []history.Row
	var sigs []history.SignalRow
	for i, v := range p95 {
		at := t0.Add(time.Duration(i) * time.Hour)
		id := fmt.Sprintf("run%02d", i)
		us := int64(1000 * v)
		rows = append(rows, history.Row{Time: at, Commit: "c", Shape: shape, Task: "GET /", Requests: 3000,
			Rate: 10, P50: us / 2, P90: us, P95: us, P99: us, SELnP95: math.NaN(), RunID: id})
		for _, name := range slices.Sorted(maps.Keys(means)) {
			m := means[name][i]
			sigs = append(sigs, history.SignalRow{Time: at, Commit: "c", Shape: shape, Signal: name, Samples: 60,
				First: m, Last: m, Mean: m, Max: m, Growth: math.NaN(), P: math.NaN(), RunID: id})
		}
	}
	rows = append(rows, extra...)
	sigs = append(sigs, extraSigs...)
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Time.Before(rows[j].Time) })
	sort.SliceStable(sigs, func(i, j int) bool { return sigs[i].Time.Before(sigs[j].Time) })
	dir := t.TempDir()
	path := filepath.Join(dir, history.FileName)
	var buf, sbuf bytes.Buffer
	require.NoError(t, history.Write(&buf, rows), "history.Write")
	require.NoError(t, history.WriteSignals(&sbuf, sigs), "history.WriteSignals")
	require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, history.SignalsFileName), sbuf.Bytes(), 0o644))
	return path
}

// wander is n values that wander around level without going anywhere:
// each keeps a third of the last one's distance from level, plus noise of
// a tenth of it. (A random walk, which drifts off for good, is not such
// a signal: over a couple of dozen runs it follows a step as often as
// not, and the rank test, which takes the pairs as independent, cannot
// tell it from one that moved with the latency.)
func wander(rng *rand.Rand, n int, level float64) []float64 {
	xs := make([]float64, n)
	d := 0.0
	for i := range xs {
		d = d/3 + 0.1*(rng.Float64()-0.5)
		xs[i] = level * (1 + d)
	}
	return xs
}

// evaluateRuns judges a segment of the run after the history at path,
// with finding f, and returns f's explanation and its verdict's text.
func evaluateRuns(t *testing.T, path string, f result.Finding) (string, string) {
	t.Helper()
	p, err := New(pipeline.Info{Window: time.Second, Shape: shapeOfRuns}, Config{HistoryPath: path})
	require.NoError(t, err, "New")
	// A run whose own rows the history part has not appended yet: it
	// adds nothing to the runs (no tasks, no signals).
	seg := &pipeline.Segment{Run: &result.Run{Meta: shapeOfRuns}, Name: "T"}
	seg.Meta.Status = result.Complete
	seg.Meta.Start = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	seg.Find(f)
	p.Evaluate(seg)
	require.Len(t, seg.Verdicts, 1)
	return seg.Explained(f.Kind, f.Task, f.Metric), seg.Verdicts[0].Text
}

// TestEvaluateStepOverRuns: p95 steps up at run 12 of 24; the db
// latency's run mean steps with it, the cache's wanders. The step names
// the db latency, changed at the same point, and not the cache; a signal
// recorded only with runs of another shape is not read.
func TestEvaluateStepOverRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	const n, at = 24, 12
	p95 := series(rng, n, at, 0.1)
	db := series(rng, n, at, 0.3)
	for i := range db {
		db[i] /= 5 // 2 → 6 ms
	}
	cache := wander(rng, n, 5000)
	// Runs of another shape, between these: their latency and a signal
	// that follows it exactly are of no concern to this shape's step.
	other := "open 50/s 5m0s"
	var extra []history.Row
	var extraSigs []history.SignalRow
	for i := range n {
		when := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		v := 5.0 + float64(i%3)
		id := fmt.Sprintf("other%02d", i)
		extra = append(extra, history.Row{Time: when, Commit: "c", Shape: other, Task: "GET /", Requests: 15000, Rate: 50,
			P50: int64(500 * v), P90: int64(1000 * v), P95: int64(1000 * v), P99: int64(1000 * v), SELnP95: math.NaN(), RunID: id})
		extraSigs = append(extraSigs, history.SignalRow{Time: when, Commit: "c", Shape: other, Signal: "another shape's", Samples: 60,
			First: v, Last: v, Mean: v, Max: v, Growth: math.NaN(), P: math.NaN(), RunID: id})
	}
	path := writeHistory(t, p95, map[string][]float64{"db latency": db, "cache entries": cache}, extra, extraSigs)
	text := "p95 of GET / stepped up +200% at run 12"
	got, verdict := evaluateRuns(t, path, result.Finding{Kind: "step", Task: "GET /", Metric: "p95", Text: text})
	require.NotEmpty(t, got, "explanation of the step")
	assert.True(t, strings.HasPrefix(got, "moved with it: db latency (ρ = +"), "explanation %q; want the db latency first", got)
	dbPart, _, _ := strings.Cut(strings.TrimPrefix(got, "moved with it: "), ")")
	assert.Contains(t, dbPart, "24 runs", "the db latency's pairs: every run of the shape")
	assert.Contains(t, dbPart, "changed at the same point", "the db latency: stepped at the latency's change point")
	assert.NotContains(t, got, "cache entries", "explanation: a wandering signal")
	assert.NotContains(t, got, "another shape's", "explanation: a signal of runs of another shape")
	assert.NotContains(t, got, "trace", "explanation over runs: no trace ids")
	assert.Equal(t, text+"; "+got, verdict, "the step's verdict text")
}

// TestEvaluateDriftOverRuns: p95 creeps up over 24 runs; the heap's run
// mean creeps with it, the cache's wanders. The drift names the heap.
func TestEvaluateDriftOverRuns(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n = 24
	p95 := make([]float64, n)
	heap := make([]float64, n)
	for i := range p95 {
		p95[i] = (10 + 0.5*float64(i)) * (1 + 0.05*(rng.Float64()-0.5))
		heap[i] = (100e6 + 5e6*float64(i)) * (1 + 0.05*(rng.Float64()-0.5))
	}
	path := writeHistory(t, p95, map[string][]float64{"heap": heap, "cache entries": wander(rng, n, 5000)}, nil, nil)
	got, _ := evaluateRuns(t, path, result.Finding{Kind: "drift", Task: "GET /", Metric: "p95", Text: "p95 of GET / crept +110% over 24 runs"})
	require.NotEmpty(t, got, "explanation of the drift")
	assert.True(t, strings.HasPrefix(got, "moved with it: heap (ρ = +"), "explanation %q; want the heap first", got)
	assert.NotContains(t, got, "cache entries", "explanation: a wandering signal")
}

// TestEvaluateRunsNothingMoved: p95 steps up at run 12, and no signal's
// run mean moves with it: the step names nothing, and its verdict's
// text is left as it was. A step of another task, or of another metric,
// is not explained either.
func TestEvaluateRunsNothingMoved(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	const n, at = 24, 12
	p95 := series(rng, n, at, 0.1)
	path := writeHistory(t, p95, map[string][]float64{
		"db latency":    series(rng, n, n, 0.3),
		"cache entries": wander(rng, n, 5000),
		"connections":   make([]float64, n), // constant: not tested
	}, nil, nil)
	text := "p95 of GET / stepped up +200% at run 12"
	got, verdict := evaluateRuns(t, path, result.Finding{Kind: "step", Task: "GET /", Metric: "p95", Text: text})
	assert.Empty(t, got, "explanation of a step nothing followed")
	assert.Equal(t, text, verdict, "the step's verdict text")

	// The same history with a signal that does follow: not listed for a
	// task without runs, nor for a metric runs are not ranked on.
	db := series(rng, n, at, 0.3)
	path = writeHistory(t, p95, map[string][]float64{"db latency": db}, nil, nil)
	got, _ = evaluateRuns(t, path, result.Finding{Kind: "step", Task: "POST /", Metric: "p95", Text: text})
	assert.Empty(t, got, "explanation of a task the history has no runs of")
	got, _ = evaluateRuns(t, path, result.Finding{Kind: "step", Task: "GET /", Metric: "p50", Text: text})
	assert.Empty(t, got, "explanation of a step of p50")
	got, _ = evaluateRuns(t, path, result.Finding{Kind: "step", Task: "GET /", Metric: "p95", Text: text})
	assert.NotEmpty(t, got, "explanation of the same step with a signal that followed it")
}
