package signals

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "go_goroutines", want: "go_goroutines"},
		{in: ` queue_depth{queue="orders"} `, want: `queue_depth{queue="orders"}`},
		{in: `q{b="2", a="1"}`, want: `q{a="1",b="2"}`},
		{in: `q{a="x,y=\"z\""}`, want: `q{a="x,y=\"z\""}`},
		{in: `q{}`, want: `q`},
		{in: "", err: "not a metric name"},
		{in: "go goroutines", err: "not a metric name"},
		{in: `q{a="1"`, err: "missing closing brace"},
		{in: `q{a=1}`, err: "double-quoted"},
		{in: `q{a="1" b="2"}`, err: "comma"},
		{in: `q{a="1",a="2"}`, err: "given twice"},
		{in: `q{1a="1"}`, err: `label="value"`},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.in)
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, "ParseSelector(%q) = %v", tt.in, sel)
			continue
		}
		if assert.NoError(t, err, "ParseSelector(%q)", tt.in) {
			assert.Equal(t, tt.want, sel.String(), "ParseSelector(%q).String()", tt.in)
		}
	}
}

const exposition = `# HELP go_goroutines Number of goroutines.
# TYPE go_goroutines gauge
go_goroutines 42
# TYPE process_open_fds gauge
process_open_fds 17
# TYPE queue_depth gauge
queue_depth{queue="orders"} 5
queue_depth{queue="mail"} 2
# TYPE http_requests_total counter
http_requests_total{code="200"} 100
http_requests_total{code="500"} 3
# TYPE rpc_seconds histogram
rpc_seconds_bucket{le="0.1"} 8
rpc_seconds_bucket{le="+Inf"} 10
rpc_seconds_sum 1.5
rpc_seconds_count 10
# TYPE gc_pause summary
gc_pause{quantile="0.5"} 0.001
gc_pause_sum 0.25
gc_pause_count 50
legacy_thing 7
`

func TestRead(t *testing.T) {
	tests := []struct {
		sel         string
		want        float64
		counter     bool
		missingNote string
	}{
		{sel: "go_goroutines", want: 42},
		{sel: "queue_depth", want: 7},
		{sel: `queue_depth{queue="orders"}`, want: 5},
		{sel: `queue_depth{queue="none"}`, missingNote: "no series with these labels"},
		{sel: "http_requests_total", want: 103, counter: true},
		{sel: `http_requests_total{code="500"}`, want: 3, counter: true},
		{sel: "rpc_seconds_count", want: 10, counter: true},
		{sel: "rpc_seconds_sum", want: 1.5, counter: true},
		{sel: "gc_pause_count", want: 50, counter: true},
		{sel: "rpc_seconds", missingNote: "a histogram: name rpc_seconds_count or rpc_seconds_sum"},
		{sel: "legacy_thing", want: 7},
		{sel: "process_resident_memory_bytes", missingNote: "not exposed"},
	}
	for _, tt := range tests {
		sel, err := ParseSelector(tt.sel)
		require.NoError(t, err, "ParseSelector(%q)", tt.sel)
		found, missing, err := Read(strings.NewReader(exposition), []Selector{sel})
		require.NoError(t, err, "Read(%s)", tt.sel)
		if tt.missingNote != "" {
			assert.Empty(t, found, "Read(%s) found", tt.sel)
			if assert.Len(t, missing, 1, "Read(%s) missing", tt.sel) {
				assert.Contains(t, missing[0], tt.missingNote, "Read(%s) missing", tt.sel)
			}
			continue
		}
		if assert.Len(t, found, 1, "Read(%s) found (missing %q)", tt.sel, missing) {
			assert.Equal(t, tt.want, found[0].Value, "Read(%s) value", tt.sel)
			assert.Equal(t, tt.counter, found[0].Counter, "Read(%s) counter", tt.sel)
		}
	}
}

func TestReadMalformed(t *testing.T) {
	in := "# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines{ 1\n"
	_, _, err := Read(strings.NewReader(in), []Selector{{Name: "go_goroutines"}})
	require.ErrorContains(t, err, "malformed exposition", "Read(malformed)")
	assert.ErrorContains(t, err, "line 3", "Read(malformed): the error names the line")
}

