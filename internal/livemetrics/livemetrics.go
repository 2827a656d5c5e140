package livemetrics

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/steadyload/steadyload/internal/class"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the live metrics of one run do, resolved from the flags
// before the part is made. The zero value serves nothing and pushes
// nothing: the figures are only kept in the part's registry.
type Config struct {
	// Listen is the address /metrics is served on, ":9464" style; empty:
	// no server. Port 0 picks a free port (see Part.Addr).
	Listen string
	// Registry is where the part registers its collectors and what
	// /metrics serves; nil: a registry of the part's own, which also
	// holds the Go runtime and process collectors. Close unregisters the
	// part's collectors, so parts of tests that run one after another may
	// share one.
	Registry *prometheus.Registry
	// PushURL is the Pushgateway the figures are pushed to, "host:port"
	// or a URL; empty: no push. They are pushed once, at the end of the
	// run's last segment, grouped by job="steadyload" and test; user
	// information in the URL becomes basic authentication.
	PushURL string
	// PushEverySegment pushes at the end of every segment, not only the
	// last.
	PushEverySegment bool
	// RunID and Version label steadyload_info: the run's X-Loadtest-Run
	// value and the harness's version.
	RunID   string
	Version string
}

// The states of a run that steadyload_state shows; SetState accepts
// others, each shown as a state of its own from then on.
const (
	Running = "running" // the load runs; set by Start
	Paused  = "paused"  // the load is held
	Probing = "probing" // the load probes the target before it goes on
	Stopped = "stopped" // the load has ended; set by Stop
)

// Job is the Pushgateway job the figures are pushed under.
const Job = "steadyload"

// exemplarEvery is how often, at most, one bucket of one task's latency
// histogram takes an exemplar: slow requests are few, so their buckets
// keep the trace of nearly each, while the busy fast buckets cost an
// exemplar's allocations once a second, not per request.
const exemplarEvery = time.Second

// pushTimeout bounds one push to the Pushgateway.
const pushTimeout = 10 * time.Second

// shutdownTimeout bounds the wait, in Close, for scrapes under way.
const shutdownTimeout = 5 * time.Second

// failureClasses are the failure classes with a series of their own from
// the start (at 0, so rate() sees the first failure); a class not listed
// gets its series when it first occurs. Stopped is not a failure of the
// target: it is counted nowhere.
var failureClasses = [...]string{class.HTTP, class.Timeout, class.Refused, class.Reset, class.TLS, class.DNS, class.Check, class.Panic, class.Other}

// classIndex returns c's index in failureClasses, or -1.
func classIndex(c string) int {
	switch c {
	case class.HTTP:
		return 0
	case class.Timeout:
		return 1
	case class.Refused:
		return 2
	case class.Reset:
		return 3
	case class.TLS:
		return 4
	case class.DNS:
		return 5
	case class.Check:
		return 6
	case class.Panic:
		return 7
	case class.Other:
		return 8
	}
	return -1
}

// findingKinds are the kinds of findings counted from the start: those of
// result.Finding, a regressed gate row, and an aborted segment.
var findingKinds = []string{"leak", "drift", "step", "signal", "regression", "abort"}

// Buckets of the classic histograms, in seconds, each about twice the
// one before: latency from 1 ms to 60 s, the start lag from 100 µs.
var (
	latencyBuckets = prometheus.ExponentialBucketsRange(0.001, 60, 17)
	lagBuckets     = prometheus.ExponentialBucketsRange(0.0001, 60, 20)
)

// Native histograms: buckets about 10 % wide, at most 160 of them (with
// more, the resolution halves; the histogram is never reset, so a run of
// days keeps one monotonic series).
const (
	nativeFactor     = 1.1
	nativeMaxBuckets = 160
)

// Part is the live metrics of one run.
type Part struct {
	info pipeline.Info
	cfg  Config
	now  func() time.Time // the clock of steadyload_segment_end_timestamp_seconds

	tasks     []taskMetrics // by Outcome.Task
	failures  *prometheus.CounterVec
	findings  *prometheus.CounterVec
	kinds     []prometheus.Counter // by findingKinds
	segments  *prometheus.CounterVec
	segEnd    prometheus.Gauge
	outages   prometheus.Counter // outages of a run without end, counted at their end
	outageSec prometheus.Counter // and how long the load was paused by them
	inFlight  prometheus.Gauge
	lag       prometheus.Histogram
	state     *stateCollector
	gate      *gateCollector
	signal    *signalCollector
	capWarned bool                  // the signals past maxSignalSeries were warned of
	own       *prometheus.Registry  // the part's collectors without the test label: what is pushed
	served    prometheus.Registerer // the served registry, adding the test label; nil once unregistered
	collected []prometheus.Collector

	pushURL  string // without user information
	pushUser *url.Userinfo
	client   *http.Client

	srv       *http.Server
	addr      string
	stopped   chan struct{} // closed when the server has stopped serving
	closeOnce sync.Once
	closeErr  error
}

