package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

func TestMinMedianMax(t *testing.T) {
	for _, tc := range []struct {
		name string
		us   []int64
	}{
		{"one value", []int64{20_345}},
		{"the lowest value", []int64{result.MinLatency, 7, 7}},
		{"the highest value", []int64{3, result.MaxLatency}},
		{"two clusters", []int64{120, 121, 125, 20_000, 20_010, 20_500, 20_501}},
		{"a long tail", []int64{900, 1_000, 1_100, 1_200, 45_000_000}},
		{"an even count", []int64{10, 20, 30, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := result.NewHistogram()
			for _, v := range tc.us {
				h.RecordValue(v)
			}
			lo, med, hi := minMedianMax(h)
			assert.Equal(t, h.Min(), lo, "minMedianMax: min; want Min")
			assert.Equal(t, h.ValueAtPercentile(50), med, "minMedianMax: median; want p50")
			assert.Equal(t, h.Max(), hi, "minMedianMax: max; want Max")
		})
	}
}

// TestRecorderWindowTotals checks the whole-run figures of every window
// row, and of the run's result, against histograms merged from what was
// recorded, for runs of one task and of several.
func TestRecorderWindowTotals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tasks []string
	}{
		{"one task", []string{"GET /a"}},
		{"three tasks", []string{"GET /a", "POST /b", "browse"}},
	} {
		names := tc.tasks
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(names))))
			rec := newRecorder(names)
			perTask := make([]*result.Task, len(names))
			for i := range perTask {
				perTask[i] = &result.Task{Latency: result.NewHistogram()}
			}
			t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			for w := range 4 {
				for range 200 {
					ti := rng.IntN(len(names))
					o := outcome{latency: time.Duration(50+rng.IntN(30_000*(ti+1))) * time.Microsecond, end: t0}
					if rng.IntN(10) == 0 {
						o.class, o.msg = ClassCheck, "check failed"
					} else {
						perTask[ti].Latency.RecordValue(micros(o.latency))
					}
					rec.record(ti, &o)
				}
				rows := rec.closeWindow(t0.Add(time.Duration(w)*time.Second), time.Duration(w)*time.Second, time.Second, 1)
				all := result.NewHistogram()
				for _, pt := range perTask {
					all.Merge(pt.Latency)
				}
				for _, row := range rows {
					h := all
					if row.Name != result.AggregateName {
						h = perTask[indexOf(t, names, row.Type, row.Name)].Latency
					}
					want := []float64{float64(h.Min()), float64(h.ValueAtPercentile(50)), float64(h.Max()), h.Mean()}
					got := []float64{float64(row.TotalMinUS), float64(row.TotalMedianUS), float64(row.TotalMaxUS), row.TotalMeanUS}
					for k, what := range []string{"min", "median", "max", "mean"} {
						assert.Equal(t, want[k], got[k], "window %d, %s %q: total %s", w, row.Type, row.Name, what)
					}
				}
			}
			_, total, _ := rec.tasksResult()
			all := result.NewHistogram()
			for _, pt := range perTask {
				all.Merge(pt.Latency)
			}
			assert.True(t, total.Latency.Equals(all), "the run's aggregate latency; want the tasks' merged")
		})
	}
}

func indexOf(t *testing.T, names []string, typ, name string) int {
	t.Helper()
	for i, n := range names {
		if ty, nm := splitName(n); ty == typ && nm == name {
			return i
		}
	}
	require.Failf(t, "no such task", "%s %q in %q", typ, name, names)
	return -1
}
