package livemetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// RequireEnv names the environment variable that, set to 1, makes a
// missing Prometheus tool (promtool, the Pushgateway) fail the tests that
// need it instead of skipping them: CI sets it where it installed them.
const RequireEnv = "STEADYLOAD_REQUIRE_PROMETHEUS"

// Accept headers of the three expositions.
const (
	acceptText        = "text/plain;version=0.0.4"
	acceptOpenMetrics = "application/openmetrics-text;version=1.0.0"
	acceptProto       = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"
)

const (
	testName = "TestOrders/steady"
	getOrder = "GET /orders/{id}"
	post     = "POST /orders"
)

// testInfo is a run of three tasks against a target with credentials in
// its URL.
func testInfo() pipeline.Info {
	return pipeline.Info{
		Test: testName, Env: "staging", Location: "eu-west", Target: "http://ops:hunter2@127.0.0.1:8080", Window: time.Second,
		Tasks: []string{getOrder, post, "OnStart"},
		Logf:  func(string, ...any) {},
	}
}

// loopback is the address the tests serve on: a free loopback port.
const loopback = "127.0.0.1:0"

// newPart makes a part of testInfo's run, closed with the test.
func newPart(t *testing.T, cfg Config) *Part {
	t.Helper()
	p, err := New(testInfo(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

var (
	trace1 = [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	trace2 = [16]byte{0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd, 0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c}
	t0     = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
)

// feed gives p a run's worth of synthetic load: outcomes, windows, start
// lags and a judged segment.
func feed(p *Part) {
	p.Start(context.Background(), t0)
	outcomes := []pipeline.Outcome{
		{Task: 0, End: t0.Add(1 * time.Second), Latency: 5 * time.Millisecond},
		{Task: 0, End: t0.Add(2 * time.Second), Latency: 20 * time.Millisecond, TraceID: trace1},
		{Task: 0, End: t0.Add(3 * time.Second), Latency: 2 * time.Second, TraceID: trace2},
		{Task: 0, End: t0.Add(4 * time.Second), Latency: time.Second, Class: "http", Status: 503},
		{Task: 0, End: t0.Add(5 * time.Second), Latency: time.Second, Class: "http", Status: 500},
		{Task: 0, End: t0.Add(6 * time.Second), Latency: 10 * time.Second, Class: "timeout"},
		{Task: 0, End: t0.Add(7 * time.Second), Latency: 10 * time.Second, Class: "stopped"}, // the run's end: not counted
		{Task: 0, End: t0.Add(8 * time.Second), Latency: time.Second, Class: "quota"},        // a class of its own
		{Task: 1, End: t0.Add(1 * time.Second), Latency: 100 * time.Millisecond},
		{Task: 2, End: t0.Add(1 * time.Second), Latency: 50 * time.Millisecond, Class: "check"},
		{Task: 7, End: t0.Add(1 * time.Second), Latency: time.Millisecond}, // no such task: not counted
		{Task: -1, End: t0.Add(1 * time.Second), Latency: time.Millisecond},
	}
	for _, o := range outcomes {
		p.Outcome(o)
	}
	p.Window([]result.Window{{Users: 3, Type: "GET", Name: "/orders/{id}"}, {Users: 3, Name: result.AggregateName}})
	p.Window(nil) // keeps the last
	p.Window([]result.Window{{Users: 12, Type: "GET", Name: "/orders/{id}"}, {Users: 12, Name: result.AggregateName}})
	p.ObserveLag(3 * time.Millisecond)
	p.ObserveLag(40 * time.Millisecond)
	p.SetState(Probing)
	p.now = func() time.Time { return t0.Add(time.Hour + 500*time.Millisecond) }
	p.Write(testSegment())
}

// testSegment is a judged, aborted segment: a regression, a failure ratio
// from a clean baseline, findings of two kinds, server signals whose last
// samples are not all finite.
func testSegment() *pipeline.Segment {
	seg := &pipeline.Segment{
		Run: &result.Run{Meta: result.Meta{Test: testName, Status: result.Aborted}},
		Signals: &signals.Report{Samples: []signals.Sample{ // sorted by signal, then time
			{Signal: "db latency", Offset: time.Second, Value: 0.002},
			{Signal: "db latency", Offset: 2 * time.Second, Value: 0.031},
			{Signal: "db latency", Offset: 3 * time.Second, Value: math.NaN()}, // a failed query: the last finite stays
			{Signal: "go_goroutines", Offset: time.Second, Value: 40},
			{Signal: "go_goroutines", Offset: 2 * time.Second, Value: math.Inf(1)},
			{Signal: "never read", Offset: time.Second, Value: math.NaN()}, // nothing finite: no series
		}},
		Gate: &gate.Report{Rows: []gate.Row{
			{Task: getOrder, Comparison: gate.Comparison{Metric: gate.P95, Base: 1000, Cur: 1500, Verdict: gate.Regressed}},
			{Task: getOrder, Comparison: gate.Comparison{Metric: gate.Failures, Base: 0, Cur: 0.02, Verdict: gate.Regressed}},
			{Task: post, Comparison: gate.Comparison{Metric: gate.P95, Base: 2000, Cur: 1000, Verdict: gate.Improved}},
			{Task: post, Comparison: gate.Comparison{Metric: gate.Rate, Base: 100, Cur: 95, Verdict: gate.Same}},
			{Task: result.AggregateName, Comparison: gate.Comparison{Metric: gate.P50, Base: math.NaN(), Cur: 800, Verdict: gate.NoVerdict}},
		}},
	}
	seg.Find(
		result.Finding{Kind: "leak", Task: getOrder, Fail: true},
		result.Finding{Kind: "signal", Task: "process_resident_memory_bytes"},
		result.Finding{Kind: "signal", Task: "go_goroutines"},
	)
	return seg
}

// scrape gets /metrics from addr with accept and decodes the exposition
// it was answered in, which must be the one asked for.
func scrape(t *testing.T, addr, accept string) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Accept", accept)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET /metrics: %s", body)
	format := expfmt.ResponseFormat(resp.Header)
	want := map[string]expfmt.FormatType{acceptText: expfmt.TypeTextPlain, acceptOpenMetrics: expfmt.TypeOpenMetrics, acceptProto: expfmt.TypeProtoDelim}[accept]
	require.Equal(t, want, format.FormatType(), "Content-Type %q", resp.Header.Get("Content-Type"))
	return decode(t, bytes.NewReader(body), format), string(body)
}

// decode reads every metric family of an exposition, by name (counters
// of OpenMetrics under their sample's name, with _total).
func decode(t *testing.T, r io.Reader, format expfmt.Format) map[string]*dto.MetricFamily {
	t.Helper()
	dec := expfmt.NewDecoder(r, format)
	out := map[string]*dto.MetricFamily{}
	for {
		mf := &dto.MetricFamily{}
		err := dec.Decode(mf)
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		name := mf.GetName()
		if mf.GetType() == dto.MetricType_COUNTER && !strings.HasSuffix(name, "_total") {
			name += "_total"
		}
		out[name] = mf
	}
}

// series finds the metric of family name with exactly labels; nil when
// there is none.
func series(mfs map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	for _, m := range mfs[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; !ok || v != l.GetValue() {
				match = false
			}
		}
		if match {
			return m
		}
	}
	return nil
}

// value is a counter's or gauge's value, or a histogram's count.
func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return math.NaN()
}

