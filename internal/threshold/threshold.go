// Package threshold is the absolute limits of a run, beside the gate's
// comparison with the baseline: a task's or the aggregate's latency
// percentile, failure ratio or rate held against a fixed figure, as k6's
// thresholds. A segment that misses a threshold fails, with the figure,
// whether or not there is a baseline.
//
//	ts, err := threshold.ParseList([]string{"p95 < 300ms", "GET /orders/{id}: failures < 0.5%", "rate > 9.5/s"})
//	p, err := threshold.New(info, threshold.Config{Thresholds: ts})
//	// in the pipeline: p.Evaluate(seg) with the evaluators
package threshold

import (
	"fmt"
	"strings"

	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is the thresholds of one run, resolved from the flags and the
// scenario before the part is made.
type Config struct {
	Thresholds []Threshold
	// Source names where the thresholds come from in messages, e.g.
	// "Scenario.Thresholds" or "-loadtest.threshold".
	Source string
}

// Part holds a run's thresholds and judges each segment by them.
type Part struct {
	info pipeline.Info
	ts   []Threshold
}

var _ pipeline.Evaluator = (*Part)(nil)

// New makes the thresholds' part of the run info describes. A threshold
// may name a task or a name recorded inside the tasks (Request.Name,
// User.Record), which appears only as the run goes on: one that names
// neither fails the segment, in Evaluate.
func New(info pipeline.Info, cfg Config) (*Part, error) {
	return &Part{info: info, ts: cfg.Thresholds}, nil
}

// Evaluate judges the segment by every threshold, in order: a missed one
// fails it with the figure. Latency and rate are the generator's when it
// was starved or suspended, and nothing is the target's whole answer in
// a segment cut short: there a miss is a warning. A figure that cannot
// be had (no successful request for a latency, no request for a failure
// ratio) is a warning too.
func (p *Part) Evaluate(seg *pipeline.Segment) {
	res := seg.Run
	var held []string
	for _, t := range p.ts {
		task := taskOf(res, t.Task)
		if task == nil && t.Task != "" {
			seg.Failf("threshold %q: no task or name %q in this run (its rows: %s)", t.Expr, t.Task, quoteAll(rowKeys(res)))
			continue
		}
		fig, shown, ok := figure(res, task, t)
		if !ok {
			seg.Warnf("threshold %q not judged: %s", t.Expr, shown)
			continue
		}
		if t.Holds(fig) {
			held = append(held, fmt.Sprintf("%s: %s", t.Expr, shown))
			continue
		}
		text := fmt.Sprintf("threshold %q missed: %s was %s", t.Expr, subject(t), shown)
		switch {
		case res.Meta.Status != result.Complete:
			seg.Warnf("%s (the segment is %s: not judged)", text, res.Meta.Status)
		case res.Meta.Starved > 0 && t.Kind != Failures:
			seg.Warnf("%s (not judged: the generator was starved or suspended in %d window(s) of this segment, its figures are not the target's)", text, res.Meta.Starved)
		default:
			seg.Failf("%s", text)
		}
	}
	if len(held) > 0 {
		p.info.Logf("loadtest: thresholds held: %s", strings.Join(held, "; "))
	}
}

// taskOf is the row of res named key, the aggregate for "", nil when
// there is none.
func taskOf(res *result.Run, key string) *result.Task {
	if key == "" {
		return res.Total
	}
	for _, t := range res.Tasks {
		if t.Key() == key {
			return t
		}
	}
	return nil
}

// rowKeys are the keys of res's rows, tasks and names.
func rowKeys(res *result.Run) []string {
	keys := make([]string, len(res.Tasks))
	for i, t := range res.Tasks {
		keys[i] = t.Key()
	}
	return keys
}

// figure is the figure t limits, in its unit, and as a person reads it;
// ok false when it cannot be had, and then shown says why.
func figure(res *result.Run, task *result.Task, t Threshold) (fig float64, shown string, ok bool) {
	name := "all tasks"
	if t.Task != "" {
		name = fmt.Sprintf("task %q", t.Task)
	}
	if task == nil {
		return 0, name + " has no request in this segment", false
	}
	switch t.Kind {
	case Failures:
		if task.Requests == 0 {
			return 0, name + " has no request in this segment", false
		}
		r := task.FailureRatio()
		return r, fmt.Sprintf("%s (%d of %d requests)", numfmt.Percent(r), task.Failures, task.Requests), true
	case Rate:
		secs := res.Meta.Elapsed.Seconds()
		if secs <= 0 {
			return 0, "the segment has no elapsed time", false
		}
		r := float64(task.Requests) / secs
		return r, fmt.Sprintf("%s/s (%d requests in %s)", trimFloat(r), task.Requests, res.Meta.Elapsed.Round(1e6)), true
	}
	h := task.Latency
	if h == nil || h.TotalCount() == 0 {
		return 0, name + " has no successful request in this segment", false
	}
	var us float64
	switch t.Metric {
	case "max":
		us = float64(h.Max())
	case "mean":
		us = h.Mean()
	default:
		us = float64(h.ValueAtQuantile(t.Quantile))
	}
	return us, fmt.Sprintf("%s (%d successful requests)", numfmt.Millis(us), h.TotalCount()), true
}

// subject names the figure of t: "p95 of all tasks", "failures of task "GET /"".
func subject(t Threshold) string {
	if t.Task == "" {
		return t.Metric + " of all tasks"
	}
	return fmt.Sprintf("%s of task %q", t.Metric, t.Task)
}

// trimFloat writes f with two decimals, trailing zeros dropped.
func trimFloat(f float64) string {
	s := fmt.Sprintf("%.2f", f)
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// quoteAll quotes each of ss, comma-separated.
func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
