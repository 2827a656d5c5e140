// Package signalcheck is the server signals' part in a run: it scrapes
// the target's metrics endpoint and samples the scenario's probes while
// the load runs (an observer), tests each signal for a rise over the
// segment (an evaluator) and writes <Test>_signals.csv (a sink).
// Collection starts with the load, after every part has validated its
// settings, so an invalid scenario sends nothing; the first window is the
// warm-up left out of the test.
//
//	cfg := signalcheck.Config{URL: base + "/metrics", Signals: signals.DefaultSignals, Interval: signals.DefaultInterval, Check: true}
//	if err := cfg.Validate(); err != nil { ... }
//	s := signalcheck.New(info, cfg) // nil: nothing to collect
package signalcheck

import (
	"context"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the server signals do in one run, resolved from the
// flags and the scenario before the part is made.
type Config struct {
	URL      string          // the metrics endpoint scraped; empty: none
	Signals  []string        // the metrics recorded, by name or selector
	Probes   []signals.Probe // the scenario's own numbers, sampled once per window
	Interval time.Duration   // time between scrapes
	Check    bool            // test each signal for a rise
	Fail     bool            // a rise fails the test; otherwise it warns
	// Sources give signals read elsewhere (a Prometheus's range
	// queries), asked once per segment when it is judged, off the load's
	// clock.
	Sources []Source
}

// A Source gives signals read elsewhere — a Prometheus's range queries —
// for a stretch of the run. Its signals join the scraped ones: the same
// CSV, rise test, history and report.
type Source interface {
	// Samples returns the samples of [from, to], one point per step,
	// offsets counted from t0, sorted by signal then time, and the
	// warnings not given before.
	Samples(ctx context.Context, t0, from, to time.Time, step time.Duration) ([]signals.Sample, []string)
}

// Validate reports every signal, probe or interval the collector would
// refuse.
func (c Config) Validate() error {
	return c.collector().Check()
}

func (c Config) collector() *signals.Collector {
	return &signals.Collector{URL: c.URL, Signals: c.Signals, Probes: c.Probes, Interval: c.Interval}
}

// SplitSelectors splits a comma-separated list of selectors, leaving the
// commas between braces and within quotes alone.
func SplitSelectors(s string) []string {
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

// Part is the server signals' part in one run.
type Part struct {
	info pipeline.Info
	cfg  Config
	c    *signals.Collector

	mu      sync.Mutex
	started bool
	ctx     context.Context
	t0      time.Time
}

var (
	_ pipeline.Observer  = (*Part)(nil)
	_ pipeline.Evaluator = (*Part)(nil)
	_ pipeline.Sink      = (*Part)(nil)
)

// New makes the server signals' part of the run info describes, from a
// valid cfg; nil when there is nothing to collect.
func New(info pipeline.Info, cfg Config) *Part {
	if cfg.URL == "" && len(cfg.Probes) == 0 && len(cfg.Sources) == 0 {
		return nil
	}
	c := cfg.collector()
	c.Warn = func(msg string) { info.Logf("loadtest: warning: %s", msg) }
	return &Part{info: info, cfg: cfg, c: c}
}

// Start starts the collection.
func (s *Part) Start(ctx context.Context, t0 time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.c.Start(ctx, t0); err != nil {
		s.info.Logf("loadtest: warning: server signals not recorded: %v", err)
		return
	}
	s.started = true
	s.ctx, s.t0 = ctx, t0
}

// Window samples the probes at the close of each window.
func (s *Part) Window([]result.Window) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		s.c.Tick()
	}
}

// EndSegment takes the samples of the segment (and ends the collection
// after the last), fits each signal's trend over it (unless the rise test
// is off) and puts both on the segment, where the evaluators, the history
// and the report read them.
func (s *Part) EndSegment(seg *pipeline.Segment) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.started {
		return
	}
	var rep *signals.Report
	if seg.Last {
		rep = s.c.Stop()
	} else {
		rep = s.c.Cut()
	}
	if s.cfg.Check {
		rep.Trends = signals.Analyze(rep.Samples, signals.Options{Warmup: s.warmup(seg)})
	}
	seg.Signals = rep
}

// warmup is the part of seg left out of the rise test: the first window
// of the run.
func (s *Part) warmup(seg *pipeline.Segment) time.Duration {
	if seg.Index == 0 {
		return s.info.Window
	}
	return 0
}

// Evaluate adds the sources' signals of the segment to the scraped ones,
// then gives a finding for each signal that rose over the segment.
func (s *Part) Evaluate(seg *pipeline.Segment) {
	if seg.Signals != nil && len(s.cfg.Sources) > 0 {
		s.addSources(seg)
	}
	if seg.Signals == nil || !s.cfg.Check {
		return
	}
	fail := s.cfg.Fail
	for _, t := range seg.Signals.Rising() {
		seg.Findings = append(seg.Findings, result.Finding{
			Kind: "signal", Metric: t.Signal, Text: t.String(), Fail: fail,
			P: t.P, From: t.From, To: t.To, Change: t.Growth, N: t.N,
		})
		seg.Verdicts = append(seg.Verdicts, pipeline.Verdict{Fail: fail, Text: "server signal " + t.String()})
	}
}

// addSources asks each source for the segment's samples, merges them
// into its report in order and tests the signals again.
func (s *Part) addSources(seg *pipeline.Segment) {
	s.mu.Lock()
	ctx, t0 := s.ctx, s.t0
	s.mu.Unlock()
	rep := seg.Signals
	from := seg.Meta.Start
	to := from.Add(seg.Meta.Elapsed)
	// One point at the end of each window (a millisecond before, so that
	// it falls in it): the value a gauge had as the window closed.
	first := from.Add(s.info.Window - time.Millisecond)
	added := false
	for _, src := range s.cfg.Sources {
		samples, warnings := src.Samples(ctx, t0, first, to, s.info.Window)
		for _, w := range warnings {
			s.info.Logf("loadtest: warning: %s", w)
		}
		rep.Warnings = append(rep.Warnings, warnings...)
		rep.Samples = append(rep.Samples, samples...)
		added = added || len(samples) > 0
	}
	if !added {
		return
	}
	sort.SliceStable(rep.Samples, func(i, j int) bool {
		a, b := rep.Samples[i], rep.Samples[j]
		if a.Signal != b.Signal {
			return a.Signal < b.Signal
		}
		return a.Offset < b.Offset
	})
	if s.cfg.Check {
		rep.Trends = signals.Analyze(rep.Samples, signals.Options{Warmup: s.warmup(seg)})
	}
}

// Write writes the samples to <Test>_signals.csv.
func (s *Part) Write(seg *pipeline.Segment) {
	if seg.Signals == nil {
		return
	}
	path := filepath.Join(s.info.Out, seg.Name+"_signals.csv")
	if err := atomicfile.Write(path, func(w io.Writer) error {
		return signals.WriteCSV(w, seg.Signals.Samples, s.info.Window)
	}); err != nil {
		seg.Failf("server signals not written: %v", err)
		return
	}
	s.info.Logf("loadtest: %d samples of %d server signals written to %s", len(seg.Signals.Samples), len(seg.Signals.Names()), path)
}