// labels is the test's label set plus kv, name-value pairs.
func labels(kv ...string) map[string]string {
	out := map[string]string{"test": testName}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// wantSeries are the series feed leaves, with their values (a histogram's
// count), as every exposition must show them.
var wantSeries = []struct {
	name   string
	labels map[string]string
	want   float64
}{
	{"steadyload_requests_total", labels("task", getOrder), 7},
	{"steadyload_requests_total", labels("task", post), 1},
	{"steadyload_requests_total", labels("task", "OnStart"), 1},
	{"steadyload_failures_total", labels("task", getOrder, "class", "http"), 2},
	{"steadyload_failures_total", labels("task", getOrder, "class", "timeout"), 1},
	{"steadyload_failures_total", labels("task", getOrder, "class", "quota"), 1},
	{"steadyload_failures_total", labels("task", getOrder, "class", "refused"), 0},
	{"steadyload_failures_total", labels("task", post, "class", "http"), 0},
	{"steadyload_failures_total", labels("task", "OnStart", "class", "check"), 1},
	{"steadyload_request_duration_seconds", labels("task", getOrder), 3},
	{"steadyload_request_duration_seconds", labels("task", post), 1},
	{"steadyload_request_duration_seconds", labels("task", "OnStart"), 0},
	{"steadyload_in_flight", labels(), 12},
	{"steadyload_start_lag_seconds", labels(), 2},
	{"steadyload_state", labels("state", "running"), 0},
	{"steadyload_state", labels("state", "paused"), 0},
	{"steadyload_state", labels("state", "probing"), 1},
	{"steadyload_state", labels("state", "stopped"), 0},
	{"steadyload_gate_ratio", labels("task", getOrder, "metric", "p95"), 1.5},
	{"steadyload_gate_ratio", labels("task", post, "metric", "p95"), 0.5},
	{"steadyload_gate_ratio", labels("task", post, "metric", "rate"), 0.95},
	{"steadyload_gate_ratio", labels("task", result.AggregateName, "metric", "p50"), math.NaN()}, // no baseline: absent
	{"steadyload_gate_ratio", labels("task", getOrder, "metric", "failures"), math.NaN()},        // baseline 0: absent
	{"steadyload_gate_regressed", labels("task", getOrder, "metric", "p95"), 1},
	{"steadyload_gate_regressed", labels("task", getOrder, "metric", "failures"), 1},
	{"steadyload_gate_regressed", labels("task", post, "metric", "p95"), 0},
	{"steadyload_gate_regressed", labels("task", post, "metric", "rate"), 0},
	{"steadyload_gate_regressed", labels("task", result.AggregateName, "metric", "p50"), 0},
	{"steadyload_signal", labels("signal", "db latency"), 0.031},
	{"steadyload_signal", labels("signal", "go_goroutines"), 40},
	{"steadyload_signal", labels("signal", "never read"), math.NaN()}, // no finite sample: absent
	{"steadyload_findings_total", labels("kind", "leak"), 1},
	{"steadyload_findings_total", labels("kind", "signal"), 2},
	{"steadyload_findings_total", labels("kind", "regression"), 2},
	{"steadyload_findings_total", labels("kind", "abort"), 1},
	{"steadyload_findings_total", labels("kind", "drift"), 0},
	{"steadyload_findings_total", labels("kind", "step"), 0},
	{"steadyload_segments_total", labels("verdict", "fail"), 1},
	{"steadyload_segments_total", labels("verdict", "pass"), 0},
	{"steadyload_segment_end_timestamp_seconds", labels(), float64(t0.Unix()) + 3600.5},
	{"steadyload_info", labels("env", "staging", "location", "eu-west", "target", "http://ops:xxxxx@127.0.0.1:8080", "run_id", "r-42", "version", "v1.2.3"), 1},
}

// wantLabels are the label names of each family, sorted.
var wantLabels = map[string][]string{
	"steadyload_requests_total":                {"task", "test"},
	"steadyload_failures_total":                {"class", "task", "test"},
	"steadyload_request_duration_seconds":      {"task", "test"},
	"steadyload_in_flight":                     {"test"},
	"steadyload_start_lag_seconds":             {"test"},
	"steadyload_state":                         {"state", "test"},
	"steadyload_gate_ratio":                    {"metric", "task", "test"},
	"steadyload_gate_regressed":                {"metric", "task", "test"},
	"steadyload_signal":                        {"signal", "test"},
	"steadyload_findings_total":                {"kind", "test"},
	"steadyload_segments_total":                {"test", "verdict"},
	"steadyload_segment_end_timestamp_seconds": {"test"},
	"steadyload_info":                          {"env", "location", "run_id", "target", "test", "version"},
	"steadyload_outages_total":                 {"test"},
	"steadyload_outage_seconds_total":          {"test"},
}

// wantTypes are the type of each family.
var wantTypes = map[string]dto.MetricType{
	"steadyload_requests_total":                dto.MetricType_COUNTER,
	"steadyload_failures_total":                dto.MetricType_COUNTER,
	"steadyload_request_duration_seconds":      dto.MetricType_HISTOGRAM,
	"steadyload_in_flight":                     dto.MetricType_GAUGE,
	"steadyload_start_lag_seconds":             dto.MetricType_HISTOGRAM,
	"steadyload_state":                         dto.MetricType_GAUGE,
	"steadyload_gate_ratio":                    dto.MetricType_GAUGE,
	"steadyload_gate_regressed":                dto.MetricType_GAUGE,
	"steadyload_signal":                        dto.MetricType_GAUGE,
	"steadyload_findings_total":                dto.MetricType_COUNTER,
	"steadyload_segments_total":                dto.MetricType_COUNTER,
	"steadyload_segment_end_timestamp_seconds": dto.MetricType_GAUGE,
	"steadyload_info":                          dto.MetricType_GAUGE,
	"steadyload_outages_total":                 dto.MetricType_COUNTER,
	"steadyload_outage_seconds_total":          dto.MetricType_COUNTER,
}

// checkFigures checks every series feed leaves in mfs, every family's
// type and label names, and what must not be there. extra are labels
// every series carries besides the test's (the Pushgateway's job);
// segments is how many times testSegment was written.
func checkFigures(t *testing.T, mfs map[string]*dto.MetricFamily, extra map[string]string, segments float64) {
	t.Helper()
	for name, want := range wantTypes {
		mf := mfs[name]
		if !assert.NotNil(t, mf, "family %s missing", name) {
			continue
		}
		assert.Equal(t, want, mf.GetType(), "type of %s", name)
		for _, m := range mf.GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				if _, ok := extra[l.GetName()]; !ok {
					got = append(got, l.GetName())
				}
			}
			sort.Strings(got)
			assert.Equal(t, wantLabels[name], got, "label names of %s%v", name, m.GetLabel())
		}
	}
	for _, tt := range wantSeries {
		ls := map[string]string{}
		for k, v := range tt.labels {
			ls[k] = v
		}
		for k, v := range extra {
			ls[k] = v
		}
		m := series(mfs, tt.name, ls)
		if math.IsNaN(tt.want) {
			assert.Nil(t, m, "%s%v present; want absent", tt.name, tt.labels)
			continue
		}
		want := tt.want
		if tt.name == "steadyload_findings_total" || tt.name == "steadyload_segments_total" {
			want *= segments
		}
		if assert.NotNil(t, m, "%s%v missing", tt.name, tt.labels) {
			assert.InDelta(t, want, value(m), 1e-9, "%s%v", tt.name, tt.labels)
		}
	}
	// Counted nowhere: the run's own end, tasks not in the run.
	for _, m := range mfs["steadyload_failures_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			assert.False(t, l.GetName() == "class" && l.GetValue() == "stopped", "a series for class stopped: %v", m.GetLabel())
		}
	}
	// 3 tasks × 9 known classes + the one that occurred.
	assert.Len(t, mfs["steadyload_failures_total"].GetMetric(), 3*9+1)
	assert.Len(t, mfs["steadyload_requests_total"].GetMetric(), 3)
	assert.Len(t, mfs["steadyload_gate_ratio"].GetMetric(), 3)
	assert.Len(t, mfs["steadyload_gate_regressed"].GetMetric(), 5)
	assert.Len(t, mfs["steadyload_signal"].GetMetric(), 2)

	// The latency histogram's sum and buckets: 5 ms, 20 ms, 2 s.
	h := series(mfs, "steadyload_request_duration_seconds", merge(labels("task", getOrder), extra)).GetHistogram()
	require.NotNil(t, h)
	assert.InDelta(t, 2.025, h.GetSampleSum(), 1e-9)
	assert.Len(t, finite(h.GetBucket()), len(latencyBuckets), "classic buckets and +Inf")
	for _, b := range h.GetBucket() {
		want := 0
		for _, s := range []float64{0.005, 0.020, 2} {
			if s <= b.GetUpperBound() {
				want++
			}
		}
		assert.EqualValues(t, want, b.GetCumulativeCount(), "bucket le=%g", b.GetUpperBound())
	}
	lag := series(mfs, "steadyload_start_lag_seconds", merge(labels(), extra)).GetHistogram()
	require.NotNil(t, lag)
	assert.InDelta(t, 0.043, lag.GetSampleSum(), 1e-9)
	assert.Len(t, finite(lag.GetBucket()), len(lagBuckets))
}

