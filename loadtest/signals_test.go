package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// signalServer is a reference target: GET /work answers after a
// millisecond; GET /metrics exposes a heap gauge that grows by growth per
// second from 40 MB (with a GC-like sawtooth and seeded noise), a flat
// goroutine count, and a request counter. metrics, when set, replaces the
// /metrics handler.
func signalServer(t *testing.T, growth float64, metrics http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	var mu sync.Mutex
	var t0 time.Time
	rng := rand.New(rand.NewPCG(3, 5))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(time.Millisecond)
	})
	if metrics == nil {
		metrics = func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if t0.IsZero() {
				t0 = time.Now()
			}
			el := time.Since(t0).Seconds()
			heap := 40e6 * (1 + growth*el) * (1 + 0.05*float64(int(el*10)%4)/4 + 0.01*rng.NormFloat64())
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %g\n", heap)
			fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", 20+rng.IntN(3))
			fmt.Fprintf(w, "# TYPE work_total counter\nwork_total %d\n", hits.Load())
		}
	}
	mux.HandleFunc("GET /metrics", metrics)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &hits
}

// runSignals runs sc against real loopback servers with the server
// signals and the report installed, on a flag set of its own holding args.
func runSignals(t *testing.T, sc Scenario, args ...string) (*pipeline.Segment, *captureTB, string) {
	t.Helper()
	out := t.TempDir()
	fs := newFlagSet()
	fl, sf, rf, hf := newFlags(fs), newSignalFlags(fs), newReportFlags(fs), newHistoryFlags(fs)
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out, "-loadtest.history-dir=" + filepath.Join(out, "baseline")}, args...)))
	tb := newCaptureTB(t)
	res := runWith(tb, sc, runOptions{flags: fl, parts: parts{signals: sf, history: hf, report: rf}})
	return res, tb, out
}

// signalScenario is 2 s at 50 req/s in windows of 100 ms, scraping every
// 40 ms: about 50 samples per signal.
func signalScenario(srv *httptest.Server) Scenario {
	return Scenario{
		Host: srv.URL, Rate: 50, Duration: 2 * time.Second, Window: 100 * time.Millisecond,
		Metrics: srv.URL + "/metrics", Signals: []string{"work_total"},
		Tasks: []Task{getTask("GET /work", "/work", 1)},
		// A shared machine under -race: schedule keeping is not what is
		// tested here.
		LateTolerance: time.Second, MaxLateRatio: 1,
	}
}

var fastScrape = "-loadtest.metrics-interval=40ms"

func TestSignalsGrowingGaugeFlagged(t *testing.T) {
	for _, mode := range []string{"warn", "fail"} {
		t.Run(mode, func(t *testing.T) {
			srv, _ := signalServer(t, 0.25, nil) // +25 %/s: +50 % over the run
			res, tb, out := runSignals(t, signalScenario(srv), fastScrape, "-loadtest.signal-rise="+mode)
			require.NotNil(t, res, "no result; log:\n%s", tb.logText())
			require.NotNil(t, res.Signals, "no signals on the result; log:\n%s", tb.logText())
			var heap string
			for _, tr := range res.Signals.Rising() {
				if !assert.Equal(t, "go_memstats_heap_inuse_bytes", tr.Signal, "signal flagged: %s", tr) {
					continue
				}
				heap = tr.String()
				// +25 %/s over about 2 s, on a busy machine.
				assert.GreaterOrEqual(t, tr.Growth, 0.2, "heap growth; want about +50%%: %s", tr)
				assert.LessOrEqual(t, tr.Growth, 2.0, "heap growth; want about +50%%: %s", tr)
			}
			require.Regexp(t, `^go_memstats_heap_inuse_bytes rose from [0-9.]+M to [0-9.]+M \(\+[0-9]+%\) over the run \(p [<=] [0-9.]+, [0-9]+ samples\)$`, heap,
				"heap finding; want \"go_memstats_heap_inuse_bytes rose from …M to …M (+…%%) over the run (p …, … samples)\"\nlog:\n%s", tb.logText())
			switch mode {
			case "warn":
				assert.Contains(t, tb.logText(), "loadtest: warning: server signal "+heap, "log; want a warning")
				assert.False(t, tb.Failed(), "run failed; want a warning and no failure; errors %q", tb.messages())
			case "fail":
				assert.Contains(t, tb.messages(), "server signal "+heap, "errors; want the finding as a test error")
			}
			csv, err := os.ReadFile(filepath.Join(out, result.FileBase(t.Name())+"_signals.csv"))
			require.NoError(t, err, "signals CSV")
			lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
			assert.Equal(t, "Signal,Timestamp,Offset (s),Window Offset (s),Value", lines[0], "signals CSV: header")
			assert.GreaterOrEqual(t, len(lines), 3*30, "signals CSV: lines; want the header and ~150 rows")
			assert.Contains(t, string(csv), "\nrate(work_total),", "signals CSV; want rate(work_total) rows")
		})
	}
}