var (
	_ pipeline.Observer        = (*Part)(nil)
	_ pipeline.OutcomeObserver = (*Part)(nil)
	_ pipeline.Sink            = (*Part)(nil)
	_ pipeline.EventSink       = (*Part)(nil)
)

// taskMetrics are one task's series, made in New so that Outcome looks
// nothing up.
type taskMetrics struct {
	requests prometheus.Counter
	failures [len(failureClasses)]prometheus.Counter
	latency  prometheus.Histogram
	exemplar prometheus.ExemplarObserver
	// lastExemplar is when each classic bucket (and +Inf) last took an
	// exemplar, in Unix nanoseconds of the outcome's end; 0: never.
	lastExemplar []atomic.Int64
}

// New makes the live metrics of the run info describes: it registers the
// metrics, with every task's series at zero, and starts serving them when
// cfg.Listen is set. A listener that cannot be opened, a malformed push
// URL or metrics that clash with ones already registered are errors, and
// nothing is left open.
func New(info pipeline.Info, cfg Config) (*Part, error) {
	p := &Part{info: info, cfg: cfg, now: time.Now, own: prometheus.NewRegistry()}
	if cfg.PushURL != "" {
		if err := p.parsePushURL(cfg.PushURL); err != nil {
			return nil, err
		}
	}
	p.build()
	for _, c := range p.collected {
		if err := p.own.Register(c); err != nil {
			return nil, fmt.Errorf("live metrics: %w", err)
		}
	}
	reg, runtime := cfg.Registry, cfg.Registry == nil
	if runtime {
		reg = prometheus.NewRegistry()
		// The generator's own health: is it the bottleneck? Without the
		// memstats, whose gauges and counters share names that
		// OpenMetrics cannot tell apart (go_memstats_alloc_bytes and
		// go_memstats_alloc_bytes_total).
		reg.MustRegister(
			collectors.NewGoCollector(collectors.WithGoCollectorMemStatsMetricsDisabled()),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	// Served, every series carries the test's name; pushed, the
	// Pushgateway's grouping key adds it.
	served := prometheus.WrapRegistererWith(prometheus.Labels{"test": info.Test}, reg)
	for i, c := range p.collected {
		if err := served.Register(c); err != nil {
			for _, done := range p.collected[:i] {
				served.Unregister(done)
			}
			return nil, fmt.Errorf("live metrics: %w", err)
		}
	}
	p.served = served
	if cfg.Listen != "" {
		if err := p.serve(cfg.Listen, reg); err != nil {
			p.unregister()
			return nil, err
		}
	}
	return p, nil
}

// build makes the collectors and every series known in advance.
func (p *Part) build() {
	const ns = "steadyload"
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "requests_total",
		Help: "Tasks finished, failed or not (those cut off by the run's end excluded).",
	}, []string{"task"})
	p.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "failures_total",
		Help: "Tasks failed, by failure class (http, timeout, refused, reset, tls, dns, check, panic, other).",
	}, []string{"task", "class"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: ns, Name: "request_duration_seconds",
		Help:                           "Latency of successful tasks, from the scheduled start in the open model; exemplars carry trace ids.",
		Buckets:                        latencyBuckets,
		NativeHistogramBucketFactor:    nativeFactor,
		NativeHistogramMaxBucketNumber: nativeMaxBuckets,
	}, []string{"task"})
	p.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "in_flight",
		Help: "Tasks in flight (open model) or users active (closed model) at the end of the last window.",
	})
	p.lag = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: ns, Name: "start_lag_seconds",
		Help:                           "How late the open model's starts were made, behind their schedule.",
		Buckets:                        lagBuckets,
		NativeHistogramBucketFactor:    nativeFactor,
		NativeHistogramMaxBucketNumber: nativeMaxBuckets,
	})
	p.state = newStateCollector(prometheus.NewDesc(ns+"_state",
		"The run's state: 1 for the current one (running, paused, probing, stopped), 0 for the others.", []string{"state"}, nil))
	p.gate = newGateCollector(
		prometheus.NewDesc(ns+"_gate_ratio",
			"The last segment's current/baseline value per gated task and metric; absent where the baseline is 0 or either is unknown.",
			[]string{"task", "metric"}, nil),
		prometheus.NewDesc(ns+"_gate_regressed",
			"1 where the last segment's gate found a regression, else 0.", []string{"task", "metric"}, nil))
	p.signal = newSignalCollector(prometheus.NewDesc(ns+"_signal",
		fmt.Sprintf("The last segment's last finite value of each server signal, scraped or queried; at most %d signals, the first by name.", maxSignalSeries),
		[]string{"signal"}, nil))
	p.findings = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "findings_total",
		Help: "Findings of judged segments by kind: leak, drift, step, signal, regression (a regressed gate row), abort (an aborted segment).",
	}, []string{"kind"})
	p.segments = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: ns, Name: "segments_total",
		Help: "Segments judged, by verdict: pass or fail.",
	}, []string{"verdict"})
	p.segEnd = prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "segment_end_timestamp_seconds",
		Help: "Unix time the last segment was judged.",
	})
	p.outages = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "outages_total",
		Help: "Outages of the target a run without end rode out: the load paused, the target probed, the load resumed; counted when the load resumes.",
	})
	p.outageSec = prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: ns, Name: "outage_seconds_total",
		Help: "How long the load was paused by the outages counted in steadyload_outages_total.",
	})
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: ns, Name: "info",
		Help: "The run: its environment, where its load comes from (empty when not given), target, run id and harness version.",
		ConstLabels: prometheus.Labels{
			"env": p.info.Env, "location": p.info.Location, "target": redactURL(p.info.Target), "run_id": p.cfg.RunID, "version": p.cfg.Version,
		},
	})
	info.Set(1)

	p.tasks = make([]taskMetrics, len(p.info.Tasks))
	for i, key := range p.info.Tasks {
		t := &p.tasks[i]
		t.requests = requests.WithLabelValues(key)
		for j, c := range failureClasses {
			t.failures[j] = p.failures.WithLabelValues(key, c)
		}
		t.latency = latency.WithLabelValues(key).(prometheus.Histogram)
		t.exemplar = t.latency.(prometheus.ExemplarObserver)
		t.lastExemplar = make([]atomic.Int64, len(latencyBuckets)+1)
	}
	for _, k := range findingKinds {
		p.kinds = append(p.kinds, p.findings.WithLabelValues(k))
	}
	p.segments.WithLabelValues("pass")
	p.segments.WithLabelValues("fail")
	p.collected = []prometheus.Collector{requests, p.failures, latency, p.inFlight, p.lag, p.state, p.gate, p.signal,
		p.findings, p.segments, p.segEnd, p.outages, p.outageSec, info}
}