// finite returns the buckets but +Inf, which the text parser adds and
// protobuf leaves implied.
func finite(bs []*dto.Bucket) []*dto.Bucket {
	var out []*dto.Bucket
	for _, b := range bs {
		if !math.IsInf(b.GetUpperBound(), 1) {
			out = append(out, b)
		}
	}
	return out
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// TestExpositions: after a run's worth of synthetic load, every metric is
// served with its labels and values in the text and protobuf expositions
// alike (and OpenMetrics: TestExemplars).
func TestExpositions(t *testing.T) {
	p := newPart(t, Config{Listen: loopback, Registry: prometheus.NewPedanticRegistry(), RunID: "r-42", Version: "v1.2.3"})
	feed(p)
	for _, accept := range []string{acceptText, acceptProto} {
		t.Run(strings.SplitN(accept, ";", 2)[0], func(t *testing.T) {
			mfs, _ := scrape(t, p.Addr(), accept)
			checkFigures(t, mfs, nil, 1)
		})
	}
}

// TestRuntimeCollectors: the part's own registry serves the generator's
// Go runtime and process figures beside the run's.
func TestRuntimeCollectors(t *testing.T) {
	p := newPart(t, Config{Listen: loopback, RunID: "r-42", Version: "v1.2.3"})
	feed(p)
	for _, accept := range []string{acceptText, acceptProto} {
		mfs, _ := scrape(t, p.Addr(), accept)
		checkFigures(t, mfs, nil, 1)
		assert.Contains(t, mfs, "go_goroutines")
		assert.Contains(t, mfs, "process_cpu_seconds_total")
	}
}

// TestExemplars: the traced successes' trace ids are exemplars of their
// buckets in the OpenMetrics exposition, which shows every figure as the
// others do, and in the protobuf one, where the native histogram keeps
// them too.
func TestExemplars(t *testing.T) {
	// A registry of the test's own keeps the exposition to the part's
	// figures: the OpenMetrics parser is slow.
	p := newPart(t, Config{Listen: loopback, Registry: prometheus.NewPedanticRegistry(), RunID: "r-42", Version: "v1.2.3"})
	feed(p)
	mfs, body := scrape(t, p.Addr(), acceptOpenMetrics)
	checkFigures(t, mfs, nil, 1)

	// As the text says it, for a reader who greps.
	for _, ex := range []struct {
		seconds float64
		trace   [16]byte
		value   string
	}{{0.02, trace1, "0.02"}, {2, trace2, "2.0"}} {
		le := strconv.FormatFloat(latencyBuckets[sort.SearchFloat64s(latencyBuckets, ex.seconds)], 'g', -1, 64)
		re := regexp.MustCompile(`(?m)^steadyload_request_duration_seconds_bucket\{task="GET /orders/\{id\}",test="TestOrders/steady",le="` +
			regexp.QuoteMeta(le) + `"\} \d+ # \{trace_id="` + fmt.Sprintf("%x", ex.trace) + `"\} ` + regexp.QuoteMeta(ex.value) + ` [0-9.e+]+$`)
		assert.Regexp(t, re, body)
	}

	// As the parser reads it: the exemplar sits on the first bucket its value fits.
	checkExemplars := func(t *testing.T, mfs map[string]*dto.MetricFamily) *dto.Histogram {
		h := series(mfs, "steadyload_request_duration_seconds", labels("task", getOrder)).GetHistogram()
		require.NotNil(t, h)
		got := map[string]float64{}
		for i, b := range h.GetBucket() {
			if ex := b.GetExemplar(); ex != nil {
				require.Len(t, ex.GetLabel(), 1)
				assert.Equal(t, "trace_id", ex.GetLabel()[0].GetName())
				got[ex.GetLabel()[0].GetValue()] = ex.GetValue()
				assert.LessOrEqual(t, ex.GetValue(), b.GetUpperBound())
				if i > 0 {
					assert.Greater(t, ex.GetValue(), h.GetBucket()[i-1].GetUpperBound())
				}
			}
		}
		assert.Equal(t, map[string]float64{fmt.Sprintf("%x", trace1): 0.02, fmt.Sprintf("%x", trace2): 2}, got)
		return h
	}
	checkExemplars(t, mfs)
	pb, _ := scrape(t, p.Addr(), acceptProto)
	h := checkExemplars(t, pb)
	var native []string
	for _, ex := range h.GetExemplars() {
		native = append(native, ex.GetLabel()[0].GetValue())
	}
	assert.ElementsMatch(t, []string{fmt.Sprintf("%x", trace1), fmt.Sprintf("%x", trace2)}, native, "native histogram's exemplars")
}

// TestExemplarEverySecond: a bucket takes an exemplar at most once a
// second of the outcomes' clock; other buckets are not held back.
func TestExemplarEverySecond(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newPart(t, Config{Registry: reg})
	trace := func(i byte) [16]byte { return [16]byte{15: i} }
	steps := []struct {
		at    time.Duration
		lat   time.Duration
		trace byte
	}{
		{0, 5 * time.Millisecond, 1},
		{500 * time.Millisecond, 5 * time.Millisecond, 2}, // same bucket, too soon
		{600 * time.Millisecond, 3 * time.Second, 3},      // another bucket
		{999 * time.Millisecond, 5 * time.Millisecond, 4}, // still too soon
		{1000 * time.Millisecond, 5 * time.Millisecond, 5},
		{1100 * time.Millisecond, 5 * time.Millisecond, 0}, // no trace: observed, no exemplar
	}
	for _, s := range steps {
		p.Outcome(pipeline.Outcome{Task: 0, End: t0.Add(s.at), Latency: s.lat, TraceID: trace(s.trace)})
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		byName[mf.GetName()] = mf
	}
	h := series(byName, "steadyload_request_duration_seconds", labels("task", getOrder)).GetHistogram()
	require.NotNil(t, h)
	assert.EqualValues(t, len(steps), h.GetSampleCount())
	var got []string
	for _, b := range h.GetBucket() {
		if ex := b.GetExemplar(); ex != nil {
			got = append(got, ex.GetLabel()[0].GetValue())
		}
	}
	assert.Equal(t, []string{fmt.Sprintf("%x", trace(5)), fmt.Sprintf("%x", trace(3))}, got)
	var native []string
	for _, ex := range h.GetExemplars() {
		native = append(native, ex.GetLabel()[0].GetValue())
	}
	assert.ElementsMatch(t, []string{fmt.Sprintf("%x", trace(1)), fmt.Sprintf("%x", trace(3)), fmt.Sprintf("%x", trace(5))}, native)
}

// TestNativeHistograms: both histograms are native as well as classic
// when scraped in protobuf, at schema 3 (buckets ≤ 10 % wide).
func TestNativeHistograms(t *testing.T) {
	p := newPart(t, Config{Listen: loopback})
	feed(p)
	mfs, _ := scrape(t, p.Addr(), acceptProto)
	for _, name := range []string{"steadyload_request_duration_seconds", "steadyload_start_lag_seconds"} {
		t.Run(name, func(t *testing.T) {
			var h *dto.Histogram
			if name == "steadyload_start_lag_seconds" {
				h = series(mfs, name, labels()).GetHistogram()
			} else {
				h = series(mfs, name, labels("task", getOrder)).GetHistogram()
			}
			require.NotNil(t, h)
			assert.EqualValues(t, 3, h.GetSchema(), "schema")
			assert.NotEmpty(t, h.GetPositiveSpan(), "positive spans")
			assert.NotEmpty(t, h.GetPositiveDelta(), "positive deltas")
			assert.NotEmpty(t, h.GetBucket(), "classic buckets beside")
			var n int64
			var count int64
			for _, d := range h.GetPositiveDelta() {
				count += d
				n += count
			}
			assert.EqualValues(t, h.GetSampleCount()-h.GetZeroCount(), n, "native buckets hold every observation")
		})
	}
}

// TestPromtool: the text exposition passes promtool's checks (Debian's
// prometheus package).
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		skipOrFail(t, fmt.Errorf("promtool not installed (%w): apt-get install prometheus", err))
	}
	p := newPart(t, Config{Listen: loopback, RunID: "r-42", Version: "v1.2.3"})
	feed(p)
	_, body := scrape(t, p.Addr(), acceptText)
	// Only the part's own families: the Go collector's are not ours to judge.
	var own strings.Builder
	for _, line := range strings.SplitAfter(body, "\n") {
		name := strings.TrimPrefix(strings.TrimPrefix(line, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, "steadyload_") {
			own.WriteString(line)
		}
	}
	require.Contains(t, own.String(), "steadyload_info{")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(own.String())
	out, err := cmd.CombinedOutput()
	assert.NoError(t, err, "promtool check metrics:\n%s", out)
	assert.Empty(t, strings.TrimSpace(string(out)), "promtool's findings")
}

