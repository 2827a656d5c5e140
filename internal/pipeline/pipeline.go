// Package pipeline is the order in which the parts of a run meet.
//
// The engine sends load and closes a window of measurements every
// Window; each closed window goes to the observers while the load runs
// (the abort guard, the server signals' scraper, live outputs). At the end
// of a segment — the whole run, unless it is cut into segments — the
// segment is judged by the evaluators (the harness's own checks, the gate
// against the baseline, the leak, drift and signal-trend tests) and then
// written by the sinks (the result files, the baseline, the history, the
// report). Every part
// records what it found in the segment as data; whether the test fails is
// decided once, from the segment's verdicts, after the last sink.
//
// The order is fixed by the lists a Pipeline is built from: nothing
// registers itself. A new sink is a type with a Write method, added to
// the list where the run builds its pipeline; the engine does not change.
package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Observer watches the load while it runs.
type Observer interface {
	// Start is called once, when the load starts at t0; ctx ends with
	// the test.
	Start(ctx context.Context, t0 time.Time)
	// Window is called with each closed window's rows: one per task,
	// then the aggregate. It must return quickly; it runs on the clock.
	Window(rows []result.Window)
	// EndSegment is called at the end of each segment, before it is
	// judged, to attach what the observer gathered during it; seg.Last
	// says the load has ended. It runs on the run's clock for every
	// segment but the last: it must be quick.
	EndSegment(seg *Segment)
}

// Outcome is one finished task, as the engine measured it.
type Outcome struct {
	Task    int           // the task's index in the run's list of tasks (see Info.Tasks)
	End     time.Time     // when it ended
	Latency time.Duration // from its scheduled start (open model) or its start
	Class   string        // empty for a success, else the failure class, e.g. "http", "timeout"
	Status  int           // the last HTTP status seen; 0 when none
	TraceID [16]byte      // the trace id its requests carried; zero when none
}

// OutcomeObserver is told of every finished task, on the engine's hot
// path: Outcome must be quick, must not keep a pointer into o, and is
// called from many goroutines at once.
type OutcomeObserver interface {
	Outcome(o Outcome)
}

// EventKind names what happened to a run between two segments' ends.
type EventKind string

// The events of a run without end.
const (
	Paused  EventKind = "paused"  // the target is unhealthy: all load stopped
	Probing EventKind = "probing" // a probe of the paused target is under way
	Resumed EventKind = "resumed" // the target recovered: the load resumed
)

// Event is something the run announces as it happens, not at a segment's
// end.
type Event struct {
	Kind   EventKind
	At     time.Time
	Text   string        // what a person reads, e.g. "target unhealthy: …; load paused"
	Outage time.Duration // for Resumed: how long the load was paused
}

// EventSink is told of a run's events as they happen; Event must return
// quickly.
type EventSink interface {
	Event(e Event)
}

// Evaluator judges a segment once its data is complete, adding what it
// finds to the segment: findings, verdicts, its report.
type Evaluator interface {
	Evaluate(seg *Segment)
}

// Sink writes a judged segment somewhere: files, the baseline, the
// history, a report. A sink that cannot write records a failed verdict;
// it never stops the sinks after it.
type Sink interface {
	Write(seg *Segment)
}

// Segment is a stretch of a run judged as a whole: its measured data and
// everything the evaluators said of it. A run of fixed duration is one
// segment; a run without end is cut into segments of equal length, each
// judged and written while the load goes on.
type Segment struct {
	*result.Run
	Index    int             // from 0, in the run's order
	Name     string          // the base of its files' names: the test's for a run of one segment, with the segment's start time appended for each of a run without end
	Last     bool            // the run's last segment
	Gate     *gate.Report    // the comparison with the baseline; nil when there is no gate
	Signals  *signals.Report // the server signals sampled; nil when none were
	Verdicts []Verdict       // in the order they were given
	// Explanations say which server signals moved with the segment's
	// latency findings, in the findings' order; none for a finding that
	// nothing followed.
	Explanations []Explanation
}

