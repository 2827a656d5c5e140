package guard

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/class"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// withDefaults fills the zero fields of cfg with the harness's defaults,
// as the loadtest package resolves a scenario's Guard.
func withDefaults(cfg Config) Config {
	if cfg.MaxFailureRatio == 0 {
		cfg.MaxFailureRatio = 0.2
	}
	if cfg.MinRequests == 0 {
		cfg.MinRequests = 20
	}
	return cfg
}

// noFailure is a run's TopFailure before any failure is recorded.
func noFailure() (string, string, bool) { return "", "", false }

// thirtyPercent fails 3 requests in every 10, spread out so that any 10
// (and any 20) requests in a row hold exactly 30 % failures.
func thirtyPercent(n int64) bool { return n%10 == 0 || n%10 == 3 || n%10 == 6 }

// TestGuardLookBack: what the guard judges, from the outcomes it was fed:
// the last span when it holds MinRequests requests, else the last
// MinRequests requests however long ago they finished, else nothing.
func TestGuardLookBack(t *testing.T) {
	const ms = time.Millisecond
	type feed struct {
		every, until time.Duration // a request finishing every `every`, from 0 to before `until`
		fail         func(i int64) bool
		latency      func(i int64) time.Duration // nil: 10 ms
	}
	type judged struct {
		ok         bool
		req, fails int64
		from       time.Duration // since the start
		p95        time.Duration // checked when not zero
		abort      string        // in check's verdict; empty: no abort
	}
	never := func(int64) bool { return false }
	always := func(int64) bool { return true }
	tests := []struct {
		name string
		cfg  Config
		feed feed
		now  time.Duration
		want judged
	}{
		{"one every 5s, 45s: too few", Config{Span: 10 * time.Second}, feed{5 * time.Second, 45 * time.Second, never, nil}, 45 * time.Second,
			judged{}},
		{"one every 5s, 100s: the last 20", Config{Span: 10 * time.Second}, feed{5 * time.Second, 100 * time.Second, never, nil}, 100 * time.Second,
			judged{ok: true, req: 20}},
		{"one every 5s, 150s: the last 20, not 12 spans", Config{Span: 10 * time.Second}, feed{5 * time.Second, 150 * time.Second, never, nil}, 150 * time.Second,
			judged{ok: true, req: 20, from: 50 * time.Second}},
		{"one a minute, all failing", Config{Span: 10 * time.Second}, feed{time.Minute, 20 * time.Minute, always, nil}, 20 * time.Minute,
			judged{ok: true, req: 20, fails: 20, abort: "20 of 20 requests failed (100% > 20%) between 0s and 20m0s of the run"}},
		{"one a minute, failures gone from the last 20", Config{Span: 10 * time.Second}, feed{time.Minute, 25 * time.Minute, func(i int64) bool { return i < 5 }, nil}, 25 * time.Minute,
			judged{ok: true, req: 20, from: 5 * time.Minute}},
		{"5/s, span 200ms, 30% failing", Config{Span: 200 * ms}, feed{200 * ms, 4 * time.Second, thirtyPercent, nil}, 4 * time.Second,
			judged{ok: true, req: 20, fails: 6, abort: "6 of 20 requests failed (30% > 20%) between 0s and 4s of the run"}},
		{"5/s, span 200ms, 10% failing", Config{Span: 200 * ms}, feed{200 * ms, 10 * time.Second, func(i int64) bool { return i%10 == 0 }, nil}, 10 * time.Second,
			judged{ok: true, req: 20, fails: 2, from: 6 * time.Second}},
		{"100/s, bad in the last span", Config{Span: time.Second}, feed{10 * ms, 10 * time.Second, func(i int64) bool { return i >= 900 }, nil}, 10 * time.Second,
			judged{ok: true, req: 80, fails: 80, from: 9200 * ms, abort: "80 of 80 requests failed (100% > 20%) between 9.2s and 10s of the run"}},
		{"100/s, bad long ago", Config{Span: time.Second}, feed{10 * ms, 10 * time.Second, func(i int64) bool { return i < 500 }, nil}, 10 * time.Second,
			judged{ok: true, req: 80, from: 9200 * ms}},
		{"10/s, span 1s: the span holds too few, the last 20 span 2s", Config{Span: time.Second}, feed{100 * ms, 5 * time.Second, never, nil}, 5 * time.Second,
			judged{ok: true, req: 20, from: 3 * time.Second}},
		{"one request, min 1", Config{Span: time.Second, MinRequests: 1}, feed{time.Minute, time.Minute, never, nil}, time.Hour,
			judged{ok: true, req: 1}},
		{"p95 of the last 20, 2 slow", Config{Span: time.Second, MaxP95: 100 * ms}, feed{time.Second, 20 * time.Second, never,
			func(i int64) time.Duration { return map[bool]time.Duration{true: 200 * ms, false: 10 * ms}[i%10 == 4] }}, 20 * time.Second,
			judged{ok: true, req: 20, p95: 200 * ms, abort: "p95 200ms > 100ms over 20 successful requests between 0s and 20s of the run"}},
		{"p95 of the last 20, 1 slow", Config{Span: time.Second, MaxP95: 100 * ms}, feed{time.Second, 20 * time.Second, never,
			func(i int64) time.Duration { return map[bool]time.Duration{true: 200 * ms, false: 10 * ms}[i == 7] }}, 20 * time.Second,
			judged{ok: true, req: 20, p95: 10 * ms}},
		{"p95 of the last 20, failures left out", Config{Span: time.Second, MaxP95: 100 * ms}, feed{time.Second, 20 * time.Second, func(i int64) bool { return i%10 == 4 },
			func(i int64) time.Duration { return map[bool]time.Duration{true: 200 * ms, false: 10 * ms}[i%10 == 4] }}, 20 * time.Second,
			judged{ok: true, req: 20, fails: 2, p95: 10 * ms}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
			g := New(withDefaults(tt.cfg), Run{Host: "target.test", TopFailure: noFailure})
			g.t0 = t0 // started at t0, without a watcher
			for i := int64(0); time.Duration(i)*tt.feed.every < tt.feed.until; i++ {
				lat := 10 * ms
				if tt.feed.latency != nil {
					lat = tt.feed.latency(i)
				}
				g.add(t0.Add(time.Duration(i)*tt.feed.every), lat, tt.feed.fail(i))
			}
			now := t0.Add(tt.now)
			g.mu.Lock()
			v, ok := g.look(now)
			g.mu.Unlock()
			got := judged{ok: ok, req: v.req, fails: v.fails, from: v.from.Sub(t0)}
			if !ok {
				got.from = 0
			}
			want := tt.want
			if want.p95 != 0 {
				got.p95 = v.p95.Round(ms)
			}
			got.abort, want.abort = "", ""
			assert.Equal(t, want, got, "look(%s)", tt.now)
			bad := g.check(now)
			if tt.want.abort == "" {
				assert.Empty(t, bad, "check(%s)", tt.now)
			} else {
				assert.Contains(t, bad, tt.want.abort, "check(%s)", tt.now)
			}
			assert.Equal(t, ok, g.judged, "judged after check")
		})
	}
}

