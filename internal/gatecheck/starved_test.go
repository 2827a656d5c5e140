package gatecheck

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// lognormalRun is a complete open-model run of one task at 20 req/s for
// 30 s, its latencies lognormal (median 20 ms) times scale, drawn from
// seed, started seed minutes after a fixed time.
func lognormalRun(seed uint64, scale float64, pressure result.Share, lag time.Duration) *result.Run {
	rng := rand.New(rand.NewPCG(seed, 7))
	m := result.Meta{Test: "TestStarved", RunID: fmt.Sprintf("%016x", seed), Version: "dev", Status: result.Complete,
		Model: "open", Rate: 20, MaxInFlight: 100, Duration: 30 * time.Second, Window: 10 * time.Second, Grace: 5 * time.Second,
		Start: time.Date(2026, 3, 1, 12, int(seed), 0, 0, time.UTC), Elapsed: 30 * time.Second, Target: "http://127.0.0.1:1", Env: "e2e",
		GoVersion: "go1.26", Scheduled: 600, LagP50: lag / 4, LagP99: lag, CPUPressure: pressure}
	task := &result.Task{Type: "GET", Name: "/work", Latency: result.NewHistogram()}
	for range 600 {
		task.Requests++
		task.Latency.RecordValue(int64(scale * 20000 * math.Exp(0.668*rng.NormFloat64())))
	}
	total := &result.Task{Name: result.AggregateName, Requests: task.Requests, Latency: result.NewHistogram()}
	total.Latency.Merge(task.Latency)
	return &result.Run{Meta: m, Tasks: []*result.Task{task}, Total: total}
}

// TestStarvedNoVerdict: a run whose generator fared much worse than in
// the baseline's runs gets no verdict, loudly — a warning, the note, each
// row of the comparison file — never FAIL, however slow it measured; and
// recording it into the baseline warns.
func TestStarvedNoVerdict(t *testing.T) {
	pct := func(p float64) result.Share { return result.Share{Pct: p, Known: true} }
	ms := time.Millisecond
	tests := []struct {
		name    string
		run     *result.Run
		starved string // in the warning and each row; empty: compared as ever
		fails   bool
	}{
		{"as quiet as the baseline", lognormalRun(10, 1, pct(2.5), 1500*time.Microsecond), "", false},
		{"slower, as quiet as the baseline", lognormalRun(11, 1.6, pct(2.5), 1500*time.Microsecond), "", true},
		{"cpu pressure", lognormalRun(12, 1.6, pct(38), 1500*time.Microsecond), "the generator was starved (cpu pressure 38% vs 2% in the baseline)", false},
		{"cpu pressure and start lag", lognormalRun(13, 1.6, pct(38), 9100*time.Microsecond),
			"the generator was starved (cpu pressure 38% vs 2% in the baseline; start lag p99 9.1 ms vs 1.2 ms)", false},
		{"start lag alone, no kernel figures", lognormalRun(14, 1.6, result.Share{}, 20*ms), "the generator was starved (start lag p99 20 ms vs 1.2 ms)", false},
		{"pressure below the rule", lognormalRun(15, 1, pct(9), 1500*time.Microsecond), "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := baseline.Dir(t.TempDir(), "e2e", t.Name())
			for i, p := range []float64{1, 2, 3} {
				lag := []time.Duration{400 * time.Microsecond, 1200 * time.Microsecond, 2500 * time.Microsecond}[i]
				_, err := baseline.Record(dir, lognormalRun(uint64(i+1), 1, pct(p), lag), baseline.Params{K: 3}, 3)
				require.NoError(t, err, "record baseline run %d", i+1)
			}
			info := pipeline.Info{Test: t.Name(), Env: "e2e", Out: t.TempDir(), Shape: tt.run.Meta, Logf: t.Logf}
			g, err := New(info, Config{Dir: dir, Gate: gate.Config{}.Normalize(), Metrics: gate.DefaultMetrics, K: 3, MaxFailureRatio: 0.01, MaxLateRatio: 0.1})
			require.NoError(t, err)

			seg := &pipeline.Segment{Name: "TestStarved", Run: tt.run}
			g.Evaluate(seg)
			g.Write(seg)
			var fails, warns []string
			for _, v := range seg.Verdicts {
				if v.Fail {
					fails = append(fails, v.Text)
				} else {
					warns = append(warns, v.Text)
				}
			}
			assert.Equal(t, tt.fails, len(fails) > 0, "failed verdicts: %q", fails)
			csv, err := os.ReadFile(filepath.Join(g.info.Out, "TestStarved_gate.csv"))
			require.NoError(t, err, "the comparison file")
			require.NotEmpty(t, seg.Gate.Rows, "rows of the comparison")
			if tt.starved == "" {
				assert.Empty(t, warns, "warnings")
				assert.NotContains(t, string(csv), "starved", "the comparison file")
				return
			}
			assert.Equal(t, []string{"baseline gate: NO VERDICT: " + tt.starved + ": its latencies, failures and rate are not the target's; run on a quieter machine, or give the generator more CPU"}, warns, "warnings")
			for _, row := range seg.Gate.Rows {
				assert.Equal(t, gate.NoVerdict, row.Verdict, "%s %s: verdict", row.Task, row.Metric)
				if assert.NotEmpty(t, row.Warnings, "%s %s: warnings", row.Task, row.Metric) {
					assert.Equal(t, tt.starved, row.Warnings[0], "%s %s: first warning", row.Task, row.Metric)
				}
			}
			assert.Equal(t, len(seg.Gate.Rows), strings.Count(string(csv), ",no verdict,"+tt.starved), "rows of the comparison file saying so:\n%s", csv)
			assert.Contains(t, seg.Gate.Text(), "note: NO VERDICT: "+tt.starved, "the comparison's text")

			seg.Verdicts = nil
			var logged []string
			g.info.Logf = func(format string, args ...any) { logged = append(logged, fmt.Sprintf(format, args...)) }
			g.record(seg)
			assert.Empty(t, seg.Verdicts, "recording the starved run: verdicts")
			if assert.NotEmpty(t, logged, "recording the starved run: log") {
				assert.Equal(t, "loadtest: baseline: WARNING: "+tt.starved+" next to the baseline's runs; record on a quieter machine, or delete this run if the gate gives no verdict too often", logged[0], "recording the starved run: the warning")
			}
		})
	}
}

