// Package signals records a target's own measurements while load runs on
// it — the gauges of its Prometheus endpoint, its counters as rates, and
// numbers read by the scenario's probes — and tells which of them rose over
// the run.
//
// The stance: a leak or a backlog shows in the server before it shows in
// latency. Memory, goroutines, open file descriptors or a queue that keeps
// rising under a steady, gentle load are reported with figures ("process_open_fds
// rose from 40 to 410 (+925%)"). A target without the endpoint, or with a
// malformed one, gets a warning; the load goes on.
//
// A Collector scrapes the Prometheus text format every Interval (default
// 5 s) with the prometheus/common/expfmt parser and samples its probes when
// asked (the harness asks once per window):
//
//	c := &signals.Collector{URL: base + "/metrics", Signals: signals.DefaultSignals}
//	c.Start(ctx, time.Now())
//	defer c.Stop()
//	... load ...
//	rep := c.Stop()
//	rep.Findings = signals.Analyze(rep.Samples, signals.Options{})
//
// Signals are named by a selector: a metric name, optionally with label
// matchers, `queue_depth{queue="orders"}`. The series that match are summed.
// A counter is recorded as its per-second rate, named "rate(<selector>)".
package signals