// skipOrFail skips t for why, or fails it when RequireEnv is set.
func skipOrFail(t *testing.T, why error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%v; %s=1 requires it", why, RequireEnv)
	}
	t.Skipf("%v", why)
}

// TestSequentialParts: tests of one process may run one after another on
// one address — Close releases it — and each serves its own figures;
// while one holds the address, the next fails, naming it.
func TestSequentialParts(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	first, err := New(testInfo(), Config{Listen: "127.0.0.1:0", Registry: reg})
	require.NoError(t, err)
	addr := first.Addr()
	first.Outcome(pipeline.Outcome{Task: 1, Latency: time.Millisecond})
	mfs, _ := scrape(t, addr, acceptText)
	assert.Equal(t, 1.0, value(series(mfs, "steadyload_requests_total", labels("task", post))))

	_, err = New(pipeline.Info{Test: "TestBusy"}, Config{Listen: addr})
	require.Error(t, err, "a second listener on %s", addr)
	assert.Contains(t, err.Error(), addr)

	require.NoError(t, first.Close())
	require.NoError(t, first.Close(), "Close twice")
	families, err := reg.Gather()
	require.NoError(t, err)
	assert.Empty(t, families, "Close unregisters")

	for i := range 3 { // the same test name and registry, each on the address just released
		info := testInfo()
		info.Tasks = []string{fmt.Sprintf("GET /next/%d", i)}
		next, err := New(info, Config{Listen: addr, Registry: reg})
		require.NoError(t, err, "part %d on %s", i, addr)
		next.Outcome(pipeline.Outcome{Task: 0, Latency: time.Millisecond})
		next.Outcome(pipeline.Outcome{Task: 0, Latency: time.Millisecond})
		mfs, _ := scrape(t, next.Addr(), acceptText)
		assert.Equal(t, 2.0, value(series(mfs, "steadyload_requests_total", labels("task", info.Tasks[0]))))
		assert.Len(t, mfs["steadyload_requests_total"].GetMetric(), 1, "only this part's tasks")
		require.NoError(t, next.Close())
	}
}

