package loadtest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/steadyload/steadyload/loadtest/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
	"github.com/steadyload/steadyload/loadtest/signals"
)

// A Probe is a number the scenario reads from the target — a queue length
// from an admin API, say — sampled once per window, written with the
// server signals and tested for a steady rise like them.
type Probe = signals.Probe

// signalFlags are the flags of the server signals.
type signalFlags struct {
	fs       *flag.FlagSet
	metrics  *string
	signals  *string
	interval *time.Duration
	rise     *string
}

func newSignalFlags(fs *flag.FlagSet) *signalFlags {
	return &signalFlags{
		fs:       fs,
		metrics:  fs.String("loadtest.metrics", "", "`URL` of the target's Prometheus text endpoint, or \"off\" (default: the stand-in's /metrics; none for a real host)"),
		signals:  fs.String("loadtest.signals", "", "extra metrics to record, comma-separated names or selectors such as `queue_depth{queue=\"orders\"}`"),
		interval: fs.Duration("loadtest.metrics-interval", 0, "time between scrapes of the metrics endpoint (default 5s)"),
		rise:     fs.String("loadtest.signal-rise", "", "a server signal rising over the run: warn, fail or off (default warn)"),
	}
}

func (f *signalFlags) set(name string) bool { return isSetIn(f.fs, name) }

// signalPlan is what the signals feature does in one run.
type signalPlan struct {
	url      string // endpoint to scrape; empty: none
	signals  []string
	probes   []Probe
	interval time.Duration
	rise     Mode
}

// planSignals applies the flags to the scenario's fields. base is the
// target's URL; standIn tells whether it is a stand-in, whose /metrics is
// scraped by default.
func planSignals(sc Scenario, f *signalFlags, base string, standIn bool) (*signalPlan, error) {
	p := &signalPlan{probes: sc.Probes, interval: signals.DefaultInterval}
	var errs []string
	rise, err := checkMode(f.fs, "loadtest.signal-rise", *f.rise, sc.SignalRise, "SignalRise")
	if err != nil {
		errs = append(errs, err.Error())
	}
	p.rise = rise
	metrics := sc.Metrics
	if f.set("loadtest.metrics") {
		metrics = *f.metrics
	}
	switch {
	case metrics == "off":
	case metrics != "":
		u, err := url.Parse(metrics)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Sprintf("metrics endpoint %q: want http(s)://host[:port]/path, or off", metrics))
		}
		p.url = metrics
	case standIn:
		p.url = strings.TrimSuffix(base, "/") + "/metrics"
	}
	p.signals = append(append([]string(nil), signals.DefaultSignals...), sc.Signals...)
	if f.set("loadtest.signals") {
		p.signals = append(p.signals, splitSelectors(*f.signals)...)
	}
	if f.set("loadtest.metrics-interval") {
		p.interval = *f.interval
		if p.interval <= 0 {
			errs = append(errs, fmt.Sprintf("-loadtest.metrics-interval=%s: must be positive", *f.interval))
		}
	}
	c := p.collector()
	if err := c.Check(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return p, nil
}

func (p *signalPlan) collector() *signals.Collector {
	return &signals.Collector{URL: p.url, Signals: p.signals, Probes: p.probes, Interval: p.interval}
}

// splitSelectors splits a comma-separated list of selectors, leaving the
// commas between braces alone.
func splitSelectors(s string) []string {
	var out []string
	depth, start := 0, 0
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case inQuote:
		case c == '{':
			depth++
		case c == '}':
			depth--
		case c == ',' && depth == 0:
			out = append(out, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(s[start:]); last != "" {
		out = append(out, last)
	}
	return out
}

// signalsPart is the server signals' part in one run: it scrapes the
// target's metrics endpoint and samples the scenario's probes while the
// load runs (an observer), tests each signal for a rise (an evaluator) and
// writes <Test>_signals.csv (a sink). Collection starts with the load,
// after every part has validated its settings, so an invalid scenario
// sends nothing; the first window is the warm-up excluded from the test.
type signalsPart struct {
	r    *runner
	plan *signalPlan
	c    *signals.Collector

	mu      sync.Mutex
	started bool
	rep     *signals.Report
}

// newSignalsPart reads the signals' flags and scenario fields; nil when
// there is nothing to collect.
func newSignalsPart(r *runner, f *signalFlags) (*signalsPart, error) {
	p, err := planSignals(r.plan.Scenario, f, r.base, r.standIn != "")
	if err != nil {
		return nil, err
	}
	if p.url == "" && len(p.probes) == 0 {
		return nil, nil
	}
	c := p.collector()
	c.Warn = func(msg string) { r.tb.Logf("loadtest: warning: %s", msg) }
	return &signalsPart{r: r, plan: p, c: c}, nil
}

// Start starts the collection.
func (s *signalsPart) Start(ctx context.Context, t0 time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.c.Start(ctx, t0); err != nil {
		s.r.tb.Logf("loadtest: warning: server signals not recorded: %v", err)
		return
	}
	s.started = true
}

// Window samples the probes at the close of each window.
func (s *signalsPart) Window([]result.Window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		s.c.Tick()
	}
}

// Stop ends the collection, fits each signal's trend over the segment
// (unless the rise test is off) and puts both on the segment, where the
// history and the report read them.
func (s *signalsPart) Stop(seg *pipeline.Segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	s.rep = s.c.Stop()
	if s.plan.rise != ModeOff {
		s.rep.Trends = signals.Analyze(s.rep.Samples, signals.Options{Warmup: s.r.plan.Window})
	}
	seg.Signals = s.rep
}

// Evaluate gives a finding for each signal that rose over the segment.
func (s *signalsPart) Evaluate(seg *pipeline.Segment) {
	if s.rep == nil || s.plan.rise == ModeOff {
		return
	}
	fail := s.plan.rise == ModeFail
	for _, t := range s.rep.Rising() {
		seg.Findings = append(seg.Findings, result.Finding{
			Kind: "signal", Metric: t.Signal, Text: t.String(), Fail: fail,
			P: t.P, From: t.From, To: t.To, Change: t.Growth, N: t.N,
		})
		seg.Verdicts = append(seg.Verdicts, pipeline.Verdict{Fail: fail, Text: "server signal " + t.String()})
	}
}

// Write writes the samples to <Test>_signals.csv.
func (s *signalsPart) Write(seg *pipeline.Segment) {
	if s.rep == nil {
		return
	}
	r := s.r
	path := filepath.Join(r.plan.out, result.FileBase(seg.Meta.Test)+"_signals.csv")
	if err := atomicfile.Write(path, func(w io.Writer) error {
		return signals.WriteCSV(w, s.rep.Samples, r.plan.Window)
	}); err != nil {
		seg.Failf("server signals not written: %v", err)
		return
	}
	r.tb.Logf("loadtest: %d samples of %d server signals written to %s", len(s.rep.Samples), len(s.rep.Names()), path)
}
