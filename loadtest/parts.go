package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/alert"
	"github.com/steadyload/steadyload/internal/drift"
	"github.com/steadyload/steadyload/internal/findings"
	"github.com/steadyload/steadyload/internal/gatecheck"
	"github.com/steadyload/steadyload/internal/leak"
	"github.com/steadyload/steadyload/internal/livemetrics"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/reportsink"
	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/internal/signalcheck"
	"github.com/steadyload/steadyload/internal/threshold"
)

// commandLine holds every -loadtest.* flag, registered on the default
// command line once, as the testing package registers -test.*. A flag
// that is set, on the command line or as its STEADYLOAD_* variable in the
// environment, overrides the scenario's field; one left unset leaves the
// field alone.
var commandLine = newCommandLine(flag.CommandLine, os.LookupEnv)

// flagSet is the harness's flags on one flag set: the core's and each
// part's.
type flagSet struct {
	core  *flags
	parts parts
}

// newCommandLine registers the harness's flags on fs. lookupEnv, when
// not nil, gives them their values from the environment at the first
// run, where the command line left them unset.
func newCommandLine(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) *flagSet {
	core := newFlags(fs)
	if lookupEnv != nil {
		core.vars = &envVars{lookup: lookupEnv}
	}
	return &flagSet{
		core: core,
		parts: parts{
			safety:   newSafetyFlags(fs),
			signals:  newSignalFlags(fs),
			history:  newHistoryFlags(fs),
			baseline: newBaselineFlags(fs),
			leak:     newLeakFlags(fs),
			report:   newReportFlags(fs),
			alert:    newAlertFlags(fs),
			metrics:  newMetricsFlags(fs),
			traces:   newTraceFlags(fs),
			limits:   newLimitFlags(fs),
		},
	}
}

// parts are the flags of the parts of a run beyond the load and its
// measurement. A nil member leaves its part out of the run: tests of one
// part run it alone.
type parts struct {
	safety   *safetyFlags   // the load ceiling, the output lock, the abort guard, back-off, the secret
	signals  *signalFlags   // server signals: scraped while the load runs, tested for a rise
	history  *historyFlags  // the run history: drift and steps across runs, τ for the gate
	baseline *baselineFlags // the gate against the baseline, and recording into it
	leak     *leakFlags     // the leak test within the run
	report   *reportFlags   // the HTML report, the exemplars and the job summary
	alert    *alertFlags    // findings, pauses and recoveries to a webhook
	metrics  *metricsFlags  // live metrics for Prometheus
	traces   *traceFlags    // client spans over OTLP
	limits   *limitFlags    // absolute thresholds beside the gate
}