// TestNewErrors: what New refuses, before any load, with the offending
// value named; nothing is left registered or listening.
func TestNewErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"address in use", Config{Listen: busy.Addr().String()}, "serve /metrics on " + busy.Addr().String()},
		{"no port", Config{Listen: "127.0.0.1"}, "serve /metrics on 127.0.0.1:"},
		{"bad port", Config{Listen: "127.0.0.1:http-ish"}, "127.0.0.1:http-ish"},
		{"push scheme", Config{PushURL: "ftp://127.0.0.1:9091"}, `Pushgateway URL "ftp://127.0.0.1:9091"`},
		{"push no host", Config{PushURL: "http://"}, `Pushgateway URL "http://"`},
		{"push password redacted", Config{PushURL: "ftp://ci:s3cret@127.0.0.1:9091"}, `"ftp://ci:xxxxx@127.0.0.1:9091"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			tt.cfg.Registry = reg
			p, err := New(testInfo(), tt.cfg)
			require.Error(t, err)
			assert.Nil(t, p)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), "s3cret")
			families, gerr := reg.Gather()
			require.NoError(t, gerr)
			assert.Empty(t, families, "left registered")
		})
	}

	t.Run("clash", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		first, err := New(testInfo(), Config{Registry: reg})
		require.NoError(t, err)
		defer first.Close()
		_, err = New(testInfo(), Config{Registry: reg, Listen: "127.0.0.1:0"})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "live metrics:")
		// The first part's figures are whole.
		families, err := reg.Gather()
		require.NoError(t, err)
		assert.Len(t, families, len(wantTypes)-3, "families of the first part (the gate's and the signals' empty until a segment)")
	})
}

// TestStates: steadyload_state has one state at 1 after each step.
func TestStates(t *testing.T) {
	tests := []struct {
		name  string
		steps func(p *Part)
		want  map[string]float64
	}{
		{"before start", func(p *Part) {}, map[string]float64{"running": 0, "paused": 0, "probing": 0, "stopped": 0}},
		{"started", func(p *Part) { p.Start(context.Background(), t0) }, map[string]float64{"running": 1, "paused": 0, "probing": 0, "stopped": 0}},
		{"paused", func(p *Part) { p.Start(context.Background(), t0); p.SetState(Paused) }, map[string]float64{"running": 0, "paused": 1, "probing": 0, "stopped": 0}},
		{"resumed", func(p *Part) { p.Start(context.Background(), t0); p.SetState(Paused); p.SetState(Running) },
			map[string]float64{"running": 1, "paused": 0, "probing": 0, "stopped": 0}},
		{"stopped", func(p *Part) {
			p.Start(context.Background(), t0)
			p.SetState(Probing)
			p.EndSegment(&pipeline.Segment{Last: true})
		},
			map[string]float64{"running": 0, "paused": 0, "probing": 0, "stopped": 1}},
		{"a state of its own", func(p *Part) { p.Start(context.Background(), t0); p.SetState("draining"); p.SetState(Paused) },
			map[string]float64{"running": 0, "paused": 1, "probing": 0, "stopped": 0, "draining": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			p := newPart(t, Config{Registry: reg})
			tt.steps(p)
			got := map[string]float64{}
			for _, m := range gather(t, reg)["steadyload_state"].GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "state" {
						got[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// gather gathers reg, by family name.
func gather(t *testing.T, reg prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// TestInFlight: the last closed window's users, none once stopped.
func TestInFlight(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newPart(t, Config{Registry: reg})
	get := func() float64 { return value(series(gather(t, reg), "steadyload_in_flight", labels())) }
	p.Start(context.Background(), t0)
	assert.Equal(t, 0.0, get())
	p.Window([]result.Window{{Users: 40}, {Users: 40, Name: result.AggregateName}})
	assert.Equal(t, 40.0, get())
	p.Window([]result.Window{})
	assert.Equal(t, 40.0, get(), "an empty window changes nothing")
	p.Window([]result.Window{{Users: 7, Name: result.AggregateName}})
	assert.Equal(t, 7.0, get())
	p.EndSegment(&pipeline.Segment{Last: true})
	assert.Equal(t, 0.0, get())
}

// TestGateRatio: the ratio shown for each metric and pair of values.
func TestGateRatio(t *testing.T) {
	tests := []struct {
		metric    gate.Metric
		base, cur float64
		verdict   gate.Verdict
		ratio     float64 // NaN: absent
		regressed float64
	}{
		{gate.P99, 10_000, 13_000, gate.Regressed, 1.3, 1},
		{gate.P50, 10_000, 9_000, gate.Same, 0.9, 0},
		{gate.Failures, 0.01, 0.03, gate.Regressed, 3, 1},
		{gate.Failures, 0, 0, gate.Same, math.NaN(), 0},
		{gate.Failures, 0, 0.5, gate.Regressed, math.NaN(), 1},
		{gate.Rate, 200, 100, gate.Regressed, 0.5, 1},
		{gate.P90, math.NaN(), math.NaN(), gate.NoVerdict, math.NaN(), 0},
		{gate.P90, 1000, math.Inf(1), gate.NoVerdict, math.NaN(), 0},
		{gate.P95, 1000, 0, gate.Improved, 0, 0},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %g→%g", tt.metric, tt.base, tt.cur), func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			p := newPart(t, Config{Registry: reg})
			p.Write(&pipeline.Segment{Gate: &gate.Report{Rows: []gate.Row{
				{Task: post, Comparison: gate.Comparison{Metric: tt.metric, Base: tt.base, Cur: tt.cur, Verdict: tt.verdict}},
			}}})
			mfs := gather(t, reg)
			ls := labels("task", post, "metric", string(tt.metric))
			ratio := series(mfs, "steadyload_gate_ratio", ls)
			if math.IsNaN(tt.ratio) {
				assert.Nil(t, ratio, "ratio of %g/%g", tt.cur, tt.base)
			} else if assert.NotNil(t, ratio) {
				assert.InDelta(t, tt.ratio, value(ratio), 1e-12)
			}
			assert.Equal(t, tt.regressed, value(series(mfs, "steadyload_gate_regressed", ls)))
		})
	}
}

// TestSegments: each segment replaces the last one's gate rows, adds to
// the counters and stamps its end; a segment without gate leaves none.
func TestSegments(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newPart(t, Config{Registry: reg})
	clock := t0
	p.now = func() time.Time { return clock }
	row := func(task string, m gate.Metric, v gate.Verdict) gate.Row {
		return gate.Row{Task: task, Comparison: gate.Comparison{Metric: m, Base: 100, Cur: 120, Verdict: v}}
	}
	segs := []*pipeline.Segment{
		{Index: 0, Run: &result.Run{}, Gate: &gate.Report{Rows: []gate.Row{row(getOrder, gate.P95, gate.Regressed), row(post, gate.P95, gate.Same)}}},
		{Index: 1, Run: &result.Run{}, Gate: &gate.Report{Rows: []gate.Row{row(post, gate.P95, gate.Regressed), row(post, gate.P95, gate.Same)}}},
		{Index: 2, Run: &result.Run{Meta: result.Meta{Status: result.Aborted}}},
	}
	segs[0].Failf("baseline gate: regressed")
	segs[1].Find(result.Finding{Kind: "drift"}, result.Finding{Kind: "step"}, result.Finding{Kind: "trend"})
	want := []struct {
		regressed map[string]float64 // by task, metric p95
		counts    map[string]float64 // family/label value → value
	}{
		{map[string]float64{getOrder: 1, post: 0},
			map[string]float64{"fail": 1, "pass": 0, "regression": 1, "drift": 0, "abort": 0}},
		{map[string]float64{post: 0}, // the last row given wins
			map[string]float64{"fail": 1, "pass": 1, "regression": 2, "drift": 1, "step": 1, "trend": 1, "abort": 0}},
		{map[string]float64{},
			map[string]float64{"fail": 1, "pass": 2, "regression": 2, "drift": 1, "abort": 1}},
	}
	for i, seg := range segs {
		clock = clock.Add(time.Hour)
		p.Write(seg)
		mfs := gather(t, reg)
		got := map[string]float64{}
		for _, m := range mfs["steadyload_gate_regressed"].GetMetric() {
			got[labelValue(m, "task")] = value(m)
		}
		assert.Equal(t, want[i].regressed, got, "segment %d: regressed", i)
		for k, v := range want[i].counts {
			family, label := "steadyload_findings_total", "kind"
			if k == "pass" || k == "fail" {
				family, label = "steadyload_segments_total", "verdict"
			}
			assert.Equal(t, v, value(series(mfs, family, labels(label, k))), "segment %d: %s{%s=%q}", i, family, label, k)
		}
		assert.Equal(t, float64(clock.Unix()), value(series(mfs, "steadyload_segment_end_timestamp_seconds", labels())), "segment %d", i)
	}
}

// TestSignals: each segment replaces the last one's signal values with
// its own last finite samples, so a signal it did not sample has no
// series; past the cap, the first signals by name are shown and a
// warning, once, says how many were left out.
func TestSignals(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newPart(t, Config{Registry: reg})
	report := func(samples ...signals.Sample) *signals.Report { return &signals.Report{Samples: samples} }
	at := func(signal string, sec int, v float64) signals.Sample {
		return signals.Sample{Signal: signal, Offset: time.Duration(sec) * time.Second, Value: v}
	}
	many := &signals.Report{}
	for i := range maxSignalSeries + 5 {
		many.Samples = append(many.Samples, at(fmt.Sprintf("s%03d", i), 1, float64(i)))
	}
	capped := map[string]float64{}
	for i := range maxSignalSeries {
		capped[fmt.Sprintf("s%03d", i)] = float64(i)
	}
	tests := []struct {
		name     string
		signals  *signals.Report
		want     map[string]float64 // by signal
		warnings int
	}{
		{"first", report(at("db latency", 1, 0.002), at("db latency", 2, 0.031), at("queue depth", 1, 7), at("queue depth", 2, 9)),
			map[string]float64{"db latency": 0.031, "queue depth": 9}, 0},
		{"one vanished", report(at("db latency", 1, 0.004), at("heap", 1, 1e9)),
			map[string]float64{"db latency": 0.004, "heap": 1e9}, 0},
		{"a failed last query", report(at("db latency", 1, 0.005), at("db latency", 2, math.NaN()), at("heap", 1, math.Inf(-1))),
			map[string]float64{"db latency": 0.005}, 0},
		{"none sampled", nil, map[string]float64{}, 0},
		{"past the cap", many, capped, 1},
		{"past the cap again", many, capped, 0},
	}
	for _, tt := range tests {
		seg := &pipeline.Segment{Run: &result.Run{}, Signals: tt.signals}
		p.Write(seg)
		got := map[string]float64{}
		for _, m := range gather(t, reg)["steadyload_signal"].GetMetric() {
			got[labelValue(m, "signal")] = value(m)
		}
		assert.Equal(t, tt.want, got, "%s: steadyload_signal", tt.name)
		var warnings []string
		for _, v := range seg.Verdicts {
			assert.False(t, v.Fail, "%s: failed verdict %q", tt.name, v.Text)
			warnings = append(warnings, v.Text)
		}
		if assert.Len(t, warnings, tt.warnings, "%s: warnings %q", tt.name, warnings) && tt.warnings > 0 {
			assert.Contains(t, warnings[0], "5 server signals past the first 100", tt.name)
		}
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// TestConcurrentOutcomes: outcomes from many goroutines, scraped while
// they come, add up.
func TestConcurrentOutcomes(t *testing.T) {
	p := newPart(t, Config{Listen: loopback, Registry: prometheus.NewPedanticRegistry()})
	const workers, each = 8, 20000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				o := pipeline.Outcome{Task: i % 2, End: t0.Add(time.Duration(i) * time.Millisecond), Latency: time.Duration(i%50+1) * time.Millisecond,
					TraceID: [16]byte{0: byte(w), 1: byte(i), 2: byte(i >> 8), 15: 1}}
				if i%20 < 2 { // one in ten of each task's

					o.Class = "reset"
				}
				p.Outcome(o)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	scrapes := 0
	for running := true; running; scrapes++ {
		scrape(t, p.Addr(), acceptProto)
		select {
		case <-done:
			running = false
		default:
		}
	}
	t.Logf("%d scrapes while the outcomes came", scrapes)
	mfs, _ := scrape(t, p.Addr(), acceptProto)
	for _, task := range []string{getOrder, post} {
		assert.Equal(t, float64(workers*each/2), value(series(mfs, "steadyload_requests_total", labels("task", task))))
		assert.Equal(t, float64(workers*each/20), value(series(mfs, "steadyload_failures_total", labels("task", task, "class", "reset"))))
		assert.Equal(t, float64(workers*each/2-workers*each/20), value(series(mfs, "steadyload_request_duration_seconds", labels("task", task))))
	}
}

// TestOutcomeAllocs: the hot path allocates nothing, traced or not, but
// for an exemplar taken.
func TestOutcomeAllocs(t *testing.T) {
	p := newPart(t, Config{})
	end := t0
	p.Outcome(pipeline.Outcome{Task: 0, End: end, Latency: 5 * time.Millisecond, TraceID: trace1}) // takes the bucket's exemplar
	tests := []struct {
		name string
		o    pipeline.Outcome
	}{
		{"success", pipeline.Outcome{Task: 0, End: end, Latency: 5 * time.Millisecond}},
		{"traced, bucket's exemplar fresh", pipeline.Outcome{Task: 0, End: end, Latency: 5 * time.Millisecond, TraceID: trace1}},
		{"failure", pipeline.Outcome{Task: 1, End: end, Latency: time.Second, Class: "http", Status: 500}},
		{"stopped", pipeline.Outcome{Task: 1, End: end, Class: "stopped"}},
		{"no such task", pipeline.Outcome{Task: 9, End: end}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(1000, func() { p.Outcome(tt.o) })
			assert.Zero(t, allocs, "Outcome(%+v) allocs/op", tt.o)
		})
	}
}

// BenchmarkOutcome is the hot path from many goroutines: successes,
// traced successes (an exemplar a second per bucket), failures.
func BenchmarkOutcome(b *testing.B) {
	cases := []struct {
		name  string
		class string
		trace [16]byte
	}{{"success", "", [16]byte{}}, {"traced", "", trace1}, {"failure", "timeout", [16]byte{}}}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			info := testInfo()
			p, err := New(info, Config{})
			require.NoError(b, err)
			defer p.Close()
			start := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					p.Outcome(pipeline.Outcome{Task: i % 2, End: start.Add(time.Duration(i) * time.Microsecond),
						Latency: time.Duration(i%1000+1) * 100 * time.Microsecond, Class: c.class, TraceID: c.trace})
				}
			})
		})
	}
}

// TestFamilyNames: the part registers exactly the families of the
// interface, no more.
func TestFamilyNames(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newPart(t, Config{Registry: reg})
	feed(p)
	var got []string
	for name := range gather(t, reg) {
		got = append(got, name)
	}
	want := make([]string, 0, len(wantTypes))
	for name := range wantTypes {
		want = append(want, name)
	}
	slices.Sort(got)
	slices.Sort(want)
	assert.Equal(t, want, got)
}

// TestOutageEvents: the state follows a pause, a probe and the recovery,
// and the recovery counts the outage and its length.
func TestOutageEvents(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	p := newPart(t, Config{Registry: reg})
	p.Start(context.Background(), t0)
	state := func() string {
		for _, m := range gather(t, reg)["steadyload_state"].GetMetric() {
			if m.GetGauge().GetValue() == 1 {
				for _, l := range m.GetLabel() {
					if l.GetName() == "state" {
						return l.GetValue()
					}
				}
			}
		}
		return ""
	}
	counter := func(name string) float64 {
		return gather(t, reg)[name].GetMetric()[0].GetCounter().GetValue()
	}
	p.Event(pipeline.Event{Kind: pipeline.Paused, At: t0})
	assert.Equal(t, Paused, state(), "after a pause")
	p.Event(pipeline.Event{Kind: pipeline.Probing, At: t0.Add(5 * time.Second)})
	assert.Equal(t, Probing, state(), "while probing")
	assert.Zero(t, counter("steadyload_outages_total"), "outages before the recovery")
	p.Event(pipeline.Event{Kind: pipeline.Resumed, At: t0.Add(90 * time.Second), Outage: 90 * time.Second})
	assert.Equal(t, Running, state(), "after the recovery")
	assert.Equal(t, 1.0, counter("steadyload_outages_total"), "outages")
	assert.Equal(t, 90.0, counter("steadyload_outage_seconds_total"), "seconds paused")
}
