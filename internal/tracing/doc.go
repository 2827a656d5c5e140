// Package tracing makes each task of a run a trace, exported with the
// OpenTelemetry SDK over OTLP/HTTP, so that an exemplar or a slow window
// leads to a trace that has its root.
//
// A task is a root span named "task " and the task's key; each request
// the task makes through the run's transport is a child span of kind
// client, and the traceparent header the target receives names the
// request's span, so the target's own spans join the trace. The trace id
// a Task reports is the one the harness records with its exemplars.
//
// Every span is recorded; which traces are exported is decided when the
// task ends (tail sampling): a failed task is always exported, and so is
// one at least Config.Slow long, one slower than its task's running p99
// (a bounded number per window), and a random Config.Ratio of the rest.
// The slowest tasks of each window that none of these kept are held until
// the window closes and exported only if the recorder chose them as
// exemplars (Window matches them by trace id). Memory is bounded: the
// spans of tasks in progress, a few held tasks per task and window, and
// the exporter's queue, each with a fixed cap; what overflows is counted
// and dropped.
//
// The target is told sampled=1 in every traceparent, as the harness did
// before tracing: whether the harness exports a trace is known only once
// the task has ended, after the target decided whether to record its
// spans. A target that follows its parent's flag thus records every
// request of the run, and the traces the harness keeps are whole; the
// target's collector can drop the rest by the run's X-Loadtest-Run header
// or the harness's service name.
//
// Tracing is off unless an endpoint is configured, by Config.Endpoint
// or the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables; the exporter reads the
// other OTEL_EXPORTER_OTLP_* variables (headers, timeout, compression,
// certificates) itself. Off, a Tracer costs a nil check: StartTask and
// End allocate nothing and Transport returns its argument.
//
//	tr, err := tracing.New(info, tracing.Config{Endpoint: flagValue, RunID: runID})
//	client.Transport = tr.Transport(client.Transport)
//	// in the pipeline: tr with the observers (Start, Window, Stop)
//	ctx, task := tr.StartTask(ctx, ti)
//	// ... the task's requests with ctx; record task.TraceID() ...
//	task.End(latency, class)
//	defer tr.Close(context.Background())
package tracing
