// Package deploy holds the operations files of continuous load runs:
// Prometheus rules (prometheus/) and a Grafana dashboard (grafana/); see
// docs/operations.md. Its tests check them with promtool and against a
// real Prometheus scraping a synthetic target with every live metric
// (deploy_test.go) and a real load run's live metrics (live_test.go).
package deploy

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/steadyload/steadyload/internal/opscheck"
)

const (
	rulesFile     = "prometheus/steadyload-rules.yml"
	ruleTestsFile = "prometheus/steadyload-rules_test.yml"
	dashboardFile = "grafana/steadyload-dashboard.json"
)

// TestRules runs promtool's checks of the rules and their unit tests.
func TestRules(t *testing.T) {
	tools := opscheck.FindTools(t)
	for _, args := range [][]string{
		{"check", "rules", filepath.Base(rulesFile)},
		{"test", "rules", filepath.Base(ruleTestsFile)},
	} {
		if out, err := tools.RunPromtool(filepath.Dir(rulesFile), args...); err != nil {
			t.Errorf("%v:\n%s", err, out)
		}
	}
}

// TestRuleTestsCatchMutations checks that the rules' unit tests have
// teeth: each alert's threshold, duration, selector or annotation
// changed, they fail.
func TestRuleTestsCatchMutations(t *testing.T) {
	tools := opscheck.FindTools(t)
	rules, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(ruleTestsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct{ old, new string }{
		{"max by (test, task, metric) (steadyload_gate_regressed) == 1", "max by (test, task, metric) (steadyload_gate_regressed) >= 0"},
		{"`max(steadyload_gate_ratio{test=%q,", "`max(steadyload_gate_regressed{test=%q,"},
		{"increase(steadyload_findings_total[15m])", "increase(steadyload_findings_total[30m])"},
		{"test_task:steadyload_failure_ratio:rate5m > 0.05", "test_task:steadyload_failure_ratio:rate5m > 0.2"},
		{"rate(steadyload_requests_total[5m])) * 0", "rate(steadyload_requests_total[5m])) * 1"},
		{"steadyload_segment_end_timestamp_seconds) > 7200", "steadyload_segment_end_timestamp_seconds) > 9000"},
		{"and on (test)", "or on (test)"},
		{`steadyload_state{state!="running"}`, `steadyload_state`},
		{"for: 15m", "for: 25m"},
		{`up{job="steadyload"} == 0 or absent(up{job="steadyload"})`, `up{job="steadyload"} == 0`},
		{`up{job="steadyload"} == 0 or absent(up{job="steadyload"})`, `absent(up{job="steadyload"})`},
	} {
		t.Run(m.new, func(t *testing.T) {
			if strings.Count(string(rules), m.old) != 1 {
				t.Fatalf("%s: %q occurs %d times; want once", rulesFile, m.old, strings.Count(string(rules), m.old))
			}
			dir := t.TempDir()
			mutated := strings.Replace(string(rules), m.old, m.new, 1)
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(rulesFile)), []byte(mutated), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(ruleTestsFile)), tests, 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := tools.RunPromtool(dir, "check", "rules", filepath.Base(rulesFile)); err != nil {
				t.Fatalf("the mutation does not even load: %v", err)
			}
			if out, err := tools.RunPromtool(dir, "test", "rules", filepath.Base(ruleTestsFile)); err == nil {
				t.Errorf("promtool test rules passed with %q replaced by %q; want a failure\n%s", m.old, m.new, out)
			}
		})
	}
}

// TestDashboard checks the dashboard's shape: a recent schema, the data
// source as an import input and a variable, the test and task variables,
// unique panel ids, and every panel and target on ${DS_PROMETHEUS}.
func TestDashboard(t *testing.T) {
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		SchemaVersion int `json:"schemaVersion"`
		Inputs        []struct {
			Name, Type, PluginID string
		} `json:"__inputs"`
		Templating struct {
			List []struct {
				Name, Type string
				AllValue   string `json:"allValue"`
			}
		}
		Panels []struct {
			ID         int
			Title      string
			Datasource struct{ UID string }
			Targets    []struct{ Datasource struct{ UID string } }
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion = %d; want 39 (Grafana 11) or later", d.SchemaVersion)
	}
	if len(d.Inputs) != 1 || d.Inputs[0].Name != "DS_PROMETHEUS" || d.Inputs[0].PluginID != "prometheus" {
		t.Errorf("__inputs = %+v; want the one Prometheus data source DS_PROMETHEUS", d.Inputs)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type + " " + v.AllValue
	}
	for name, want := range map[string]string{"DS_PROMETHEUS": "datasource ", "test": "query .*", "task": "query .*"} {
		if vars[name] != want {
			t.Errorf("variable %s = %q; want %q (type, all value)", name, vars[name], want)
		}
	}
	ids := map[int]string{}
	for _, p := range d.Panels {
		if prev, dup := ids[p.ID]; dup {
			t.Errorf("panel %q: id %d already used by %q", p.Title, p.ID, prev)
		}
		ids[p.ID] = p.Title
		if p.Datasource.UID != "${DS_PROMETHEUS}" {
			t.Errorf("panel %q: datasource uid %q; want ${DS_PROMETHEUS}", p.Title, p.Datasource.UID)
		}
		for i, tg := range p.Targets {
			if tg.Datasource.UID != "${DS_PROMETHEUS}" {
				t.Errorf("panel %q target %d: datasource uid %q; want ${DS_PROMETHEUS}", p.Title, i, tg.Datasource.UID)
			}
		}
	}
}

