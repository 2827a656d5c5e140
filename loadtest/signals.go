package loadtest

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/promquery"
	"github.com/steadyload/steadyload/internal/signalcheck"
	"github.com/steadyload/steadyload/internal/signals"
)

// A Probe is a number the scenario reads from the target itself — a queue
// length from an admin API, a row count — sampled once per window and
// tested for a steady rise like the server's gauges. An error skips the
// sample with a warning.
type Probe struct {
	Name   string // the signal's name in the CSV and the report, e.g. "orders queue"
	Sample func(ctx context.Context) (float64, error)
}

// A Query is a named PromQL expression read from Scenario.Prometheus as
// a server signal. Its value is the sum of the series it returns.
type Query struct {
	Name string // the signal's name in the CSV and the report, e.g. "db p95"
	Expr string // e.g. `max(db_pool_wait_seconds{service="orders"})`
}

// signalFlags are the flags of the server signals.
type signalFlags struct {
	fs       *flag.FlagSet
	metrics  *string
	signals  *string
	interval *time.Duration
	rise     *string
	prom     *string
	promUser *string
	promEnv  *string
	promFile *string
}

func newSignalFlags(fs *flag.FlagSet) *signalFlags {
	return &signalFlags{
		fs:       fs,
		metrics:  fs.String("loadtest.metrics", "", "`URL` of the target's Prometheus text endpoint, or \"off\" (default: the stand-in's /metrics; none for a real host)"),
		signals:  fs.String("loadtest.signals", "", "extra metrics to record, comma-separated names or selectors such as `queue_depth{queue=\"orders\"}`"),
		interval: fs.Duration("loadtest.metrics-interval", 0, "time between scrapes of the metrics endpoint (default 5s)"),
		rise:     fs.String("loadtest.signal-rise", "", "a server signal rising over the run: warn, fail or off (default warn)"),
		prom:     fs.String("loadtest.prometheus", "", "`URL` of a Prometheus scraping the target, read for the scenario's queries at each segment's end, or \"off\""),
		promUser: fs.String("loadtest.prometheus-user", "", "basic auth `user` for -loadtest.prometheus; without it the secret is a bearer token"),
		promEnv:  fs.String("loadtest.prometheus-secret-env", "", "environment `variable` holding the Prometheus password or bearer token"),
		promFile: fs.String("loadtest.prometheus-secret-file", "", "`file` holding the Prometheus password or bearer token"),
	}
}

func (f *signalFlags) set(name string) bool { return isSetIn(f.fs, name) }

// planSignals applies the flags to the scenario's fields. base is the
// target's URL; standIn tells whether it is a stand-in, whose /metrics is
// scraped by default.
func planSignals(sc Scenario, f *signalFlags, base string, standIn bool) (signalcheck.Config, error) {
	p := signalcheck.Config{Probes: probes(sc.Probes), Interval: signals.DefaultInterval}
	var errs []string
	rise, err := checkMode(f.fs, "loadtest.signal-rise", *f.rise, sc.SignalRise, "SignalRise")
	if err != nil {
		errs = append(errs, err.Error())
	}
	p.Check, p.Fail = rise != ModeOff, rise == ModeFail
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
		p.URL = metrics
	case standIn:
		p.URL = strings.TrimSuffix(base, "/") + "/metrics"
	}
	p.Signals = append(append([]string(nil), signals.DefaultSignals...), sc.Signals...)
	if f.set("loadtest.signals") {
		p.Signals = append(p.Signals, signalcheck.SplitSelectors(*f.signals)...)
	}
	if f.set("loadtest.metrics-interval") {
		p.Interval = *f.interval
		if p.Interval <= 0 {
			errs = append(errs, fmt.Sprintf("-loadtest.metrics-interval=%s: must be positive", *f.interval))
		}
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if q, err := planPrometheus(sc, f); err != nil {
		errs = append(errs, err.Error())
	} else if q != nil {
		p.Sources = append(p.Sources, q)
	}
	if len(errs) > 0 {
		return p, fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return p, nil
}

// newSignalsPart reads the signals' flags and scenario fields; nil when
// there is nothing to collect.
func newSignalsPart(r *runner, f *signalFlags) (*signalcheck.Part, error) {
	cfg, err := planSignals(r.plan.Scenario, f, r.base, r.standIn != "")
	if err != nil {
		return nil, err
	}
	return signalcheck.New(r.info(), cfg), nil
}

// probes are the scenario's probes as the collector takes them.
func probes(ps []Probe) []signals.Probe {
	out := make([]signals.Probe, len(ps))
	for i, p := range ps {
		out[i] = signals.Probe{Name: p.Name, Sample: p.Sample}
	}
	return out
}

// planPrometheus makes the querier of the scenario's Prometheus; nil when
// there is none. A set flag overrides the scenario's URL.
func planPrometheus(sc Scenario, f *signalFlags) (*promquery.Querier, error) {
	u := sc.Prometheus
	if f.set("loadtest.prometheus") {
		u = *f.prom
	}
	if u == "" || u == "off" {
		return nil, nil
	}
	cfg := promquery.Config{
		URL:  u,
		Auth: promquery.Auth{User: *f.promUser, Env: *f.promEnv, File: *f.promFile},
	}
	for _, q := range sc.Queries {
		cfg.Queries = append(cfg.Queries, promquery.Query{Name: q.Name, Expr: q.Expr})
	}
	return promquery.New(cfg)
}
