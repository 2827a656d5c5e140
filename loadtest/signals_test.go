package loadtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if err := fs.Parse(append([]string{"-loadtest.out=" + out, "-loadtest.history-dir=" + filepath.Join(out, "baseline")}, args...)); err != nil {
		t.Fatal(err)
	}
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
			if res == nil || res.Signals == nil {
				t.Fatalf("no signals on the result; log:\n%s", tb.logText())
			}
			var heap string
			for _, tr := range res.Signals.Rising() {
				if tr.Signal != "go_memstats_heap_inuse_bytes" {
					t.Errorf("%s flagged: %s", tr.Signal, tr)
					continue
				}
				heap = tr.String()
				if tr.Growth < 0.2 || tr.Growth > 2 { // +25 %/s over about 2 s, on a busy machine
					t.Errorf("growth %+.0f%%; want about +50%%", 100*tr.Growth)
				}
			}
			if !regexp.MustCompile(`^go_memstats_heap_inuse_bytes rose from [0-9.]+M to [0-9.]+M \(\+[0-9]+%\) over the run \(p [<=] [0-9.]+, [0-9]+ samples\)$`).MatchString(heap) {
				t.Fatalf("heap finding = %q; want \"go_memstats_heap_inuse_bytes rose from …M to …M (+…%%) over the run (p …, … samples)\"\nlog:\n%s", heap, tb.logText())
			}
			switch mode {
			case "warn":
				if !strings.Contains(tb.logText(), "loadtest: warning: server signal "+heap) || tb.Failed() {
					t.Errorf("want a warning and no failure; errors %q, log:\n%s", tb.messages(), tb.logText())
				}
			case "fail":
				if !strings.Contains(tb.messages(), "server signal "+heap) {
					t.Errorf("errors = %q; want the finding as a test error", tb.messages())
				}
			}
			csv, err := os.ReadFile(filepath.Join(out, result.FileBase(t.Name())+"_signals.csv"))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
			if lines[0] != "Signal,Timestamp,Offset (s),Window Offset (s),Value" || len(lines) < 3*30 {
				t.Errorf("signals CSV: header %q, %d lines; want the header and ~150 rows", lines[0], len(lines))
			}
			if !strings.Contains(string(csv), "\nrate(work_total),") {
				t.Errorf("signals CSV has no rate(work_total) rows")
			}
		})
	}
}

func TestSignalsFlatGaugeNotFlagged(t *testing.T) {
	srv, _ := signalServer(t, 0, nil)
	res, tb, _ := runSignals(t, signalScenario(srv), fastScrape, "-loadtest.signal-rise=fail")
	if res == nil || res.Signals == nil || len(res.Signals.Trends) < 2 {
		t.Fatalf("signals not tested: %+v\nlog:\n%s", res.Signals, tb.logText())
	}
	if r := res.Signals.Rising(); len(r) > 0 || tb.Failed() {
		t.Errorf("flat server flagged: %v; errors %q", r, tb.messages())
	}
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
			if !strings.Contains(tb.logText(), "loadtest: warning: metrics "+srv.URL) || !strings.Contains(tb.logText(), tt.want) {
				t.Errorf("log lacks the warning %q:\n%s", tt.want, tb.logText())
			}
			if n := strings.Count(tb.logText(), tt.want); n != 1 {
				t.Errorf("warning logged %d times; want once", n)
			}
			if tb.Failed() || res.Meta.Status != result.Complete || hits.Load() < 40 {
				t.Errorf("run did not go on: status %s, %d requests, errors %q", res.Meta.Status, hits.Load(), tb.messages())
			}
		})
	}
}

func TestSignalsStandInMetricsByDefault(t *testing.T) {
	srv, _ := signalServer(t, 0, nil)
	sc := signalScenario(srv)
	sc.Host, sc.Metrics, sc.Duration = "", "", 500*time.Millisecond
	sc.StandIns = []StandIn{{Env: "test", Start: func(testing.TB) (string, error) { return srv.URL, nil }}}
	res, tb, _ := runSignals(t, sc, fastScrape)
	if res.Signals == nil || res.Signals.Source != srv.URL+"/metrics" || len(res.Signals.Series("go_goroutines")) == 0 {
		t.Fatalf("stand-in's /metrics not scraped by default: %+v\nlog:\n%s", res.Signals, tb.logText())
	}

	// A real host is not scraped unless asked.
	sc = signalScenario(srv)
	sc.Metrics, sc.Duration = "", 300*time.Millisecond
	res, tb, _ = runSignals(t, sc)
	if res.Signals != nil {
		t.Errorf("real host scraped without being asked: %+v", res.Signals)
	}
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
	if res.Signals == nil || res.Signals.Source != "" {
		t.Fatalf("signals = %+v; want probes only", res.Signals)
	}
	got := res.Signals.Series("orders queue")
	if len(got) < 15 || len(got) > 21 {
		t.Errorf("%d probe samples; want one per window (20)", len(got))
	}
	if r := res.Signals.Rising(); len(r) != 1 || !strings.HasPrefix(r[0].String(), "orders queue rose from ") {
		t.Errorf("rising = %v; want the orders queue\nlog:\n%s", r, tb.logText())
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
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	if hits.Load() != 0 {
		t.Errorf("%d requests sent; want none", hits.Load())
	}
}
