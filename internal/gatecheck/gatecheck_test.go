package gatecheck

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// newPart makes a recording gate over an empty baseline in a temporary
// directory, for an open-model run.
func newPart(t *testing.T, cfg Config) *Part {
	t.Helper()
	info := pipeline.Info{Test: t.Name(), Env: "e2e", Out: t.TempDir(), Shape: result.Meta{Model: "open", Rate: 10, Duration: time.Second}, Logf: t.Logf}
	cfg.Dir = baseline.Dir(t.TempDir(), "e2e", t.Name())
	cfg.Gate = cfg.Gate.Normalize()
	cfg.Metrics, cfg.K, cfg.Update = gate.DefaultMetrics, 3, true
	g, err := New(info, cfg)
	require.NoError(t, err)
	return g
}

// TestRecordRefuses: a run that is partial, too small, late or failing
// is not recorded, and the verdict says why.
func TestRecordRefuses(t *testing.T) {
	complete := result.Meta{Test: "TestX", Status: result.Complete, Model: "open", Scheduled: 100}
	tests := []struct {
		name string
		meta func(m *result.Meta)
		reqs int64
		fail int64
		want string
	}{
		{"partial", func(m *result.Meta) { m.Status, m.Reason = result.Aborted, "too many failures" }, 100, 0,
			"baseline not updated: the run is aborted (too many failures); only a complete run is recorded"},
		{"tiny", nil, 25, 10,
			"baseline not updated: 15 successful requests, a baseline run needs at least 20 (and 200 for a verdict); run longer or raise the rate"},
		{"late", func(m *result.Meta) { m.Late = 20 }, 100, 0,
			"baseline not updated: the generator did not hold the rate, so the latencies measured are not the target's; record on a quieter machine"},
		{"slots held by the target", func(m *result.Meta) { m.Waited, m.Dropped = 15, 5 }, 100, 0,
			"baseline not updated: the rate was not held (15 starts late for a slot, every one taken by a task in flight; 5 never made), so this run's load is not the baseline's; record when the target answers as it should"},
		{"failing", nil, 100, 30,
			"baseline not updated: 30.0% of requests failed, above the limit of 1.5%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newPart(t, Config{MaxFailureRatio: 0.015, MaxLateRatio: 0.1})
			m := complete
			if tt.meta != nil {
				tt.meta(&m)
			}
			seg := &pipeline.Segment{Run: &result.Run{Meta: m, Total: &result.Task{Name: result.AggregateName, Requests: tt.reqs, Failures: tt.fail}}}
			g.record(seg)
			assert.Equal(t, []pipeline.Verdict{{Fail: true, Text: tt.want}}, seg.Verdicts)
			runs, err := baseline.Load(g.cfg.Dir)
			require.NoError(t, err)
			assert.Empty(t, runs, "runs recorded")
		})
	}
}

func TestTau(t *testing.T) {
	tests := []struct {
		name   string
		source func(task, metric string) (float64, int, bool)
		tau    float64
		runs   int
		ok     bool
	}{
		{"no history", nil, 0, 0, false},
		{"not calibrated", func(string, string) (float64, int, bool) { return 0.03, 25, false }, 0, 0, false},
		{"calibrated", func(string, string) (float64, int, bool) { return 0.03, 25, true }, 0.03, 25, true},
		{"below the floor", func(string, string) (float64, int, bool) { return 0.001, 25, true }, gate.MinTau, 25, true},
		{"zero", func(string, string) (float64, int, bool) { return 0, 25, true }, 0, 0, false},
		{"infinite", func(string, string) (float64, int, bool) { return math.Inf(1), 25, true }, 0, 0, false},
	}
	for _, tt := range tests {
		g := &Part{cfg: Config{Tau: tt.source}}
		tau, runs, ok := g.tau("GET /x", "p95")
		assert.Equal(t, []any{tt.tau, tt.runs, tt.ok}, []any{tau, runs, ok}, "%s: tau(GET /x, p95)", tt.name)
	}
}

// TestNewProbes: a folder the run could not write in is an error before
// any request, naming its role.
func TestNewProbes(t *testing.T) {
	out := t.TempDir()
	dir := filepath.Join(t.TempDir(), "baseline")
	failIn := func(bad string) func(string) error {
		return func(d string) error {
			if d == bad {
				return errors.New("cannot create " + d)
			}
			return nil
		}
	}
	info := pipeline.Info{Out: out, Logf: t.Logf}
	_, err := New(info, Config{Dir: dir, Probe: failIn(out)})
	assert.EqualError(t, err, "results folder (-loadtest.out): cannot create "+out+"; nothing would record this run's outcome")
	_, err = New(info, Config{Dir: dir, Probe: failIn(dir), Update: true})
	assert.EqualError(t, err, "baseline directory (-loadtest.baseline): cannot create "+dir+"; nothing would record this run's outcome")
	_, err = New(info, Config{Dir: dir, Probe: failIn(dir)})
	assert.NoError(t, err, "the baseline directory is probed only when recording")
}
