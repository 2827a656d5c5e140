package result

import "time"

// Finding is a trend found in a run or in its history: a task's latency
// rising within the run (a possible leak or backlog), a creep across the
// last runs (drift), or a step at some run. Findings are data: whether one
// failed the test is recorded in Fail, decided once by its check.
type Finding struct {
	Kind   string // "leak", "drift", "step" or "signal"
	Task   string // task key, e.g. "GET /orders/{id}"
	Metric string // the series tested: "window p50" (leak), "p95" (drift, step)
	Text   string // the message, e.g. "latency of GET /orders/{id} grew +35% over the run (p = 0.002): possible leak or backlog"
	Fail   bool   // it failed the test; otherwise it is a warning

	P      float64 // the test's p-value
	From   float64 // fitted start (leak, drift) or level before (step), in microseconds
	To     float64 // fitted end or level after, in microseconds
	Change float64 // To/From − 1
	N      int     // values tested: windows (leak) or runs (drift, step)

	// A step's first run at the new level.
	At     time.Time
	Commit string
}
