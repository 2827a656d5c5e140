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
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseSelector(%q) = %v, %v; want error containing %q", tt.in, sel, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseSelector(%q) error: %v", tt.in, err)
		case sel.String() != tt.want:
			t.Errorf("ParseSelector(%q).String() = %q; want %q", tt.in, sel.String(), tt.want)
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
		if err != nil {
			t.Fatal(err)
		}
		found, missing, err := Read(strings.NewReader(exposition), []Selector{sel})
		if err != nil {
			t.Fatalf("Read(%s): %v", tt.sel, err)
		}
		if tt.missingNote != "" {
			if len(found) != 0 || len(missing) != 1 || !strings.Contains(missing[0], tt.missingNote) {
				t.Errorf("Read(%s) = %v, missing %q; want missing %q", tt.sel, found, missing, tt.missingNote)
			}
			continue
		}
		if len(found) != 1 || found[0].Value != tt.want || found[0].Counter != tt.counter {
			t.Errorf("Read(%s) = %+v, missing %q; want value %g counter %v", tt.sel, found, missing, tt.want, tt.counter)
		}
	}
}

func TestReadMalformed(t *testing.T) {
	in := "# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines{ 1\n"
	_, _, err := Read(strings.NewReader(in), []Selector{{Name: "go_goroutines"}})
	if err == nil || !strings.Contains(err.Error(), "malformed exposition") || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Read(malformed) error = %v; want a malformed exposition error naming line 3", err)
	}
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
		if err := c.Start(t.Context(), t0); err != nil {
			t.Fatal(err)
		}
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
				if tr.Rising && tr.Signal != "go_memstats_heap_inuse_bytes" {
					t.Errorf("%s flagged as rising: %s", tr.Signal, tr)
				}
			}
			if mem == nil || !mem.Rising {
				t.Fatalf("heap gauge growing 30%% over the run not flagged: %+v", rep.Trends)
			}
			if mem.Growth < 0.15 || mem.Growth > 0.45 {
				t.Errorf("growth = %+.0f%%; want about +30%%", 100*mem.Growth)
			}
			msg := mem.String()
			if !strings.HasPrefix(msg, "go_memstats_heap_inuse_bytes rose from ") || !strings.Contains(msg, "M to ") || !strings.Contains(msg, "%)") {
				t.Errorf("finding = %q; want \"go_memstats_heap_inuse_bytes rose from …M to …M (+…%%) …\"", msg)
			}
		})
	}
}

func TestCollectorFlatGaugeNotFlagged(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rep, _ := collect(t, gaugeServer(40e6, 0, 5*time.Minute, seed), 5*time.Minute, "requests_total")
			if len(rep.Trends) != 3 {
				t.Fatalf("trends = %+v; want heap, goroutines and the request rate", rep.Trends)
			}
			if r := rep.Rising(); len(r) > 0 {
				t.Errorf("flat server flagged: %v", r)
			}
		})
	}
}

func TestCollectorSamplesAndRates(t *testing.T) {
	rep, warnings := collect(t, gaugeServer(1000, 0, time.Minute, 1), time.Minute, "requests_total", "rpc_seconds_count")
	// Scrapes at 0, 5, …, 60 s and one at Stop (also at 60 s).
	if rep.Scrapes != 14 || rep.Failed != 0 {
		t.Errorf("scrapes = %d (failed %d); want 14 (0)", rep.Scrapes, rep.Failed)
	}
	if got := len(rep.Series("go_goroutines")); got != 14 {
		t.Errorf("go_goroutines samples = %d; want 14", got)
	}
	rates := rep.Series("rate(requests_total)")
	if len(rates) != 12 { // the first reading gives no rate, and the last pair is 0 s apart
		t.Errorf("rate samples = %d; want 12", len(rates))
	}
	for _, s := range rates {
		if math.Abs(s.Value-20) > 1e-9 {
			t.Errorf("rate(requests_total) at %s = %g; want 20", s.Offset, s.Value)
		}
	}
	want := "not recorded: process_resident_memory_bytes: not exposed; process_open_fds: not exposed; rpc_seconds_count: not exposed"
	if len(warnings) != 1 || !strings.Contains(warnings[0], want) {
		t.Errorf("warnings = %q; want one saying %q", warnings, want)
	}
	if got := rep.Names(); strings.Join(got, ",") != "go_goroutines,go_memstats_heap_inuse_bytes,rate(requests_total)" {
		t.Errorf("Names() = %q", got)
	}
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
			if len(warnings) != 1 || !strings.Contains(warnings[0], tt.want) || !strings.Contains(warnings[0], "the load goes on") {
				t.Errorf("warnings = %q; want one containing %q", warnings, tt.want)
			}
			if rep.Failed != rep.Scrapes || rep.Scrapes < 7 {
				t.Errorf("scrapes %d, failed %d; want every scrape tried and failed", rep.Scrapes, rep.Failed)
			}
			if len(rep.Samples) != 0 {
				t.Errorf("samples = %v; want none", rep.Samples)
			}
			last := rep.Warnings[len(rep.Warnings)-1]
			if !strings.Contains(last, "no server signals were recorded") {
				t.Errorf("report warnings = %q; want a closing note", rep.Warnings)
			}
		})
	}
}

func TestCollectorUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/metrics"
	srv.Close() // nothing listens there now
	var warnings []string
	c := &Collector{URL: url, Signals: DefaultSignals, Interval: 20 * time.Millisecond, Warn: func(m string) { warnings = append(warnings, m) }}
	if err := c.Start(t.Context(), time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	rep := c.Stop()
	if len(warnings) != 1 || !strings.Contains(warnings[0], "connection refused") {
		t.Errorf("warnings = %q; want one saying connection refused", warnings)
	}
	if rep.Scrapes < 2 || rep.Failed != rep.Scrapes {
		t.Errorf("scrapes %d, failed %d; want several, all failed", rep.Scrapes, rep.Failed)
	}
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
		if err := c.Start(t.Context(), t0); err != nil {
			t.Fatal(err)
		}
		for range 12 {
			time.Sleep(10 * time.Second)
			c.Tick()
			synctest.Wait()
		}
		rep := c.Stop()
		got := rep.Series("orders queue")
		if len(got) != 12 || got[11].Value != 120 || got[0].Offset != 10*time.Second {
			t.Errorf("orders queue samples = %v; want 12, one per window, 10 to 120", got)
		}
		rep.Trends = Analyze(rep.Samples, Options{})
		if len(rep.Trends) != 1 || !rep.Trends[0].Rising {
			t.Fatalf("trends = %+v; want the growing queue flagged", rep.Trends)
		}
		if s := rep.Trends[0].String(); s != "orders queue rose from 10 to 120 (+1100%) over the run (p < 0.0001, 12 samples)" {
			t.Errorf("finding = %q", s)
		}
		if len(warnings) != 2 || !strings.Contains(warnings[0], "admin API down") || !strings.Contains(warnings[1], "panic: boom") {
			t.Errorf("warnings = %q; want the error and the panic, once each", warnings)
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
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check() = %v; want it to say %q", err, want)
		}
	}
}