// TestJudgeStarved: asked to, the gate judges a starved run all the same,
// a slow one failing, and says the generator was starved in a warning.
func TestJudgeStarved(t *testing.T) {
	pct := func(p float64) result.Share { return result.Share{Pct: p, Known: true} }
	dir := baseline.Dir(t.TempDir(), "e2e", t.Name())
	for i, p := range []float64{1, 2, 3} {
		_, err := baseline.Record(dir, lognormalRun(uint64(i+1), 1, pct(p), time.Millisecond), baseline.Params{K: 3}, 3)
		require.NoError(t, err, "record baseline run %d", i+1)
	}
	run := lognormalRun(21, 1.6, pct(38), time.Millisecond)
	info := pipeline.Info{Test: t.Name(), Env: "e2e", Out: t.TempDir(), Shape: run.Meta, Logf: t.Logf}
	g, err := New(info, Config{Dir: dir, Gate: gate.Config{}.Normalize(), Metrics: gate.DefaultMetrics, K: 3, MaxFailureRatio: 0.01, MaxLateRatio: 0.1, JudgeStarved: true})
	require.NoError(t, err)
	seg := &pipeline.Segment{Name: "TestStarved", Run: run}
	g.Evaluate(seg)
	var fails, warns []string
	for _, v := range seg.Verdicts {
		if v.Fail {
			fails = append(fails, v.Text)
		} else {
			warns = append(warns, v.Text)
		}
	}
	assert.NotEmpty(t, fails, "failed verdicts of a run 1.6x slower")
	assert.Contains(t, warns, "baseline gate: the generator was starved (cpu pressure 38% vs 2% in the baseline); judged all the same, as asked")
	assert.NotContains(t, seg.Gate.Note, "NO VERDICT")
}