// Start sets the state to running, and the last segment's end to t0, so
// that an alert on a stale run counts from the start.
func (p *Part) Start(ctx context.Context, t0 time.Time) {
	p.SetState(Running)
	p.segEnd.Set(float64(t0.UnixMilli()) / 1e3)
}

// Window sets the load in flight from the window's last row.
func (p *Part) Window(rows []result.Window) {
	if len(rows) > 0 {
		p.inFlight.Set(float64(rows[len(rows)-1].Users))
	}
}

// EndSegment sets, at the end of the load, the state to stopped and the
// load in flight to none.
func (p *Part) EndSegment(seg *pipeline.Segment) {
	if seg.Last {
		p.inFlight.Set(0)
		p.SetState(Stopped)
	}
}

// Event follows the state of a run without end: paused while its target
// is unhealthy, probing, running again once it recovered.
func (p *Part) Event(e pipeline.Event) {
	switch e.Kind {
	case pipeline.Paused:
		p.SetState(Paused)
	case pipeline.Probing:
		p.SetState(Probing)
	case pipeline.Resumed:
		p.SetState(Running)
		p.outages.Inc()
		p.outageSec.Add(e.Outage.Seconds())
	}
}

// Outcome counts one finished task and, for a success, its latency, with
// its trace id as an exemplar when it has one and its bucket has had none
// for a second. It is safe for concurrent use and allocates nothing but
// such an exemplar (and a failure class outside the known list's series).
// An outcome of a task not in the run's list, or cut off by the run's own
// end, is not counted.
func (p *Part) Outcome(o pipeline.Outcome) {
	if uint(o.Task) >= uint(len(p.tasks)) || o.Class == class.Stopped {
		return
	}
	t := &p.tasks[o.Task]
	t.requests.Inc()
	if o.Class != "" {
		if i := classIndex(o.Class); i >= 0 {
			t.failures[i].Inc()
		} else {
			p.failures.WithLabelValues(p.info.Tasks[o.Task], o.Class).Inc()
		}
		return
	}
	s := o.Latency.Seconds()
	if o.TraceID != ([16]byte{}) && t.claimExemplar(s, o.End) {
		t.exemplar.ObserveWithExemplar(s, prometheus.Labels{"trace_id": hex.EncodeToString(o.TraceID[:])})
		return
	}
	t.latency.Observe(s)
}