// inProcess serves h without a network, so a test can run in a synctest
// bubble.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	p.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// gaugeServer exposes, from its first scrape on, a memory gauge that grows from base by growth over
// span (plus a GC-like sawtooth and seeded noise), a flat goroutine count
// and a counter of 20 per second.
func gaugeServer(base, growth float64, span time.Duration, seed uint64) http.Handler {
	var mu sync.Mutex
	var t0 time.Time // of the first scrape
	rng := rand.New(rand.NewPCG(seed, 1))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if t0.IsZero() {
			t0 = time.Now()
		}
		el := time.Since(t0)
		frac := el.Seconds() / span.Seconds()
		saw := 0.10 * math.Mod(el.Seconds(), 20) / 20 // the heap between collections
		mem := base * (1 + growth*frac) * (1 + saw + 0.02*rng.NormFloat64())
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_memstats_heap_inuse_bytes gauge\ngo_memstats_heap_inuse_bytes %g\n", mem)
		fmt.Fprintf(w, "# TYPE go_goroutines gauge\ngo_goroutines %d\n", 40+rng.IntN(3))
		fmt.Fprintf(w, "# TYPE requests_total counter\nrequests_total %d\n", int(20*el.Seconds()))
	})
}

// collect runs a collector against h for span in a synctest bubble, with
// the first window (10 s) as warm-up.
func collect(t *testing.T, h http.Handler, span time.Duration, extra ...string) (*Report, []string) {
	t.Helper()
	var rep *Report
	var warnings []string
	synctest.Test(t, func(t *testing.T) {
		t0 := time.Now()
		c := &Collector{
			URL:     "http://target.test/metrics",
			Signals: append(append([]string(nil), DefaultSignals...), extra...),
			Client:  &http.Client{Transport: inProcess{h}},
			Warn:    func(m string) { warnings = append(warnings, m) },
		}
		require.NoError(t, c.Start(t.Context(), t0), "Start")
		time.Sleep(span)
		rep = c.Stop()
		rep.Trends = Analyze(rep.Samples, Options{Warmup: 10 * time.Second})
	})
	return rep, warnings
}

func TestCollectorFlagsGrowingGauge(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rep, _ := collect(t, gaugeServer(40e6, 0.30, 5*time.Minute, seed), 5*time.Minute, "requests_total")
			var mem *Trend
			for i, tr := range rep.Trends {
				if tr.Signal == "go_memstats_heap_inuse_bytes" {
					mem = &rep.Trends[i]
				}
				if tr.Signal != "go_memstats_heap_inuse_bytes" {
					assert.False(t, tr.Rising, "%s flagged as rising: %s", tr.Signal, tr)
				}
			}
			require.NotNil(t, mem, "no heap gauge trend in %+v", rep.Trends)
			require.True(t, mem.Rising, "heap gauge growing 30%% over the run not flagged: %+v", rep.Trends)
			assert.InDelta(t, 0.30, mem.Growth, 0.15, "growth; want about +30%")
			msg := mem.String()
			const want = "go_memstats_heap_inuse_bytes rose from …M to …M (+…%) …"
			assert.True(t, strings.HasPrefix(msg, "go_memstats_heap_inuse_bytes rose from "), "finding = %q; want %q", msg, want)
			assert.Contains(t, msg, "M to ", "finding; want %q", want)
			assert.Contains(t, msg, "%)", "finding; want %q", want)
		})
	}
}

func TestCollectorFlatGaugeNotFlagged(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rep, _ := collect(t, gaugeServer(40e6, 0, 5*time.Minute, seed), 5*time.Minute, "requests_total")
			require.Len(t, rep.Trends, 3, "trends: want heap, goroutines and the request rate")
			assert.Empty(t, rep.Rising(), "flat server flagged")
		})
	}
}

func TestCollectorSamplesAndRates(t *testing.T) {
	rep, warnings := collect(t, gaugeServer(1000, 0, time.Minute, 1), time.Minute, "requests_total", "rpc_seconds_count")
	// Scrapes at 0, 5, …, 60 s and one at Stop (also at 60 s).
	assert.Equal(t, 14, rep.Scrapes, "scrapes")
	assert.Zero(t, rep.Failed, "failed scrapes")
	assert.Len(t, rep.Series("go_goroutines"), 14, "go_goroutines samples")
	rates := rep.Series("rate(requests_total)")
	// The first reading gives no rate, and the last pair is 0 s apart.
	assert.Len(t, rates, 12, "rate samples")
	for _, s := range rates {
		assert.InDelta(t, 20, s.Value, 1e-9, "rate(requests_total) at %s", s.Offset)
	}
	want := "not recorded: process_resident_memory_bytes: not exposed; process_open_fds: not exposed; rpc_seconds_count: not exposed"
	if assert.Len(t, warnings, 1, "warnings") {
		assert.Contains(t, warnings[0], want, "warning")
	}
	assert.Equal(t, []string{"go_goroutines", "go_memstats_heap_inuse_bytes", "rate(requests_total)"}, rep.Names(), "Names()")
}