// TestQueriesHaveData runs a real Prometheus scraping a target that
// serves every live metric of a run, with the rules loaded, and checks
// that every dashboard query (its variables set to All and to one test
// and task) and every rule expression returns data, and that every rule
// evaluates without error. The target is synthetic, shaped so that every
// alert's condition holds for one of its tests.
func TestQueriesHaveData(t *testing.T) {
	tools := opscheck.FindTools(t)
	rules, panelQueries, ruleQueries := opsFiles(t)

	target := serveFixture(t)
	targets := []string{target, closedAddr(t)} // the closed one: up == 0, SteadyloadDown
	classic, native := startPrometheus(t, tools, targets, rules)

	checks := panelChecks(t, panelQueries, "TestCheckout", "POST /checkout", classic, native)
	for _, q := range ruleQueries {
		checks = append(checks, check{opscheck.Query{Source: rulesFile + ": " + q.Source, Expr: q.Expr}, pick(q.Expr, classic, native)})
	}

	// Scrapes and rule evaluations come every second; the first rates
	// need two scrapes, the alerts on recorded series one evaluation more.
	ctx := t.Context()
	deadline := time.Now().Add(60 * time.Second)
	pending := checks
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []check
		for _, c := range pending {
			n, err := c.srv.Query(ctx, c.Expr)
			switch {
			case err != nil:
				t.Errorf("%s: %v\n%s", c.Source, err, c.Expr)
			case n == 0:
				still = append(still, c)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(time.Second)
		}
	}
	for _, c := range pending {
		t.Errorf("%s: no data within 60s from %s:\n%s", c.Source, c.srv.URL, c.Expr)
	}
	t.Logf("%d queries checked against %s", len(checks), strings.Join(uniqueURLs(classic, native), " and "))

	for _, srv := range uniqueServers(classic, native) {
		rs, err := srv.Rules(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != len(ruleQueries) {
			t.Errorf("%s: %d rules loaded; want %d", srv.URL, len(rs), len(ruleQueries))
		}
		for _, r := range rs {
			if r.Health != "ok" {
				t.Errorf("%s: rule %s: health %q %s", srv.URL, r.Name, r.Health, r.LastError)
			}
		}
	}
}

// A check is a query and the Prometheus that answers it.
type check struct {
	opscheck.Query
	srv *opscheck.Server
}

// panelChecks are the dashboard's queries with their variables set to
// All and to the one test and task given, $__rate_interval to 1m, each
// for the Prometheus that keeps what it reads.
func panelChecks(t *testing.T, queries []opscheck.Query, test, task string, classic, native *opscheck.Server) []check {
	t.Helper()
	var checks []check
	for _, vars := range []map[string]string{
		{"test": ".*", "task": ".*", "__rate_interval": "1m"},
		{"test": opscheck.RegexValue(test), "task": opscheck.RegexValue(task), "__rate_interval": "1m"},
	} {
		for _, q := range queries {
			expr, err := opscheck.Expand(q.Expr, vars)
			if err != nil {
				t.Errorf("%s: %s: %v", dashboardFile, q.Source, err)
				continue
			}
			src := fmt.Sprintf("%s: %s (test=%s, task=%s)", dashboardFile, q.Source, vars["test"], vars["task"])
			checks = append(checks, check{opscheck.Query{Source: src, Expr: expr}, pick(expr, classic, native)})
		}
	}
	return checks
}

// startPrometheus starts one Prometheus scraping classic and native
// histograms where it can keep both, and otherwise two: one without
// native histograms for the classic buckets, one with them.
func startPrometheus(t *testing.T, tools opscheck.Tools, targets []string, rules string) (classic, native *opscheck.Server) {
	cfg := opscheck.Config{Targets: targets, RuleFiles: []string{rules}}
	if tools.KeepsClassicHistograms() {
		cfg.NativeHistograms, cfg.KeepClassic = true, true
		srv := opscheck.Start(t, tools, cfg)
		return srv, srv
	}
	t.Logf("this Prometheus cannot keep classic buckets beside native ones: one Prometheus for each")
	classic = opscheck.Start(t, tools, cfg)
	cfg.NativeHistograms = true
	native = opscheck.Start(t, tools, cfg)
	return classic, native
}

// nativeHistogram matches a histogram's own name, without the _bucket,
// _sum or _count of its classic series: a query of its native form.
var nativeHistogram = regexp.MustCompile(`steadyload_(request_duration|start_lag)_seconds\b`)

func pick(expr string, classic, native *opscheck.Server) *opscheck.Server {
	if nativeHistogram.MatchString(expr) {
		return native
	}
	return classic
}

func uniqueServers(a, b *opscheck.Server) []*opscheck.Server {
	if a == b {
		return []*opscheck.Server{a}
	}
	return []*opscheck.Server{a, b}
}

func uniqueURLs(a, b *opscheck.Server) []string {
	var urls []string
	for _, s := range uniqueServers(a, b) {
		urls = append(urls, s.URL)
	}
	return urls
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// A fixtureRun is one test of the synthetic target.
type fixtureRun struct {
	test, state string
	tasks       []string
	failure     string  // the class of the task's failures
	failEvery   int     // one request in failEvery fails
	slow        float64 // latency factor
	regressed   bool    // its p95 gate regressed
	findings    []string
	verdict     string        // of the segment judged at each scrape
	segmentAge  time.Duration // since the last segment's end
}

// fixtureRuns are shaped so that each alert's condition holds for one of
// them: TestCheckout regressed, finds, fails 10 % and is stale;
// TestSearch is paused.
var fixtureRuns = []fixtureRun{
	{test: "TestOrders", state: "running", tasks: []string{"GET /orders", "POST /orders"},
		failure: "timeout", failEvery: 100, slow: 1, verdict: "pass", segmentAge: 5 * time.Minute},
	{test: "TestCheckout", state: "running", tasks: []string{"POST /checkout"},
		failure: "http", failEvery: 10, slow: 1.6, regressed: true, findings: []string{"regression", "leak"},
		verdict: "fail", segmentAge: 3 * time.Hour},
	{test: "TestSearch", state: "paused", tasks: []string{"GET /search"}, failure: "refused", failEvery: 5, slow: 1,
		verdict: "pass", segmentAge: 10 * time.Minute},
}

var (
	findingKinds = []string{"regression", "leak", "drift", "step", "signal", "abort"}
	states       = []string{"running", "paused", "probing", "stopped"}
	gateMetrics  = []string{"p95", "failures", "rate"}
)

// fixture is a registry with every live metric of a run, advanced at
// each scrape as a run would between two.
type fixture struct {
	mu  sync.Mutex
	reg *prometheus.Registry

	requests, failures, findings, segments *prometheus.CounterVec
	duration, startLag                     *prometheus.HistogramVec
	inFlight, state, gateRatio             *prometheus.GaugeVec
	gateRegressed, segmentEnd, info        *prometheus.GaugeVec
}

func newFixture() *fixture {
	native := 1.1 // the native histograms' bucket growth factor
	f := &fixture{
		reg:      prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steadyload_requests_total", Help: "Requests started."}, []string{"test", "task"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steadyload_failures_total", Help: "Requests failed, by class."}, []string{"test", "task", "class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "steadyload_request_duration_seconds", Help: "Request latency.",
			Buckets: prometheus.DefBuckets, NativeHistogramBucketFactor: native}, []string{"test", "task"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "steadyload_in_flight", Help: "Requests in flight."}, []string{"test"}),
		startLag: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "steadyload_start_lag_seconds", Help: "Start lag behind the schedule.",
			Buckets: prometheus.DefBuckets, NativeHistogramBucketFactor: native}, []string{"test"}),
		state:         prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "steadyload_state", Help: "1 for the current state."}, []string{"test", "state"}),
		gateRatio:     prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "steadyload_gate_ratio", Help: "Current over baseline."}, []string{"test", "task", "metric"}),
		gateRegressed: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "steadyload_gate_regressed", Help: "1 when the gate regressed."}, []string{"test", "task", "metric"}),
		findings:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steadyload_findings_total", Help: "Findings, by kind."}, []string{"test", "kind"}),
		segments:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "steadyload_segments_total", Help: "Segments judged, by verdict."}, []string{"test", "verdict"}),
		segmentEnd:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "steadyload_segment_end_timestamp_seconds", Help: "End of the last judged segment."}, []string{"test"}),
		info:          prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "steadyload_info", Help: "The run."}, []string{"test", "env", "target", "run_id", "version"}),
	}
	f.reg.MustRegister(f.requests, f.failures, f.duration, f.inFlight, f.startLag, f.state, f.gateRatio,
		f.gateRegressed, f.findings, f.segments, f.segmentEnd, f.info)
	for i, r := range fixtureRuns {
		f.info.WithLabelValues(r.test, "production", "https://shop.example.com", fmt.Sprintf("run-%d", i+1), "v1.2.3").Set(1)
		for _, s := range states {
			v := 0.0
			if s == r.state {
				v = 1
			}
			f.state.WithLabelValues(r.test, s).Set(v)
		}
		for _, k := range findingKinds {
			f.findings.WithLabelValues(r.test, k)
		}
		for _, v := range []string{"pass", "fail"} {
			f.segments.WithLabelValues(r.test, v)
		}
		for _, task := range r.tasks {
			for _, m := range gateMetrics {
				ratio, regressed := 1.02, 0.0
				if r.regressed && m == "p95" {
					ratio, regressed = r.slow, 1
				}
				f.gateRatio.WithLabelValues(r.test, task, m).Set(ratio)
				f.gateRegressed.WithLabelValues(r.test, task, m).Set(regressed)
			}
		}
	}
	return f
}

