package report

import (
	"time"

	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Input is everything one report shows. Only Run is required; the other
// parts are drawn when present.
type Input struct {
	Run *result.Run
	// Signals are the target's own measurements during the run.
	Signals *signals.Report
	// Baseline holds the baseline's per-window rows, of one run or several;
	// each task's latency chart draws the band they span from p50 to p95.
	Baseline []result.Window
	// Gate is the regression gate's comparison, as a table.
	Gate *Table
	// Findings are the run's verdicts, one line each, shown first.
	Findings []Finding
	// History is a metric per past run, per task, with detected change
	// points.
	History []HistorySeries
}

// Severity says how much a finding matters.
type Severity string

// Severities of findings.
const (
	Fail Severity = "fail" // failed the test
	Warn Severity = "warn" // reported, did not fail the test
	Info Severity = "info"
)

// A Finding is one verdict: "latency of GET /orders/{id} grew +35% over
// the run (p = 0.002): possible leak or backlog".
type Finding struct {
	Severity Severity
	Kind     string // what found it: "gate", "leak", "signal", "drift", "step"
	Text     string
	// MovedWith names the server signals that moved with it, e.g.
	// "moved with it: db latency (ρ = +0.93, …)"; empty when none did.
	MovedWith string
}

// Table is a table given as text cells: the gate's comparison.
type Table struct {
	Title  string
	Header []string
	Rows   [][]string
	Note   string // shown under the table
}

// HistorySeries is one task's metric over past runs, oldest first.
type HistorySeries struct {
	Task    string
	Metric  string // e.g. "p95"
	Unit    string // e.g. "ms"
	Points  []HistoryPoint
	Changes []int // indexes into Points where a step change begins
}

// HistoryPoint is one run in a HistorySeries.
type HistoryPoint struct {
	Time   time.Time
	Commit string
	Value  float64
}
