package loadtest

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/opscheck"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// replicas is a loopback service of two replicas behind a balancer that
// sends three requests of four to the first. Each replica exposes
// client_golang metrics: its database latency (db_query_seconds) and an
// unrelated gauge that wanders (cache_entries). Once rising, the first
// replica's database latency grows by a millisecond a second and jumps
// by 6 ms after 10 s, and its requests wait for it. The jump gives the
// explanation a second way to see the signal move with the latency
// (ByStep) beside the shape of the ramp (ByTrend), which a busy machine
// can blur with a slow wiggle of the latency's own.
type replicas struct {
	front        *httptest.Server
	metricsAddrs []string // host:port of each replica's /metrics

	mu       sync.Mutex
	risingAt time.Time // zero: flat
}

func newReplicas(t *testing.T) *replicas {
	t.Helper()
	s := &replicas{}
	var servers [2]*httptest.Server
	for i := range servers {
		reg := prometheus.NewRegistry()
		rng := rand.New(rand.NewPCG(uint64(i), 11))
		var rngMu sync.Mutex
		reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "db_query_seconds", Help: "Latency of the database's queries."},
				func() float64 { return s.dbLatency(i).Seconds() }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "cache_entries", Help: "Entries in the cache."},
				func() float64 { rngMu.Lock(); defer rngMu.Unlock(); return 1000 + 400*rng.Float64() }),
		)
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(time.Millisecond + s.dbLatency(i))
		})
		servers[i] = httptest.NewServer(mux)
		t.Cleanup(servers[i].Close)
		s.metricsAddrs = append(s.metricsAddrs, strings.TrimPrefix(servers[i].URL, "http://"))
	}
	var n atomic.Int64
	client := servers[0].Client()
	s.front = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := servers[0]
		if n.Add(1)%4 == 0 {
			to = servers[1]
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, to.URL+r.URL.Path, nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
	}))
	t.Cleanup(s.front.Close)
	return s
}

// dbLatency is replica i's database latency now.
func (s *replicas) dbLatency(i int) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i != 0 || s.risingAt.IsZero() {
		return time.Millisecond
	}
	since := time.Since(s.risingAt)
	d := time.Millisecond + since/1000
	if since >= 10*time.Second {
		d += 6 * time.Millisecond
	}
	return d
}

func (s *replicas) rise() {
	s.mu.Lock()
	s.risingAt = time.Now()
	s.mu.Unlock()
}

// explainScenario is an open-model run of 20 s in windows of 1 s against
// the replicas, its baseline in root, its signals read from prom.
func explainScenario(s *replicas, root, prom string, d time.Duration) Scenario {
	return Scenario{
		Host: s.front.URL, Rate: 50, Duration: d, Window: time.Second, Grace: 2 * time.Second,
		LateTolerance: time.Second, MaxLateRatio: 0.5,
		Tasks: []Task{{Name: "GET /work", Do: func(ctx context.Context, u *User) error {
			_, err := u.Get(ctx, "/work")
			return err
		}}},
		Gate:       Gate{Dir: root, K: 1, JudgeStarved: true}, // about the explanation, not the machine
		Prometheus: prom,
		Queries: []Query{
			{Name: "db latency", Expr: "max(db_query_seconds)"},
			{Name: "cache entries", Expr: "avg(cache_entries)"},
		},
	}
}

// runExplain runs sc with the gate, the leak test and the server
// signals, on their own flags.
func runExplain(t *testing.T, sc Scenario, args ...string) (*pipeline.Segment, *captureTB) {
	t.Helper()
	fs := newFlagSet()
	fl, bf, lf, sf := newFlags(fs), newBaselineFlags(fs), newLeakFlags(fs), newSignalFlags(fs)
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + t.TempDir(), "-loadtest.env=e2e"}, args...)))
	tb := newCaptureTB(t)
	res := runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf, leak: lf, signals: sf}})
	require.NotNil(t, res, "no result; log:\n%s", tb.logText())
	return res, tb
}

// TestExplainFromPrometheus: a real Prometheus scrapes two replicas; on
// one, the database latency rises while the load runs and drags the
// service's latency with it, while an unrelated gauge wanders. The leak
// and the regression name the database signal first and the other not
// at all; a run whose latency does not move names nothing; against a
// stopped Prometheus, one warning and the run completes.
func TestExplainFromPrometheus(t *testing.T) {
	tools := opscheck.FindTools(t)
	svc := newReplicas(t)
	prom := opscheck.Start(t, tools, opscheck.Config{Targets: svc.metricsAddrs})
	root := t.TempDir()
	const d = 20 * time.Second

	// Flat: recorded as the baseline; nothing to explain.
	res, tb := runExplain(t, explainScenario(svc, root, prom.URL, d), "-loadtest.update")
	require.Empty(t, tb.messages(), "flat run failed; log:\n%s", tb.logText())
	require.NotNil(t, res.Signals, "flat run: no signals; log:\n%s", tb.logText())
	assert.Contains(t, res.Signals.Names(), "db latency", "flat run: signals read from Prometheus")
	assert.Contains(t, res.Signals.Names(), "cache entries", "flat run: signals read from Prometheus")
	assert.Empty(t, res.Explanations, "flat run: explanations; log:\n%s", tb.logText())
	assert.NotContains(t, tb.logText(), "moved with it", "flat run: log")

	// Rising, under the same test's name so that the gate compares it
	// with the flat run.
	{
		svc.rise()
		res, tb := runExplain(t, explainScenario(svc, root, prom.URL, d))
		var leak, regression string
		for _, f := range res.Findings {
			if f.Kind == "leak" && f.Task == "GET /work" {
				leak = res.Explained("leak", f.Task, f.Metric)
			}
		}
		if res.Gate != nil {
			for _, row := range res.Gate.Regressions() {
				if row.Task == "GET /work" && row.Metric == "p95" {
					regression = res.Explained("regression", row.Task, string(row.Metric))
				}
			}
		}
		for what, text := range map[string]string{"leak": leak, "regression": regression} {
			assert.True(t, strings.HasPrefix(text, "moved with it: db latency (ρ = +"),
				"%s: explanation %q; want the database signal first\nexplanations: %+v\nlog:\n%s", what, text, res.Explanations, tb.logText())
			assert.NotContains(t, text, "cache entries", "%s: explanation", what)
		}
		assert.Contains(t, tb.messages()+tb.logText(), "; moved with it: db latency", "log lines: the verdicts say what moved with them")
	}

	t.Run("stopped prometheus", func(t *testing.T) {
		var stopped string
		t.Run("start", func(t *testing.T) { stopped = opscheck.Start(t, tools, opscheck.Config{Targets: svc.metricsAddrs}).URL })
		res, tb := runExplain(t, explainScenario(svc, t.TempDir(), stopped, 3*time.Second))
		assert.Empty(t, tb.messages(), "run against a stopped Prometheus: failures; log:\n%s", tb.logText())
		assert.Equal(t, result.Complete, res.Meta.Status, "status")
		assert.Equal(t, 1, strings.Count(tb.logText(), "warning: prometheus "+stopped), "warnings naming the Prometheus; log:\n%s", tb.logText())
		assert.Contains(t, tb.logText(), "the load goes on", "log")
	})
}
