package livemetrics

import (
	"context"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/push"

	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/signals"
)

// serve opens addr and serves g on /metrics until Close. OpenMetrics is
// offered so that exemplars reach the scraper (and protobuf carries the
// native histograms, when the scraper asks for it).
func (p *Part) serve(addr string, g prometheus.Gatherer) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("live metrics: serve /metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{EnableOpenMetrics: true}))
	p.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // a library logs nothing
	}
	p.addr = ln.Addr().String()
	p.stopped = make(chan struct{})
	go func() {
		defer close(p.stopped)
		p.srv.Serve(ln) // ends with http.ErrServerClosed at Close
	}()
	return nil
}

// Push pushes every figure of the run to the Pushgateway of
// Config.PushURL, replacing what the test pushed before: grouped by
// job="steadyload" and test, the series as /metrics shows them. Write
// calls it when a segment asks for it; it is an error when no URL is
// configured.
func (p *Part) Push() error {
	if p.pushURL == "" {
		return fmt.Errorf("live metrics: push: no Pushgateway URL configured")
	}
	ctx, cancel := context.WithTimeout(context.Background(), pushTimeout)
	defer cancel()
	pusher := push.New(p.pushURL, Job).Gatherer(p.own).Grouping("test", p.info.Test).Client(p.client)
	if p.pushUser != nil {
		pass, _ := p.pushUser.Password()
		pusher = pusher.BasicAuth(p.pushUser.Username(), pass)
	}
	if err := pusher.PushContext(ctx); err != nil {
		return fmt.Errorf("push to Pushgateway %s: %w", p.pushURL, err)
	}
	return nil
}

// gateCollector is steadyload_gate_ratio and steadyload_gate_regressed:
// the last segment's gate rows, swapped whole so a scrape never mixes
// two segments.
type gateCollector struct {
	ratio, regressed *prometheus.Desc

	mu   sync.Mutex
	rows []gateRow
}

// gateRow is one gated task and metric as the gauges show it.
type gateRow struct {
	task, metric string
	ratio        float64 // NaN: no ratio
	regressed    bool
}

func newGateCollector(ratio, regressed *prometheus.Desc) *gateCollector {
	return &gateCollector{ratio: ratio, regressed: regressed}
}

// set replaces the rows with rep's; nil rep (no gate) leaves none. The
// ratio is Cur/Base for every metric — the failure ratio too, where the
// gate itself judges the difference — so that one unit serves every
// alert: above 1 is slower for a percentile, failing more for failures,
// faster for the rate. Where the baseline is 0 or either value unknown
// there is no ratio. A task and metric given twice keeps its last row.
func (c *gateCollector) set(rep *gate.Report) {
	var rows []gateRow
	if rep != nil {
		at := map[[2]string]int{}
		for _, r := range rep.Rows {
			row := gateRow{task: r.Task, metric: string(r.Metric), ratio: ratio(r.Cur, r.Base), regressed: r.Verdict == gate.Regressed}
			k := [2]string{row.task, row.metric}
			if i, ok := at[k]; ok {
				rows[i] = row
				continue
			}
			at[k] = len(rows)
			rows = append(rows, row)
		}
	}
	c.mu.Lock()
	c.rows = rows
	c.mu.Unlock()
}

// ratio is cur/base, NaN when base is not above 0 or either is not finite.
func ratio(cur, base float64) float64 {
	if !(base > 0) || math.IsInf(base, 0) || math.IsNaN(cur) || math.IsInf(cur, 0) {
		return math.NaN()
	}
	return cur / base
}

// Describe implements prometheus.Collector.
func (c *gateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.ratio
	ch <- c.regressed
}

// Collect implements prometheus.Collector.
func (c *gateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.rows {
		if !math.IsNaN(r.ratio) {
			ch <- prometheus.MustNewConstMetric(c.ratio, prometheus.GaugeValue, r.ratio, r.task, r.metric)
		}
		v := 0.0
		if r.regressed {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.regressed, prometheus.GaugeValue, v, r.task, r.metric)
	}
}

// maxSignalSeries is the most signals steadyload_signal shows: signals are
// configured, not discovered, but a selector may match many series, and
// every one would be a series of its own. Past the cap, the signals
// first by name are kept.
const maxSignalSeries = 100

// signalCollector is steadyload_signal: each server signal's last finite
// value in the last segment, swapped whole as the gate's rows are, so a
// signal the segment did not sample has no series.
type signalCollector struct {
	desc *prometheus.Desc

	mu   sync.Mutex
	last []signalValue // sorted by signal
}

// signalValue is one signal's last value.
type signalValue struct {
	signal string
	value  float64
}

func newSignalCollector(desc *prometheus.Desc) *signalCollector {
	return &signalCollector{desc: desc}
}

// set replaces the values with the last finite sample of each signal of
// rep, at most maxSignalSeries of them; nil rep leaves none. It returns
// how many signals were left out past the cap.
func (c *signalCollector) set(rep *signals.Report) (dropped int) {
	last := map[string]float64{}
	if rep != nil {
		for _, s := range rep.Samples { // sorted by signal, then time
			if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
				last[s.Signal] = s.Value
			}
		}
	}
	vals := make([]signalValue, 0, len(last))
	for name, v := range last {
		vals = append(vals, signalValue{name, v})
	}
	sort.Slice(vals, func(i, j int) bool { return vals[i].signal < vals[j].signal })
	if len(vals) > maxSignalSeries {
		dropped = len(vals) - maxSignalSeries
		vals = vals[:maxSignalSeries]
	}
	c.mu.Lock()
	c.last = vals
	c.mu.Unlock()
	return dropped
}

// Describe implements prometheus.Collector.
func (c *signalCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector.
func (c *signalCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.last {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, v.value, v.signal)
	}
}