// claimExemplar reports whether an outcome of latency s that ended at end
// takes its bucket's exemplar: the bucket has had none for exemplarEvery.
func (t *taskMetrics) claimExemplar(s float64, end time.Time) bool {
	last := &t.lastExemplar[sort.SearchFloat64s(latencyBuckets, s)]
	at := end.UnixNano()
	prev := last.Load()
	if prev != 0 && at-prev < int64(exemplarEvery) {
		return false
	}
	return last.CompareAndSwap(prev, at)
}

// ObserveLag records how late one start of the open model was begun behind
// its schedule, the generator's part (a wait for a slot left out). The worker that began it calls it once per start, so it
// is called from many goroutines at once.
func (p *Part) ObserveLag(d time.Duration) { p.lag.Observe(d.Seconds()) }

// SetState makes state the run's current state in steadyload_state.
func (p *Part) SetState(state string) { p.state.set(state) }

// Write shows what was judged of the segment: the gate's ratios and
// verdicts, the server signals' last values, its findings, its verdict
// and when it ended; then, at the
// last segment (or every one, with PushEverySegment), pushes everything
// to the Pushgateway. A push that fails is a failed verdict.
func (p *Part) Write(seg *pipeline.Segment) {
	p.gate.set(seg.Gate)
	if n := p.signal.set(seg.Signals); n > 0 && !p.capWarned {
		p.capWarned = true
		seg.Warnf("live metrics: %d server signals past the first %d by name not shown in steadyload_signal", n, maxSignalSeries)
	}
	if seg.Gate != nil {
		for range seg.Gate.Regressions() {
			p.finding("regression").Inc()
		}
	}
	if seg.Run != nil {
		for _, f := range seg.Findings {
			p.finding(f.Kind).Inc()
		}
		if seg.Meta.Status == result.Aborted {
			p.finding("abort").Inc()
		}
	}
	verdict := "pass"
	if seg.Failed() {
		verdict = "fail"
	}
	p.segments.WithLabelValues(verdict).Inc()
	p.segEnd.Set(float64(p.now().UnixMilli()) / 1e3)
	if p.pushURL != "" && (seg.Last || p.cfg.PushEverySegment) {
		if err := p.Push(); err != nil {
			seg.Failf("live metrics: %v", err)
		}
	}
}

// finding returns the counter of findings of kind.
func (p *Part) finding(kind string) prometheus.Counter {
	for i, k := range findingKinds {
		if k == kind {
			return p.kinds[i]
		}
	}
	return p.findings.WithLabelValues(kind)
}

// Addr returns the address /metrics is served on, with the port chosen
// when Config.Listen asked for port 0; "" when nothing is served.
func (p *Part) Addr() string { return p.addr }

// Close stops serving /metrics, waiting a few seconds for scrapes under
// way, releases the listener's address and unregisters the part's
// collectors from Config.Registry. It is safe to call more than once.
func (p *Part) Close() error {
	p.closeOnce.Do(func() {
		if p.srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			err := p.srv.Shutdown(ctx)
			cancel()
			if err != nil {
				err = errors.Join(err, p.srv.Close())
				p.closeErr = fmt.Errorf("live metrics: stop serving on %s: %w", p.addr, err)
			}
			<-p.stopped
		}
		p.unregister()
		if p.client != nil {
			p.client.CloseIdleConnections()
		}
	})
	return p.closeErr
}

// unregister takes the part's collectors out of the served registry.
func (p *Part) unregister() {
	if p.served == nil {
		return
	}
	for _, c := range p.collected {
		p.served.Unregister(c)
	}
	p.served = nil
}

// redactURL returns s with any password in it replaced, as url.URL's
// Redacted does; s unchanged when it is no URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// stateCollector is steadyload_state: one series per state seen, 1 for
// the current one. A scrape sees one state at 1, never a switch half
// done.
type stateCollector struct {
	desc *prometheus.Desc

	mu      sync.Mutex
	states  []string // in the order first seen
	current string   // "" before the first set: all 0
}

func newStateCollector(desc *prometheus.Desc) *stateCollector {
	return &stateCollector{desc: desc, states: []string{Running, Paused, Probing, Stopped}}
}

func (c *stateCollector) set(state string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := false
	for _, s := range c.states {
		known = known || s == state
	}
	if !known {
		c.states = append(c.states, state)
	}
	c.current = state
}

// Describe implements prometheus.Collector.
func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.states {
		v := 0.0
		if s == c.current {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v, s)
	}
}

// parsePushURL checks the Pushgateway's URL and splits off its user
// information.
func (p *Part) parsePushURL(raw string) error {
	s := raw
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("live metrics: Pushgateway URL %q: want host:port or http(s)://host:port", redactURL(raw))
	}
	p.pushUser, u.User = u.User, nil
	p.pushURL = u.String()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true // one push a segment: nothing to keep open between
	p.client = &http.Client{Transport: tr, Timeout: pushTimeout}
	return nil
}
