// Package report turns one run into a self-contained HTML page and a short
// Markdown summary for CI.
//
// The page has no external assets — styles inline, charts drawn here as
// inline SVG — so it can be archived as a CI artifact and opened anywhere.
// It shows, in order: the verdicts (regressions, leaks, rising server
// signals, drift), the figures per task, latency percentiles over time per
// task with the baseline band behind them and the slowest request of each
// window (its trace id on hover), throughput and failures over time, each
// server signal over time with its fitted trend, the regression gate's
// table, the history of p95 per run with change points marked, and the
// slowest requests of the run. A leak is a line that climbs; a step is a
// marker on the history chart.
//
// The output depends only on the Input, so it is reproducible:
//
//	var b bytes.Buffer
//	err := report.HTML(&b, report.Input{Run: res, Baseline: rows})
package report