// buildPipeline makes the run's pipeline from its parts, in the one order
// they always take. Every part reads its flags and scenario fields here,
// before any request: an invalid setting, a malformed baseline or history,
// or a folder that cannot be written is an error, and no load is sent.
// release undoes what the parts took (the output lock, the guard's
// watcher); it is safe to call whatever the error.
func (r *runner) buildPipeline(ps parts) (pipe *pipeline.Pipeline, release func(), err error) {
	var errs []error
	var undo []func()
	release = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	var (
		safe *safety
		sig  *signalcheck.Part
		hist *drift.Part
		gate *gatecheck.Part
		leak *leak.Part
		rep  *reportsink.Part
	)
	// The guard rails first: they put the secret on the transport and
	// take the output lock.
	if ps.safety != nil {
		safe, err = newSafety(r, ps.safety)
		errs = append(errs, err)
		if safe != nil {
			undo = append(undo, safe.release)
		}
	}
	if ps.signals != nil {
		sig, err = newSignalsPart(r, ps.signals)
		errs = append(errs, err)
	}
	// A shard neither gates nor records: its merged result is judged.
	if !r.plan.shard.Whole() {
		if ps.baseline != nil && *ps.baseline.update {
			errs = append(errs, fmt.Errorf("-loadtest.update with -loadtest.shard=%s: a shard records nothing; record the merged result with `steadyload baseline record`", r.plan.shard))
		}
		if ps.history != nil && *ps.history.append {
			errs = append(errs, fmt.Errorf("-loadtest.history with -loadtest.shard=%s: a shard appends nothing; append the merged result with `steadyload compare -history-append`", r.plan.shard))
		}
		ps.baseline, ps.history = nil, nil
	}
	// A duet judges its pairs, not a stored baseline: it neither gates
	// against one nor records into it.
	var duo *duetPart
	if r.duet != nil {
		duo = &duetPart{d: r.duet, segs: map[int]*duetSegment{}}
		if ps.baseline != nil {
			g, err := gateConfig(r, ps.baseline)
			errs = append(errs, err)
			r.duet.gate, r.duet.gated = g.Gate, g.Metrics
			if *ps.baseline.update {
				errs = append(errs, errors.New("-loadtest.update with a duet: a duet records no baseline"))
			}
		}
		ps.baseline, ps.history = nil, nil
	}
	// The history before the gate, which takes τ from it.
	var tau func(task, metric string) (float64, int, bool) // nil: never calibrated
	if ps.history != nil {
		hist, err = newHistoryPart(r, ps.history)
		errs = append(errs, err)
		if hist != nil {
			tau = hist.Tau
		}
	}
	if ps.baseline != nil {
		gate, err = newGatePart(r, ps.baseline, tau)
		errs = append(errs, err)
	}
	if ps.leak != nil {
		leak, err = newLeakPart(r, ps.leak)
		errs = append(errs, err)
	}
	var limits *threshold.Part
	if ps.limits != nil {
		limits, err = newThresholdPart(r, ps.limits)
		errs = append(errs, err)
	}
	if ps.report != nil {
		historyPath := ""
		if ps.history != nil {
			historyPath = historyFile(r, ps.history)
		}
		rep = newReportPart(r, ps.report, historyPath)
	}
	var alerts *alert.Part
	if ps.alert != nil {
		alerts, err = newAlertPart(r, ps.alert)
		errs = append(errs, err)
	}
	if ps.traces != nil {
		r.tracer, err = newTracer(r, ps.traces)
		errs = append(errs, err)
		if r.tracer != nil {
			undo = append(undo, func() { r.tracer.Close(context.Background()) })
			r.client.Transport = r.tracer.Transport(r.client.Transport)
		}
	}
	ex, err := newExplainPart(r, ps, sig, hist)
	errs = append(errs, err)
	var live *livemetrics.Part
	if ps.metrics != nil {
		live, err = newMetricsPart(r, ps.metrics)
		errs = append(errs, err)
		if live != nil {
			undo = append(undo, func() { live.Close() })
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, release, err
	}

	pipe = &pipeline.Pipeline{
		Evaluators: []pipeline.Evaluator{runChecks{r}},
		Sinks:      []pipeline.Sink{resultFiles{r}},
	}
	// While the load runs.
	if safe != nil {
		pipe.Observers = append(pipe.Observers, safe)
	}
	if r.tracer != nil {
		pipe.Observers = append(pipe.Observers, r.tracer)
	}
	if live != nil {
		pipe.Observers = append(pipe.Observers, live)
		r.outcomes = append(r.outcomes, live)
		r.events = append(r.events, live)
		r.lagObserver = live
	}
	if sig != nil {
		pipe.Observers = append(pipe.Observers, sig)
	}
	// At the end of the segment: against fixed limits, against the
	// baseline, what the guard saw, across runs, within the run.
	if limits != nil {
		pipe.Evaluators = append(pipe.Evaluators, limits)
	}
	if gate != nil {
		pipe.Evaluators = append(pipe.Evaluators, gate)
	}
	if duo != nil {
		pipe.Evaluators = append(pipe.Evaluators, duo)
	}
	if safe != nil {
		pipe.Evaluators = append(pipe.Evaluators, safe)
	}
	if hist != nil {
		pipe.Evaluators = append(pipe.Evaluators, hist)
	}
	if leak != nil {
		pipe.Evaluators = append(pipe.Evaluators, leak)
	}
	if sig != nil {
		pipe.Evaluators = append(pipe.Evaluators, sig)
	}
	// Last: which server signals moved with what the others found.
	if ex != nil {
		pipe.Evaluators = append(pipe.Evaluators, ex)
	}
	// Then written, the report last: it shows what all the others found.
	if gate != nil {
		pipe.Sinks = append(pipe.Sinks, gate)
	}
	if duo != nil {
		pipe.Sinks = append(pipe.Sinks, duo)
	}
	if hist != nil {
		pipe.Sinks = append(pipe.Sinks, hist)
	}
	if sig != nil {
		pipe.Sinks = append(pipe.Sinks, sig)
	}
	pipe.Sinks = append(pipe.Sinks, findings.New(r.info()))
	if rep != nil {
		pipe.Sinks = append(pipe.Sinks, rep)
	}
	// Last, the people: once the files they will be pointed to are there,
	// and the live metrics, which count every verdict.
	if alerts != nil {
		pipe.Sinks = append(pipe.Sinks, alerts)
		r.events = append(r.events, alerts)
	}
	if live != nil {
		pipe.Sinks = append(pipe.Sinks, live)
	}
	return pipe, release, nil
}

// runChecks is the harness's own judgement of a segment: a run cut short,
// no data, a task failing too often, a generator that could not keep its
// schedule.
type runChecks struct{ r *runner }

func (c runChecks) Evaluate(seg *pipeline.Segment) {
	for _, msg := range c.r.verdict(seg.Run) {
		seg.Failf("%s", msg)
	}
}

// resultFiles writes the segment's CSV files to the results folder and
// logs its summary table.
type resultFiles struct{ r *runner }

func (f resultFiles) Write(seg *pipeline.Segment) {
	r := f.r
	paths, err := seg.Run.WriteCSV(r.plan.out, seg.Name)
	if err == nil { // the histograms, so that the results read back exactly (steadyload)
		var path string
		path, err = runfiles.WriteHistograms(r.plan.out, seg.Name, seg.Run)
		paths = append(paths, path)
	}
	if err != nil {
		seg.Failf("results not written: %v", err)
	} else {
		r.tb.Logf("loadtest: results written to %s", strings.Join(paths, ", "))
	}
	if err := defeatTestCache(r.plan.out); err != nil {
		seg.Failf("%v", err)
	}
	r.tb.Log("\n" + summary(seg.Run))
}

// pacer holds or skips starts while the target asks the run to slow
// down: the back-off.
type pacer interface {
	// Note takes in a response's status and headers.
	Note(code int, h http.Header)
	// Wait holds a closed-model user while the target asked the run to
	// back off, no later than end; true means it waited.
	Wait(ctx context.Context, tm *time.Timer, end time.Time) bool
	// Skip reports whether an open-model start due at at is skipped.
	Skip(at time.Time) bool
}

type noPacer struct{}

func (noPacer) Note(int, http.Header)                             {}
func (noPacer) Wait(context.Context, *time.Timer, time.Time) bool { return false }
func (noPacer) Skip(time.Time) bool                               { return false }

func noScrub(s string) string { return s }

// info is what the parts know of r.
func (r *runner) info() pipeline.Info {
	return pipeline.Info{
		Test: r.tb.Name(), Env: r.env, Location: r.plan.location, Target: r.base, StandIn: r.standIn != "",
		Out: r.plan.out, Window: r.plan.Window, Shape: planMeta(r.plan), Tasks: r.taskNames,
		Logf: r.tb.Logf,
	}
}
