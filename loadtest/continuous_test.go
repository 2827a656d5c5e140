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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	run := func(t *testing.T, target *steppedTarget, duration time.Duration, args ...string) (*captureTB, *segmentLog) {
		log := &segmentLog{}
		var tb *captureTB
		synctest.Test(t, func(t *testing.T) {
			fs := newFlagSet()
			fl, bf := newFlags(fs), newBaselineFlags(fs)
			require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out, "-loadtest.baseline=" + root, "-loadtest.segment=1m", "-loadtest.window=10s"}, args...)))
			tb = newCaptureTB(t)
			tb.quiet = true
			sc := Scenario{
				Host: "http://orders.test", Transport: target, Rate: 10, Duration: duration, Seed: 7,
				Tasks: []Task{getTask("GET /orders", "/orders", 1)},
			}
			runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf}, sinks: []pipeline.Sink{log}})
		})
		return tb, log
	}
	rng := func(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

	{
		tb, log := run(t, &steppedTarget{base: 20 * time.Millisecond, factor: 1, step: time.Hour, rng: rng(1)}, 5*time.Minute, "-loadtest.update")
		require.Empty(t, tb.messages(), "recording the baseline")
		require.Len(t, log.segs, 5, "segments recorded")
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
	}
}