func TestSignalsFlatGaugeNotFlagged(t *testing.T) {
	srv, _ := signalServer(t, 0, nil)
	res, tb, _ := runSignals(t, signalScenario(srv), fastScrape, "-loadtest.signal-rise=fail")
	require.NotNil(t, res, "no result; log:\n%s", tb.logText())
	require.NotNil(t, res.Signals, "signals not tested; log:\n%s", tb.logText())
	require.GreaterOrEqual(t, len(res.Signals.Trends), 2, "signals tested: %+v\nlog:\n%s", res.Signals, tb.logText())
	assert.Empty(t, res.Signals.Rising(), "signals flagged on a flat server; errors %q", tb.messages())
	assert.False(t, tb.Failed(), "a flat server failed the run; errors %q", tb.messages())
}

func TestSignalsBadEndpointRunGoesOn(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"missing", http.NotFound, "/metrics: status 404 Not Found; server signals are not recorded while this lasts, the load goes on"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "# TYPE go_goroutines gauge\ngo_goroutines 12\nprocess_open_fds{fd= 3\n")
		}, "malformed exposition: text format parsing error in line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, hits := signalServer(t, 0, tt.handler)
			sc := signalScenario(srv)
			sc.Duration = time.Second
			res, tb, _ := runSignals(t, sc, fastScrape)
			assert.Contains(t, tb.logText(), "loadtest: warning: metrics "+srv.URL, "log; want the warning")
			assert.Contains(t, tb.logText(), tt.want, "log; want the warning")
			assert.Equal(t, 1, strings.Count(tb.logText(), tt.want), "times the warning was logged")
			assert.False(t, tb.Failed(), "run failed; want it to go on: errors %q", tb.messages())
			assert.Equal(t, result.Complete, res.Meta.Status, "result status; want the run to go on")
			assert.GreaterOrEqual(t, hits.Load(), int64(40), "requests the server saw; want the run to go on")
		})
	}
}

func TestSignalsStandInMetricsByDefault(t *testing.T) {
	srv, _ := signalServer(t, 0, nil)
	sc := signalScenario(srv)
	sc.Host, sc.Metrics, sc.Duration = "", "", 500*time.Millisecond
	sc.StandIns = []StandIn{{Env: "test", Start: func(testing.TB) (string, error) { return srv.URL, nil }}}
	res, tb, _ := runSignals(t, sc, fastScrape)
	require.NotNil(t, res.Signals, "stand-in's /metrics not scraped by default; log:\n%s", tb.logText())
	require.Equal(t, srv.URL+"/metrics", res.Signals.Source, "signals source; want the stand-in's /metrics by default")
	require.NotEmpty(t, res.Signals.Series("go_goroutines"), "go_goroutines samples from the stand-in's /metrics; log:\n%s", tb.logText())

	// A real host is not scraped unless asked.
	sc = signalScenario(srv)
	sc.Metrics, sc.Duration = "", 300*time.Millisecond
	res, tb, _ = runSignals(t, sc)
	assert.Nil(t, res.Signals, "real host scraped without being asked")
	_ = tb
}

func TestSignalsProbe(t *testing.T) {
	srv, _ := signalServer(t, 0, nil)
	var depth atomic.Int64
	sc := signalScenario(srv)
	sc.Metrics = "off"
	sc.Probes = []Probe{{Name: "orders queue", Sample: func(ctx context.Context) (float64, error) {
		return float64(depth.Add(3)), nil // a backlog: 3 more per window
	}}}
	res, tb, _ := runSignals(t, sc)
	require.NotNil(t, res.Signals, "signals; want the probes'")
	require.Empty(t, res.Signals.Source, "signals source; want probes only")
	got := res.Signals.Series("orders queue")
	assert.GreaterOrEqual(t, len(got), 15, "probe samples; want one per window (20)")
	assert.LessOrEqual(t, len(got), 21, "probe samples; want one per window (20)")
	if r := res.Signals.Rising(); assert.Len(t, r, 1, "rising; want the orders queue\nlog:\n%s", tb.logText()) {
		assert.True(t, strings.HasPrefix(r[0].String(), "orders queue rose from "), "rising: %s; want the orders queue", r[0])
	}
}

func TestSignalsInvalidSettingsSendNothing(t *testing.T) {
	srv, hits := signalServer(t, 0, nil)
	sc := signalScenario(srv)
	sc.Metrics = "localhost:9090/metrics"
	sc.Signals = []string{`queue{name=orders}`}
	sc.SignalRise = "loud"
	sc.Probes = []Probe{{Name: "q"}}
	_, tb, _ := runSignals(t, sc, "-loadtest.metrics-interval=-1s")
	msg := tb.messages()
	for _, want := range []string{"no request sent", `metrics endpoint "localhost:9090/metrics"`, `signal "queue{name=orders}"`,
		`Scenario.SignalRise="loud": want warn, fail or off`, `probe "q": no Sample function`, "-loadtest.metrics-interval=-1s: must be positive"} {
		assert.Contains(t, msg, want, "errors")
	}
	assert.Zero(t, hits.Load(), "requests sent")
}
