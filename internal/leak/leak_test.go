package leak

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/trend"
	"github.com/steadyload/steadyload/loadtest/result"
)

var nan = math.NaN()

func TestThin(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		maxN int
		want []float64
	}{
		{"short enough", []float64{3, 1, 2}, 3, []float64{3, 1, 2}},
		{"blocks of two", []float64{1, 3, 5, 7, 9, 11}, 3, []float64{2, 6, 10}},
		{"blocks of three, a short last", []float64{3, 1, 2, 9, 8, 7, 5}, 3, []float64{2, 8, 5}},
		{"NaNs skipped", []float64{nan, 4, 6, nan}, 2, []float64{4, 6}},
		{"a block of NaNs", []float64{nan, nan, 1, 3}, 2, []float64{nan, 2}},
	}
	for _, tt := range tests {
		got := thin(tt.xs, tt.maxN)
		require.Len(t, got, len(tt.want), "%s: thin(%v, %d) = %v", tt.name, tt.xs, tt.maxN, got)
		for i := range got {
			if math.IsNaN(tt.want[i]) {
				assert.True(t, math.IsNaN(got[i]), "%s: thin(%v, %d)[%d] = %g; want NaN", tt.name, tt.xs, tt.maxN, i, got[i])
				continue
			}
			assert.Equal(t, tt.want[i], got[i], "%s: thin(%v, %d)[%d]", tt.name, tt.xs, tt.maxN, i)
		}
	}
}

// run is a run of windows of one second: for each window i, a row for
// each task with p50 p50s[task][i] (0: no successful request), then the
// aggregate's row. The last window lasts last.
func run(p50s map[string][]int64, n int, last time.Duration) *result.Run {
	res := &result.Run{Tasks: []*result.Task{{Type: "GET", Name: "/x"}, {Name: "OnStart", Setup: true}}}
	for i := range n {
		length := time.Second
		if i == n-1 {
			length = last
		}
		off := time.Duration(i) * time.Second
		for _, task := range []struct{ typ, name string }{{"GET", "/x"}, {"", "OnStart"}} {
			key := strings.TrimSpace(task.typ + " " + task.name)
			res.Windows = append(res.Windows, result.Window{Offset: off, Length: length, Type: task.typ, Name: task.name,
				Quantiles: []int64{p50s[key][i], 0, 0, 0, 0, 0}})
		}
		res.Windows = append(res.Windows, result.Window{Offset: off, Length: length, Name: result.AggregateName, Quantiles: []int64{999, 0, 0, 0, 0, 0}})
	}
	return res
}

// TestWindowMedians: the warm-up window, a longer last window, the
// OnStart step and the aggregate are left out; a window without
// successful requests is NaN.
func TestWindowMedians(t *testing.T) {
	p50s := map[string][]int64{"GET /x": {100, 200, 0, 400, 500}, "OnStart": {7, 7, 7, 7, 7}}
	series, n := windowMedians(run(p50s, 5, 1500*time.Millisecond), time.Second)
	assert.Equal(t, 3, n, "windows kept")
	require.Len(t, series, 1, "series %v; want GET /x alone", series)
	got := series["GET /x"]
	require.Len(t, got, 3)
	assert.Equal(t, 200.0, got[0])
	assert.True(t, math.IsNaN(got[1]), "a window without successful requests: %g; want NaN", got[1])
	assert.Equal(t, 400.0, got[2])

	// A last window of the same length is kept.
	_, n = windowMedians(run(p50s, 5, time.Second), time.Second)
	assert.Equal(t, 4, n, "windows kept when the last is whole")
}

// TestFindings: a steady rise over enough windows is a finding; too few
// windows are not tested, and the reason says why.
func TestFindings(t *testing.T) {
	rising := make([]int64, 30)
	flat := make([]int64, 30)
	for i := range rising {
		rising[i] = int64(10000 * (1 + 0.05*float64(i)))
		flat[i] = 10000 + int64(i%3)
	}
	o := trend.LeakOptions{Log: true}

	found, skipped := findings(run(map[string][]int64{"GET /x": rising, "OnStart": flat}, 30, time.Second), time.Second, o, true)
	assert.Empty(t, skipped)
	require.Len(t, found, 1, "findings %+v", found)
	assert.Equal(t, "GET /x", found[0].Task)
	assert.Equal(t, "leak", found[0].Kind)
	assert.True(t, found[0].Fail)
	assert.Equal(t, "latency of GET /x grew +126% over the run (p < 0.0001): possible leak or backlog (window median 11.4 ms → 25.7 ms, 29 windows of 1s)", found[0].Text)

	found, _ = findings(run(map[string][]int64{"GET /x": flat, "OnStart": flat}, 30, time.Second), time.Second, o, true)
	assert.Empty(t, found, "a flat task")

	found, skipped = findings(run(map[string][]int64{"GET /x": rising, "OnStart": flat}, 5, time.Second), time.Second, o, true)
	assert.Empty(t, found)
	assert.Equal(t, "4 windows of 1s after warm-up, need 10 (run longer or use a shorter -loadtest.window)", skipped)
}

// TestEvaluate: a finding is recorded on the segment with its verdict, a
// skip is logged.
func TestEvaluate(t *testing.T) {
	var logs []string
	info := pipeline.Info{Window: time.Second, Logf: func(format string, args ...any) {
		logs = append(logs, format)
	}}
	seg := &pipeline.Segment{Run: run(map[string][]int64{"GET /x": make([]int64, 5), "OnStart": make([]int64, 5)}, 5, time.Second)}
	New(info, Config{}).Evaluate(seg)
	assert.Empty(t, seg.Verdicts)
	assert.Equal(t, []string{"loadtest: leak check skipped: %s"}, logs)
}
