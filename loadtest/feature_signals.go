package loadtest

import (
	"flag"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/steadyload/steadyload/loadtest/internal/atomicfile"
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

var sigFlags = newSignalFlags(flag.CommandLine)

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

func init() { features = append(features, signalsInstaller(sigFlags)) }

// signalsInstaller returns the installer of the server signals reading
// the flags of f.
func signalsInstaller(f *signalFlags) func(r *runner) error {
	return func(r *runner) error { return installSignals(r, f) }
}

// installSignals scrapes the target's metrics endpoint and samples the
// scenario's probes while the load runs, writes <Test>_signals.csv, tests
// each signal for a rise and attaches it all to the result. Collection
// starts with the load (after every feature has validated its settings, so
// an invalid scenario sends nothing); the first window is the warm-up
// excluded from the test.
func installSignals(r *runner, f *signalFlags) error {
	p, err := planSignals(r.plan.Scenario, f, r.base, r.standIn != "")
	if err != nil {
		return err
	}
	if p.url == "" && len(p.probes) == 0 {
		return nil
	}
	c := p.collector()
	c.Warn = func(msg string) { r.tb.Logf("loadtest: warning: %s", msg) }
	var (
		mu      sync.Mutex
		started bool
		rep     *signals.Report
	)
	r.startHooks = append(r.startHooks, func() {
		mu.Lock()
		defer mu.Unlock()
		if err := c.Start(r.tb.Context(), r.t0); err != nil {
			r.tb.Logf("loadtest: warning: server signals not recorded: %v", err)
			return
		}
		started = true
	})
	r.windowHooks = append(r.windowHooks, func([]result.Window) {
		mu.Lock()
		defer mu.Unlock()
		if started {
			c.Tick()
		}
	})
	r.endHooks = append(r.endHooks, func() {
		mu.Lock()
		defer mu.Unlock()
		if started {
			rep = c.Stop()
		}
	})
	// The samples and their trends go on the result before any feature's
	// finish hook, so the history records them and the report draws them.
	r.resultHooks = append(r.resultHooks, func(res *result.Run) {
		if rep == nil {
			return
		}
		res.Signals = rep
		if p.rise != ModeOff {
			rep.Trends = signals.Analyze(rep.Samples, signals.Options{Warmup: r.plan.Window})
		}
	})
	r.finishHooks = append(r.finishHooks, func(res *result.Run) []string {
		if rep == nil {
			return nil
		}
		var problems []string
		path := filepath.Join(r.plan.out, result.FileBase(res.Meta.Test)+"_signals.csv")
		if err := atomicfile.Write(path, func(w io.Writer) error {
			return signals.WriteCSV(w, rep.Samples, r.plan.Window)
		}); err != nil {
			problems = append(problems, fmt.Sprintf("server signals not written: %v", err))
		} else {
			r.tb.Logf("loadtest: %d samples of %d server signals written to %s", len(rep.Samples), len(rep.Names()), path)
		}
		for _, t := range rep.Rising() {
			if p.rise == ModeFail {
				problems = append(problems, "server signal "+t.String())
			} else {
				r.tb.Logf("loadtest: warning: server signal %s", t)
			}
		}
		return problems
	})
	return nil
}