func TestCollectorBadEndpoint(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"missing", http.NotFound, "status 404 Not Found"},
		{"malformed", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "# TYPE go_goroutines gauge\ngo_goroutines forty-two\n")
		}, "malformed exposition: text format parsing error in line 2"},
		{"html", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html></html>")
		}, `content type "text/html"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, warnings := collect(t, tt.handler, 30*time.Second)
			if assert.Len(t, warnings, 1, "warnings") {
				assert.Contains(t, warnings[0], tt.want, "warning")
				assert.Contains(t, warnings[0], "the load goes on", "warning")
			}
			assert.GreaterOrEqual(t, rep.Scrapes, 7, "scrapes: want every scrape tried")
			assert.Equal(t, rep.Scrapes, rep.Failed, "failed scrapes: want every scrape failed")
			assert.Empty(t, rep.Samples, "samples")
			require.NotEmpty(t, rep.Warnings, "report warnings")
			assert.Contains(t, rep.Warnings[len(rep.Warnings)-1], "no server signals were recorded", "report warnings: want a closing note")
		})
	}
}

func TestCollectorUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/metrics"
	srv.Close() // nothing listens there now
	var warnings []string
	c := &Collector{URL: url, Signals: DefaultSignals, Interval: 20 * time.Millisecond, Warn: func(m string) { warnings = append(warnings, m) }}
	require.NoError(t, c.Start(t.Context(), time.Now()), "Start")
	time.Sleep(100 * time.Millisecond)
	rep := c.Stop()
	if assert.Len(t, warnings, 1, "warnings") {
		assert.Contains(t, warnings[0], "connection refused", "warning")
	}
	assert.GreaterOrEqual(t, rep.Scrapes, 2, "scrapes: want several")
	assert.Equal(t, rep.Scrapes, rep.Failed, "failed scrapes: want all")
}

func TestProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		depth := 0.0
		var warnings []string
		c := &Collector{
			Probes: []Probe{
				{Name: "orders queue", Sample: func(ctx context.Context) (float64, error) { depth += 10; return depth, nil }},
				{Name: "broken", Sample: func(ctx context.Context) (float64, error) { return 0, errors.New("admin API down") }},
				{Name: "panics", Sample: func(ctx context.Context) (float64, error) { panic("boom") }},
			},
			Warn: func(m string) { warnings = append(warnings, m) },
		}
		t0 := time.Now()
		require.NoError(t, c.Start(t.Context(), t0), "Start")
		for range 12 {
			time.Sleep(10 * time.Second)
			c.Tick()
			synctest.Wait()
		}
		rep := c.Stop()
		got := rep.Series("orders queue")
		if assert.Len(t, got, 12, "orders queue samples: one per window") {
			assert.Equal(t, 10*time.Second, got[0].Offset, "orders queue: first sample's offset")
			assert.Equal(t, 120.0, got[11].Value, "orders queue: last sample")
		}
		rep.Trends = Analyze(rep.Samples, Options{})
		require.Len(t, rep.Trends, 1, "trends: want the growing queue")
		require.True(t, rep.Trends[0].Rising, "trends = %+v; want the growing queue flagged", rep.Trends)
		assert.Equal(t, "orders queue rose from 10 to 120 (+1100%) over the run (p < 0.0001, 12 samples)", rep.Trends[0].String(), "finding")
		if assert.Len(t, warnings, 2, "warnings: the error and the panic, once each") {
			assert.Contains(t, warnings[0], "admin API down", "warnings[0]")
			assert.Contains(t, warnings[1], "panic: boom", "warnings[1]")
		}
	})
}

func TestCheck(t *testing.T) {
	c := &Collector{
		URL:     "localhost:9090/metrics",
		Signals: []string{"ok_metric", "bad metric"},
		Probes:  []Probe{{Name: ""}, {Name: "p"}, {Name: "ok_metric", Sample: func(context.Context) (float64, error) { return 0, nil }}},
	}
	err := c.Check()
	for _, want := range []string{`metrics URL "localhost:9090/metrics"`, `signal "bad metric"`, "probe 0: no name", `probe "p": no Sample function`, `probe "ok_metric": the name is used twice`} {
		assert.ErrorContains(t, err, want, "Check()")
	}
}
