package deploy

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/opscheck"
	"github.com/steadyload/steadyload/loadtest"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The live run: two tasks on a loopback target, the slow one failing one
// request in failEvery (HTTP 500), judged every liveSegment. At 40 starts
// a second a segment holds about 80 requests, enough to be recorded into
// the baseline (20) and too few for a verdict of the gate (200): its
// rows, ratios and verdicts are shown, and no noise of a busy machine can
// make one a regression that fails the test.
const (
	fastTask    = "GET /fast"
	slowTask    = "GET /slow"
	failEvery   = 10
	liveRate    = 40
	liveWindow  = 500 * time.Millisecond
	liveSegment = 2 * time.Second
	liveEnv     = "loopback"
)

// ownFlags are the -loadtest.* flags the live test sets itself (and
// restores); any other given on the command line would change its run.
var ownFlags = []string{"loadtest.out", "loadtest.update", "loadtest.listen"}

// TestLiveRunQueriesHaveData runs a real load through the public API,
// serving its live metrics with -loadtest.listen, and a real Prometheus
// scraping it with the rules loaded. While the run goes on, every
// dashboard query (its variables set to All and to the run's test and
// slow task) and every recording rule must return data, every alert
// expression must evaluate without error, and so must the run's own
// series: the per-task classic and native latency histograms, the
// failures by class, the segments by verdict and the gate's ratios and
// verdicts, for which a first run records a baseline. A healthy run makes
// no alert fire: TestQueriesHaveData checks their conditions on a
// synthetic target.
func TestLiveRunQueriesHaveData(t *testing.T) {
	tools := opscheck.FindTools(t)
	refuseGivenFlags(t)
	// Nothing of the run leaves the test: no spans exported, no job
	// summary of CI written.
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "GITHUB_STEP_SUMMARY"} {
		t.Setenv(k, "")
	}
	rules, panelQueries, ruleQueries := opsFiles(t)

	listen := closedAddr(t) // the run serves here; until then up == 0
	classic, native := startPrometheus(t, tools, []string{listen}, rules)
	sc := liveScenario(serveLiveTarget(t), t.TempDir())
	setFlag(t, "loadtest.out", t.TempDir())

	// The baseline: two segments recorded by a first run, which serves
	// nothing, so that every series Prometheus sees is the live run's.
	setFlag(t, "loadtest.update", "true")
	sc.Duration = 2 * liveSegment
	if res := loadtest.Run(t, sc); res == nil || t.Failed() {
		t.Fatalf("the run recording the baseline failed; nothing checked")
	}
	setFlag(t, "loadtest.update", "false")
	setFlag(t, "loadtest.listen", listen)
	sc.Duration = 6 * liveSegment

	test := t.Name()
	checks := panelChecks(t, panelQueries, test, slowTask, classic, native)
	checks = append(checks, liveSeries(test, classic, native)...)
	var alerts []check
	for _, q := range ruleQueries {
		c := check{opscheck.Query{Source: rulesFile + ": " + q.Source, Expr: q.Expr}, pick(q.Expr, classic, native)}
		record, ok := strings.CutPrefix(q.Source, "record ")
		if !ok {
			alerts = append(alerts, c)
			continue
		}
		// The expression, and the series the loaded rule recorded.
		checks = append(checks, c, check{
			opscheck.Query{Source: c.Source + " (recorded)", Expr: fmt.Sprintf("%s{test=%q}", record, test)}, c.srv})
	}

	var res *result.Run
	w := watchWhile(t, checks, alerts, func() { res = loadtest.Run(t, sc) })
	all := "not all queries had data"
	if w.all > 0 {
		all = "all queries had data after " + w.all.Round(100*time.Millisecond).String()
	}
	t.Logf("%d queries and %d alert expressions evaluated in %d rounds during the %s run against %s; %s",
		len(checks), len(alerts), w.rounds, w.took.Round(100*time.Millisecond), strings.Join(uniqueURLs(classic, native), " and "), all)
	if res == nil {
		t.Errorf("the live run returned no result")
	}
	for i, c := range slices.Concat(checks, alerts) {
		if w.errs[i] != "" {
			t.Errorf("%s: %s\n%s", c.Source, w.errs[i], c.Expr)
		}
	}
	for i, c := range checks {
		if !w.seen[i] && w.errs[i] == "" {
			t.Errorf("%s: no data from %s while the run went on:\n%s", c.Source, c.srv.URL, c.Expr)
		}
	}

	for _, srv := range uniqueServers(classic, native) {
		rs, err := srv.Rules(t.Context())
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

// liveScenario is the live run's load against host, its baseline in dir.
// The generator's schedule keeping is not the point here, and a busy
// machine (-race on two cores, two Prometheus beside) disturbs it: late
// starts are let pass. So are the slow task's failures.
func liveScenario(host, dir string) loadtest.Scenario {
	get := func(path string) func(context.Context, *loadtest.User) error {
		return func(ctx context.Context, u *loadtest.User) error {
			_, err := u.Get(ctx, path)
			return err
		}
	}
	return loadtest.Scenario{
		Host: host, Env: liveEnv,
		Rate: liveRate, Window: liveWindow, Segment: liveSegment, Grace: 2 * time.Second,
		MaxFailureRatio: 0.5, LateTolerance: 500 * time.Millisecond, MaxLateRatio: 0.5,
		Gate: loadtest.Gate{Dir: dir},
		Seed: 1,
		Tasks: []loadtest.Task{
			{Name: fastTask, Weight: 3, Do: get("/fast")},
			{Name: slowTask, Weight: 1, Do: get("/slow")},
		},
	}
}

// serveLiveTarget serves the live run's target on loopback: /fast at
// once, /slow after 20 ms, one request of failEvery failing.
func serveLiveTarget(t *testing.T) string {
	var slow atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fast", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		if slow.Add(1)%failEvery == 0 {
			http.Error(w, "failed on purpose", http.StatusInternalServerError)
			return
		}
		time.Sleep(20 * time.Millisecond)
		fmt.Fprintln(w, "ok")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// liveSeries are the run's own series that must reach Prometheus: both
// tasks' classic latency buckets and the slow one's native histogram,
// its failures by class, the start lag, the state, the segments judged,
// and the gate's verdict and ratio of the slow task's p95.
func liveSeries(test string, classic, native *opscheck.Server) []check {
	var checks []check
	add := func(what, expr string) {
		checks = append(checks, check{opscheck.Query{Source: "live run: " + what, Expr: expr}, pick(expr, classic, native)})
	}
	for _, task := range []string{fastTask, slowTask} {
		add(task+" classic histogram", fmt.Sprintf(`steadyload_request_duration_seconds_bucket{test=%q,task=%q,le="+Inf"} > 0`, test, task))
		add(task+" requests", fmt.Sprintf(`steadyload_requests_total{test=%q,task=%q} > 0`, test, task))
	}
	add(slowTask+" native histogram", fmt.Sprintf(`histogram_count(steadyload_request_duration_seconds{test=%q,task=%q}) > 0`, test, slowTask))
	add(slowTask+" failures", fmt.Sprintf(`steadyload_failures_total{test=%q,task=%q,class="http"} > 0`, test, slowTask))
	add("start lag classic histogram", fmt.Sprintf(`steadyload_start_lag_seconds_count{test=%q} > 0`, test))
	add("start lag native histogram", fmt.Sprintf(`histogram_count(steadyload_start_lag_seconds{test=%q}) > 0`, test))
	add("state", fmt.Sprintf(`steadyload_state{test=%q,state="running"} == 1`, test))
	add("info", fmt.Sprintf(`steadyload_info{test=%q,env=%q}`, test, liveEnv))
	add("segments judged", fmt.Sprintf(`steadyload_segments_total{test=%q,verdict="pass"} > 0`, test))
	add("gate verdict", fmt.Sprintf(`steadyload_gate_regressed{test=%q,task=%q,metric="p95"}`, test, slowTask))
	add("gate ratio", fmt.Sprintf(`steadyload_gate_ratio{test=%q,task=%q,metric="p95"} > 0`, test, slowTask))
	return checks
}

// watched is what the checks answered while a run went on, by index:
// checks, then alerts.
type watched struct {
	seen   []bool   // returned data at least once
	errs   []string // the first error, if any
	rounds int
	took   time.Duration // the run's
	all    time.Duration // until every check had returned data; 0: never
}

// watchWhile calls run and, meanwhile, evaluates the checks once a
// second until each has returned data, and the alerts' expressions every
// second, recording the first error of each.
func watchWhile(t *testing.T, checks, alerts []check, run func()) watched {
	all := slices.Concat(checks, alerts)
	w := watched{seen: make([]bool, len(all)), errs: make([]string, len(all))}
	ctx := t.Context()
	stop, done := make(chan struct{}), make(chan struct{})
	start := time.Now()
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			w.rounds++
			for i, c := range all {
				if w.errs[i] != "" || (w.seen[i] && i < len(checks)) {
					continue
				}
				n, err := c.srv.Query(ctx, c.Expr)
				switch {
				case err != nil:
					w.errs[i] = err.Error()
				case n > 0:
					w.seen[i] = true
				}
			}
			if w.all == 0 && !slices.Contains(w.seen[:len(checks)], false) {
				w.all = time.Since(start)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	func() {
		// Run may end the test goroutine (t.Fatal): the watch stops all
		// the same.
		defer func() { close(stop); <-done }()
		run()
	}()
	w.took = time.Since(start)
	return w
}

// setFlag sets a flag of the command line, where the loadtest package
// registers its -loadtest.* flags, and restores its value when the test
// ends.
func setFlag(t *testing.T, name, value string) {
	t.Helper()
	f := flag.CommandLine.Lookup(name)
	if f == nil {
		t.Fatalf("no flag -%s", name)
	}
	old := f.Value.String()
	if err := flag.CommandLine.Set(name, value); err != nil {
		t.Fatalf("-%s=%s: %v", name, value, err)
	}
	t.Cleanup(func() { _ = flag.CommandLine.Set(name, old) })
}

// refuseGivenFlags fails the test when -loadtest.* flags other than the
// ones it sets itself were given: they would override the live run's
// scenario (its host among them).
func refuseGivenFlags(t *testing.T) {
	t.Helper()
	var given []string
	flag.CommandLine.Visit(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "loadtest.") && !slices.Contains(ownFlags, f.Name) {
			given = append(given, "-"+f.Name)
		}
	})
	if len(given) > 0 {
		t.Fatalf("%s given: the live run is the test's own; run go test ./deploy without -loadtest.* flags", strings.Join(given, ", "))
	}
}