// TestGuardWatch: the watcher stops a failing run at its first tick with
// every figure of the verdict and the failure explained; Finish fails a
// complete run whose target turned bad as the load ended, and notes a run
// too thin to judge. Time is fake.
func TestGuardWatch(t *testing.T) {
	cfg := Config{MaxFailureRatio: 0.2, Span: time.Second, MinRequests: 20}
	t.Run("failing", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var reasons []string
			g := New(cfg, Run{
				Host:       "target.test",
				TopFailure: func() (string, string, bool) { return class.HTTP, "HTTP 500", true },
				Stop:       func(reason string) { reasons = append(reasons, reason) },
			})
			t0 := time.Now()
			g.Start(t0)
			for range 20 {
				g.Outcome(pipeline.Outcome{End: t0, Latency: 5 * time.Millisecond, Class: class.HTTP})
			}
			time.Sleep(time.Second)
			g.Stop()
			g.Stop()
			require.Equal(t, []string{"aborted to protect the target: 20 of 20 requests failed (100% > 20%) between 0s and 200ms of the run; the target answered HTTP 500; all load stopped"},
				reasons, "Stop called with")
			note, fail := g.Finish(true)
			assert.Empty(t, note, "Finish(true) note")
			assert.Equal(t, "abort guard: the target turned bad as the load ended, too late to stop it: 20 of 20 requests failed (100% > 20%) between 0s and 1s of the run; the target answered HTTP 500", fail, "Finish(true) fail")
			note, fail = g.Finish(false)
			assert.Empty(t, note, "Finish(false) note")
			assert.Empty(t, fail, "Finish(false) fail: an aborted run was stopped in time")
		})
	})
	t.Run("too little data", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := New(cfg, Run{Host: "target.test", TopFailure: noFailure, Stop: func(reason string) { t.Errorf("Stop(%q) called", reason) }})
			t0 := time.Now()
			g.Start(t0)
			for _, cls := range []string{"", "", class.HTTP, class.Stopped, class.Panic} {
				g.Outcome(pipeline.Outcome{End: t0, Latency: 5 * time.Millisecond, Class: cls})
			}
			time.Sleep(time.Second)
			g.Stop()
			note, fail := g.Finish(true)
			assert.Equal(t, "abort guard: could not judge the target: 3 requests finished in the whole run and a verdict needs 20 (-loadtest.abort-min-requests); the failure ratio check still applies", note, "Finish(true) note")
			assert.Empty(t, fail, "Finish(true) fail")
		})
	})
	t.Run("never started", func(t *testing.T) {
		g := New(cfg, Run{Host: "target.test", TopFailure: noFailure})
		g.Stop() // returns: no watcher to wait for
		g.Stop()
	})
}

