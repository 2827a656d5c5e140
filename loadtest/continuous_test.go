package loadtest

import (
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/alert"
	"github.com/steadyload/steadyload/internal/pipeline"
)

// steppedTarget answers after a lognormal delay (median base, σ 0.25,
// seeded) that is factor times longer from step on, counted from its
// first request.
type steppedTarget struct {
	base   time.Duration
	factor float64
	step   time.Duration

	mu    sync.Mutex
	rng   *rand.Rand
	first time.Time
}

func (s *steppedTarget) RoundTrip(req *http.Request) (*http.Response, error) {
	s.mu.Lock()
	now := time.Now()
	if s.first.IsZero() {
		s.first = now
	}
	d := float64(s.base) * math.Exp(0.25*s.rng.NormFloat64())
	if now.Sub(s.first) >= s.step {
		d *= s.factor
	}
	s.mu.Unlock()
	select {
	case <-time.After(time.Duration(d)):
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req, Header: http.Header{}}, nil
}

// TestContinuousStep is the continuous run the strategy is for, in fake
// time: a baseline of five 1-minute segments, then 10 minutes cut into
// 1-minute segments against a target whose latency steps up by half in
// minute 5. The segments before the step pass, every segment after it
// fails the gate on p95, and the load never pauses.
func TestContinuousStep(t *testing.T) {
	out, root := t.TempDir(), t.TempDir()
	hook := &webhookLog{}
	reg := prometheus.NewRegistry()
	gathered := &gatherSink{reg: reg}
	run := func(t *testing.T, target *steppedTarget, duration time.Duration, args ...string) (*captureTB, *segmentLog) {
		log := &segmentLog{}
		var tb *captureTB
		synctest.Test(t, func(t *testing.T) {
			fs := newFlagSet()
			fl, bf, af, mf := newFlags(fs), newBaselineFlags(fs), newAlertFlags(fs), newMetricsFlags(fs)
			af.client = &http.Client{Transport: hook}
			mf.registry = reg
			require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out, "-loadtest.baseline=" + root, "-loadtest.segment=1m", "-loadtest.window=10s",
				"-loadtest.webhook=http://hooks.test/x"}, args...)))
			tb = newCaptureTB(t)
			tb.quiet = true
			sc := Scenario{
				Host: "http://orders.test", Transport: target, Rate: 10, Duration: duration, Seed: 7,
				Tasks: []Task{getTask("GET /orders", "/orders", 1)},
			}
			runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf, alert: af, metrics: mf}, sinks: []pipeline.Sink{log, gathered}})
		})
		return tb, log
	}
	rng := func(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

	{
		tb, log := run(t, &steppedTarget{base: 20 * time.Millisecond, factor: 1, step: time.Hour, rng: rng(1)}, 5*time.Minute, "-loadtest.update")
		require.Empty(t, tb.messages(), "recording the baseline")
		require.Len(t, log.segs, 5, "segments recorded")
		require.Zero(t, hook.status(alert.Firing), "alerts while recording the baseline")
	}
	{
		target := &steppedTarget{base: 20 * time.Millisecond, factor: 1.5, step: 5 * time.Minute, rng: rng(2)}
		tb, log := run(t, target, 10*time.Minute)
		require.Len(t, log.segs, 10, "segments judged")
		for i, s := range log.segs {
			assert.Equal(t, int64(600), s.requests, "segment %d: requests (no pause in the load)", i)
		}
		var failed []string
		for _, msg := range strings.Split(tb.messages(), "\n") {
			if msg != "" {
				failed = append(failed, msg)
			}
		}
		// Segments 5 to 9 each fail the gate on p95 (task and aggregate).
		assert.Len(t, failed, 10, "gate failures: %s", strings.Join(failed, "\n"))
		for _, msg := range failed {
			assert.Contains(t, msg, "baseline gate: ", "a gate failure")
			assert.Contains(t, msg, "p95", "on p95")
		}

		// Announced once on the webhook: one firing message per task
		// and metric, at the first segment after the step only.
		hook.mu.Lock()
		var firing []alert.Message
		for _, m := range hook.msgs {
			if m.Status == alert.Firing {
				firing = append(firing, m)
			}
		}
		hook.mu.Unlock()
		if assert.Len(t, firing, 2, "firing messages: the task's p95 and the aggregate's") {
			for _, m := range firing {
				assert.Equal(t, alert.Regression, m.Kind)
				assert.Equal(t, "p95", m.Metric)
				assert.Equal(t, log.segs[5].name, m.Segment, "announced at the first segment after the step")
			}
		}

		// And in the metrics of this run: the last segment's gate
		// regressed on p95, five segments passed and five failed.
		require.NoError(t, gathered.err)
		got := gathered.values
		assert.Equal(t, 1.0, got["steadyload_gate_regressed{metric=p95,task=GET /orders}"], "gate_regressed, the task's p95")
		assert.Equal(t, 1.0, got["steadyload_gate_regressed{metric=p95,task=Aggregated}"], "gate_regressed, the aggregate's p95")
		assert.Equal(t, 5.0, got["steadyload_segments_total{verdict=pass}"], "segments passed: the 5 before the step")
		assert.Equal(t, 5.0, got["steadyload_segments_total{verdict=fail}"], "segments failed: the 5 after the step")
		assert.Equal(t, 2.0*5, got["steadyload_findings_total{kind=regression}"], "regressions counted, per segment, task and metric")
	}
}

// gatherSink reads a registry's gauges and counters at the run's last
// segment, after the live metrics' own sink: by name{labels}, the test
// label left out.
type gatherSink struct {
	reg    *prometheus.Registry
	values map[string]float64
	err    error
}

func (g *gatherSink) Write(seg *pipeline.Segment) {
	if !seg.Last {
		return
	}
	mfs, err := g.reg.Gather()
	g.values, g.err = map[string]float64{}, err
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				if l.GetName() != "test" {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
			}
			g.values[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
}