// advance is what a run does between two scrapes: the running tests
// make 20 requests per task, some failing, and judge a segment.
func (f *fixture) advance(now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range fixtureRuns {
		f.segmentEnd.WithLabelValues(r.test).Set(float64(now.Add(-r.segmentAge).Unix()))
		if r.state != "running" {
			f.inFlight.WithLabelValues(r.test).Set(0)
			continue
		}
		f.inFlight.WithLabelValues(r.test).Set(2)
		for _, task := range r.tasks {
			for i := range 20 {
				f.requests.WithLabelValues(r.test, task).Inc()
				if i%r.failEvery == 0 {
					f.failures.WithLabelValues(r.test, task, r.failure).Inc()
					continue
				}
				f.duration.WithLabelValues(r.test, task).Observe(r.slow * float64(10+5*i) / 1000)
				f.startLag.WithLabelValues(r.test).Observe(float64(i) / 10000)
			}
		}
		for _, k := range r.findings {
			f.findings.WithLabelValues(r.test, k).Inc()
		}
		f.segments.WithLabelValues(r.test, r.verdict).Inc()
	}
}

// serveFixture serves the fixture's metrics at /metrics on loopback,
// advancing it before each scrape, and returns its host:port.
func serveFixture(t *testing.T) string {
	f := newFixture()
	f.advance(time.Now())
	metrics := promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{})
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		f.advance(time.Now())
		metrics.ServeHTTP(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestFixtureHasEveryMetric checks the synthetic target against the
// names and labels the runs export, so that the data the queries are
// checked on is the runs' shape.
func TestFixtureHasEveryMetric(t *testing.T) {
	f := newFixture()
	f.advance(time.Now())
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, mf := range mfs {
		var labels []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		slices.Sort(labels)
		got[mf.GetName()] = mf.GetType().String() + " " + strings.Join(labels, ",")
	}
	want := map[string]string{
		"steadyload_requests_total":                "COUNTER task,test",
		"steadyload_failures_total":                "COUNTER class,task,test",
		"steadyload_request_duration_seconds":      "HISTOGRAM task,test",
		"steadyload_in_flight":                     "GAUGE test",
		"steadyload_start_lag_seconds":             "HISTOGRAM test",
		"steadyload_state":                         "GAUGE state,test",
		"steadyload_gate_ratio":                    "GAUGE metric,task,test",
		"steadyload_gate_regressed":                "GAUGE metric,task,test",
		"steadyload_findings_total":                "COUNTER kind,test",
		"steadyload_segments_total":                "COUNTER test,verdict",
		"steadyload_segment_end_timestamp_seconds": "GAUGE test",
		"steadyload_info":                          "GAUGE env,run_id,target,test,version",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("fixture %s = %q; want %q", name, got[name], w)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("fixture has %s, which the runs do not export", name)
		}
	}
}

// opsFiles returns the rules file's absolute path, and the queries of the
// dashboard's panels and of the rules.
func opsFiles(t *testing.T) (rules string, panels, ruleQueries []opscheck.Query) {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	rulesYAML, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if panels, err = opscheck.DashboardQueries(dashboard); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if ruleQueries, err = opscheck.RuleQueries(rulesYAML); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	return rules, panels, ruleQueries
}