func TestExplain(t *testing.T) {
	tests := []struct{ class, want string }{
		{class.Refused, "connection refused: nothing listens at h:1"},
		{class.Reset, "connections reset or answers cut short (the message)"},
		{class.Timeout, "requests timed out (the message): the target accepted them but did not answer in time"},
		{class.TLS, "TLS handshake with h:1 failed (the message)"},
		{class.DNS, "the host name of h:1 does not resolve (the message)"},
		{class.HTTP, "the target answered the message"},
		{class.Check, "responses failed their checks (the message)"},
		{class.Stopped, "still waiting for an answer when the run's grace ended"},
		{class.Panic, "requests failed: the message"},
		{class.Other, "requests failed: the message"},
	}
	for _, tt := range tests {
		assert.Contains(t, explain(tt.class, "the message", "h:1"), tt.want, "explain(%q, %q, %q)", tt.class, "the message", "h:1")
	}
}

// TestDiagnose: a run failing more than its limit, and not aborted, is
// explained by its most common failure; any other run is not.
func TestDiagnose(t *testing.T) {
	failing := func(status result.Status, failures int64) *result.Run {
		return &result.Run{
			Meta:  result.Meta{Status: status},
			Total: &result.Task{Requests: 20, Failures: failures},
			Failures: []result.Failure{
				{Class: class.Timeout, Error: "GET: context deadline exceeded", Occurrences: 2},
				{Class: class.HTTP, Error: "HTTP 500", Occurrences: failures - 2},
			},
		}
	}
	tests := []struct {
		name  string
		res   *result.Run
		limit float64
		want  string
	}{
		{"failing", failing(result.Complete, 20), 0.01, `20 of 20 requests failed, most with "HTTP 500": the target answered HTTP 500`},
		{"interrupted", failing(result.Interrupted, 12), 0.5, `12 of 20 requests failed, most with "HTTP 500": the target answered HTTP 500`},
		{"at the limit", failing(result.Complete, 10), 0.5, ""},
		{"no limit", failing(result.Complete, 20), -1, ""},
		{"aborted", failing(result.Aborted, 20), 0.01, ""},
		{"no failures", &result.Run{Total: &result.Task{Requests: 20}}, 0.01, ""},
		{"no data", &result.Run{}, 0.01, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Diagnose(tt.res, tt.limit, "target.test"), "%s: Diagnose(res, %g, %q)", tt.name, tt.limit, "target.test")
	}
}