// Explanation is what moved with one latency finding: the server signals
// that followed the task's latency, read beside the finding. It names
// what moved together, never a cause.
type Explanation struct {
	Kind   string // the finding's: "regression" (a gate row), "leak", "drift" or "step"
	Task   string
	Metric string // e.g. "p95", "window p50"
	Text   string // e.g. "moved with it: db latency (ρ = +0.93, step p < 0.0001, 28 windows; 2ms → 31ms, +1450%)"
}

// Explained returns the explanation of the finding of kind on task's
// metric; "" when there is none.
func (s *Segment) Explained(kind, task, metric string) string {
	for _, e := range s.Explanations {
		if e.Kind == kind && e.Task == task && e.Metric == metric {
			return e.Text
		}
	}
	return ""
}

// Verdict is one thing a part of the pipeline decided about a segment.
type Verdict struct {
	Fail bool   // it fails the test; otherwise it is a warning
	Text string // what was found, e.g. `task "GET /": 12 of 200 requests failed`
}

// Failf records a failed verdict.
func (s *Segment) Failf(format string, args ...any) {
	s.Verdicts = append(s.Verdicts, Verdict{Fail: true, Text: fmt.Sprintf(format, args...)})
}

// Warnf records a warning.
func (s *Segment) Warnf(format string, args ...any) {
	s.Verdicts = append(s.Verdicts, Verdict{Text: fmt.Sprintf(format, args...)})
}

// Find records findings, and a verdict for each.
func (s *Segment) Find(found ...result.Finding) {
	for _, f := range found {
		s.Findings = append(s.Findings, f)
		s.Verdicts = append(s.Verdicts, Verdict{Fail: f.Fail, Text: f.Text})
	}
}

// Failed reports whether any verdict failed the segment.
func (s *Segment) Failed() bool {
	for _, v := range s.Verdicts {
		if v.Fail {
			return true
		}
	}
	return false
}

// Pipeline is the parts of a run in their order. Nil members of the
// lists are skipped, so a part that is switched off can stay in place.
type Pipeline struct {
	Observers  []Observer
	Evaluators []Evaluator
	Sinks      []Sink
}

// Start starts the observers, in order.
func (p *Pipeline) Start(ctx context.Context, t0 time.Time) {
	for _, o := range p.Observers {
		if o != nil {
			o.Start(ctx, t0)
		}
	}
}

// Window hands a closed window to the observers, in order.
func (p *Pipeline) Window(rows []result.Window) {
	for _, o := range p.Observers {
		if o != nil {
			o.Window(rows)
		}
	}
}

// EndSegment tells the observers a segment has ended, in order; they may
// attach what they gathered to seg.
func (p *Pipeline) EndSegment(seg *Segment) {
	for _, o := range p.Observers {
		if o != nil {
			o.EndSegment(seg)
		}
	}
}

// Finish judges seg with every evaluator, then writes it with every sink,
// each in order.
func (p *Pipeline) Finish(seg *Segment) {
	for _, e := range p.Evaluators {
		if e != nil {
			e.Evaluate(seg)
		}
	}
	for _, s := range p.Sinks {
		if s != nil {
			s.Write(seg)
		}
	}
}

// Info is what every part knows of the run it belongs to, fixed before
// the first request.
type Info struct {
	Test    string        // the test's name, as testing.TB says it
	Env     string        // the target environment's name, which keys baselines and history
	Target  string        // the target's base URL, without a trailing slash
	StandIn bool          // the target is a stand-in the run started
	Out     string        // the results folder
	Window  time.Duration // the length of a window
	Shape   result.Meta   // the load shape, as the run's metadata will say it (model, rate or users, wait, duration)
	Tasks   []string      // the tasks' keys, e.g. "GET /orders/{id}", by Outcome.Task; the per-user setup is "OnStart"

	// Location is where the load comes from (-loadtest.location), e.g.
	// "eu-west"; empty when not said. Baselines and history are kept per
	// environment and location (result.EnvFolder), and live outputs may
	// label what they send with it.
	Location string

	// Logf logs a line through the test's testing.TB; parts log nothing
	// any other way.
	Logf func(format string, args ...any)
}
