package drift

import (
	"flag"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/drift/drifttest"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

var longTrends = flag.Bool("trends.long", false, "run the long trend tests: thousands of synthetic histories")

func TestDriftFindings(t *testing.T) {
	tests := []struct {
		name  string
		rows  []history.Row
		kinds string
		text  []string
	}{
		{"+2%/night creep", drifttest.Nights(1, 20, 0.02, 0, 0, "s"), "drift",
			[]string{"p95 of POST /orders is drifting up +", "%/night over 14 nights (p "}},
		{"+20% step", drifttest.Nights(8, 20, 0, 0.2, 13, "s"), "step",
			[]string{"p95 of POST /orders stepped from ", " at the run of 2026-03-14 02:00 UTC (commit c13)"}},
		{"flat, noisy", drifttest.Nights(3, 30, 0, 0, 0, "s"), "", nil},
		{"old step, long ago", drifttest.Nights(4, 40, 0, 0.2, 10, "s"), "", nil},
		{"too few runs", drifttest.Nights(5, 5, 0.05, 0, 0, "s"), "", nil},
		{"one odd last run", func() []history.Row {
			rows := drifttest.Nights(9, 20, 0, 0, 0, "s")
			rows[19].P95 = rows[19].P95 * 3 / 2 // the gate's business, not a step
			return rows
		}(), "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := findings(tt.rows, trend.DriftOptions{}, false)
			require.Equal(t, tt.kinds, drifttest.Kinds(found), "findings %+v", found)
			for _, w := range tt.text {
				assert.Contains(t, found[0].Text, w)
			}
		})
	}
}

// TestDriftRates: over many seeded histories, a flat one reports nothing,
// a creep is reported as a drift, a step as a step at its run.
func TestDriftRates(t *testing.T) {
	n := 150
	if *longTrends {
		n = 2000
	}
	var flat, creep, creepStep, step, stepDrift, stepExtra int
	for i := 0; i < n; i++ {
		if len(findings(drifttest.Nights(uint64(1000+i), 20, 0, 0, 0, "s"), trend.DriftOptions{}, false)) > 0 {
			flat++
		}
		f := findings(drifttest.Nights(uint64(2000+i), 20, 0.02, 0, 0, "s"), trend.DriftOptions{}, false)
		if strings.Contains(drifttest.Kinds(f), "drift") {
			creep++
		}
		if strings.Contains(drifttest.Kinds(f), "step") {
			creepStep++
		}
		f = findings(drifttest.Nights(uint64(3000+i), 20, 0, 0.2, 13, "s"), trend.DriftOptions{}, false)
		for _, x := range f {
			if x.Kind == "step" && x.Commit == "c13" {
				step++
			} else if x.Kind == "step" {
				stepExtra++
			}
			if x.Kind == "drift" {
				stepDrift++
			}
		}
	}
	rate := func(k int) float64 { return float64(k) / float64(n) }
	t.Logf("over %d histories: flat %.3f, creep→drift %.3f, creep→step %.3f, step→step at its run %.3f, step→another step %.3f, step→drift %.3f",
		n, rate(flat), rate(creep), rate(creepStep), rate(step), rate(stepExtra), rate(stepDrift))
	assert.LessOrEqual(t, rate(flat), 0.03, "flat histories reported")
	assert.GreaterOrEqual(t, rate(creep), 0.95, "creeps reported as a drift")
	assert.LessOrEqual(t, rate(creepStep), 0.1, "creeps reported as a step")
	assert.GreaterOrEqual(t, rate(step), 0.9, "steps reported at their run")
	assert.LessOrEqual(t, rate(stepExtra), 0.1, "steps reported at another run")
	assert.LessOrEqual(t, rate(stepDrift), 0.1, "steps reported as a drift")
}

// TestTauFromHistory: the gate's τ comes from the history rows of the
// run's load shape once there are 20, for p95 only.
func TestTauFromHistory(t *testing.T) {
	info := pipeline.Info{
		Shape: result.Meta{Model: "open", Rate: 10, Duration: 5 * time.Minute},
		Logf:  t.Logf,
	}
	h, err := New(info, Config{Path: filepath.Join(t.TempDir(), "history.csv"), Check: true})
	require.NoError(t, err)
	shape := h.shape
	require.Equal(t, "open 10/s 5m0s", shape, "the history's load shape of the run")

	rows := drifttest.Nights(11, 25, 0, 0, 0, shape)                   // 4 % night-to-night noise, SE 3 %
	rows = append(rows, drifttest.Nights(12, 30, 0, 0, 0, "other")...) // another shape: ignored
	for i := range rows {
		rows[i].Time = rows[0].Time.Add(time.Duration(i) * time.Hour)
	}
	h.old = rows
	tau, n, ok := h.Tau("POST /orders", "p95")
	assert.True(t, ok, "tau(p95) calibrated")
	assert.Equal(t, 25, n, "tau(p95) from 25 runs")
	assert.True(t, tau >= 0.01 && tau <= 0.06, "tau(p95) = %.4f; want ≈ sqrt(0.04² − 0.03²) ≈ 0.026", tau)
	_, _, ok = h.Tau("POST /orders", "p50")
	assert.False(t, ok, "tau(p50) calibrated; want only p95")

	// After a step, only the runs at the new level count.
	stepped := &Part{old: drifttest.Nights(13, 40, 0, 0.3, 25, shape), shape: shape}
	_, _, ok = stepped.Tau("POST /orders", "p95")
	assert.False(t, ok, "tau calibrated from 15 runs since a step; want at least 20")
	short := &Part{old: rows[:19], shape: shape}
	_, _, ok = short.Tau("POST /orders", "p95")
	assert.False(t, ok, "tau calibrated from 19 runs; want at least 20")
}

// signalHistory is 20 nightly runs of one signal whose per-run mean grows
// by creep per night, with 4 % noise.
func signalHistory(seed uint64, creep float64) []history.SignalRow {
	r := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	var rows []history.SignalRow
	for i := range 20 {
		mean := 5e7 * math.Pow(1+creep, float64(i)) * math.Exp(0.04*r.NormFloat64())
		rows = append(rows, history.SignalRow{
			Time: t0.Add(time.Duration(i) * 24 * time.Hour), Shape: "open 10/s 5m0s",
			Signal: "process_resident_memory_bytes", Samples: 60, First: mean, Last: mean, Mean: mean, Max: mean,
		})
	}
	return rows
}

func TestSignalDrift(t *testing.T) {
	for seed := range uint64(5) {
		found := signalFindings(signalHistory(seed, 0.03), "open 10/s 5m0s", trend.DriftOptions{}, true)
		if assert.Len(t, found, 1, "seed %d, +3%%/night: want one drift of about +3%%/run", seed) {
			assert.True(t, found[0].Fail, "seed %d: the drift fails", seed)
			assert.Contains(t, found[0].Text, "server signal process_resident_memory_bytes (mean per run) is drifting up +", "seed %d", seed)
		}
		assert.Empty(t, signalFindings(signalHistory(seed, 0), "open 10/s 5m0s", trend.DriftOptions{}, true), "seed %d, flat", seed)
		assert.Empty(t, signalFindings(signalHistory(seed, 0.03), "closed 5 users", trend.DriftOptions{}, true), "seed %d, another load shape", seed)
	}
}
