package tracing

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// DefaultRatio is the fraction of the tasks that no other rule keeps
// which is exported all the same, when Config.Ratio is 0.
const DefaultRatio = 0.01

// ServiceName is the service.name of the harness's spans, unless
// OTEL_SERVICE_NAME says otherwise.
const ServiceName = "steadyload"

// Attributes the harness sets beside the semantic conventions'.
const (
	TaskKey    = attribute.Key("steadyload.task")          // the task's key, e.g. "GET /orders/{id}", on a task's root span
	LatencyKey = attribute.Key("steadyload.latency")       // the task's latency as the harness measured it, in seconds
	ClassKey   = attribute.Key("steadyload.failure.class") // the failure class of a failed task, e.g. "http", "timeout"
	TestKey    = attribute.Key("steadyload.test")          // the test's name, on the resource
	RunKey     = attribute.Key("steadyload.run.id")        // the run id (the X-Loadtest-Run header), on the resource
)

// Environment variables that name the OTLP endpoint; with neither set
// and no Config.Endpoint, tracing is off.
const (
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envQueueSize      = "OTEL_BSP_MAX_QUEUE_SIZE"
)

// tracesPath is the OTLP/HTTP path of traces under a base endpoint.
const tracesPath = "/v1/traces"

// queueSize is the exporter queue's capacity in spans, unless
// OTEL_BSP_MAX_QUEUE_SIZE says otherwise: a few seconds of failures at
// a high rate. A full queue drops spans (counted).
const queueSize = 16384

// closeTimeout bounds Close when its context has no earlier deadline.
const closeTimeout = 5 * time.Second

// Config is what tracing does in one run, resolved from the flags and the
// scenario before the part is made.
type Config struct {
	// Endpoint is the OTLP/HTTP collector's base URL, as
	// OTEL_EXPORTER_OTLP_ENDPOINT says it ("http://localhost:4318"):
	// traces go to its path joined with /v1/traces, unless the path
	// already ends so. It overrides the environment's endpoint; empty,
	// the environment's is used, and with none tracing is off.
	Endpoint string
	// Ratio is the fraction of the tasks no other rule keeps that is
	// exported: 0 means DefaultRatio, a negative value none.
	Ratio float64
	// Slow exports every task at least this slow; 0 leaves it to the
	// task's running p99.
	Slow time.Duration
	// Seed seeds the draws for Ratio; 0 draws a seed.
	Seed uint64
	// RunID and Version are recorded on the resource.
	RunID, Version string
	// Scrub blanks secrets out of recorded text (error messages); nil
	// records the text as it is.
	Scrub func(string) string
}

// Tracer is the tracing of one run: a trace per task, a client span per
// request, and the export of the traces worth keeping. Its methods may
// be called from many goroutines. A Tracer that is off (no endpoint),
// and a nil one, does nothing.
type Tracer struct {
	info     pipeline.Info
	endpoint string // where traces go, for the log: without credentials or query values
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	tail     *tail
	exporter *countingExporter
	names    []string // the root spans' names, by task index
	scrub    func(string) string

	closeOnce sync.Once
	closeErr  error
}

var _ pipeline.Observer = (*Tracer)(nil)

// New makes the tracing of the run info describes; it is off, and
// returns a Tracer that does nothing, when no endpoint is configured.
// Nothing is sent before the first task ends.
func New(info pipeline.Info, cfg Config) (*Tracer, error) {
	endpoint, err := resolveEndpoint(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	logEndpoint, err := endpointFromEnv()
	if err != nil {
		return nil, err
	}
	if endpoint != "" {
		u, _ := url.Parse(endpoint) // parsed before
		logEndpoint = redactURL(u)
	}
	if logEndpoint == "" {
		return &Tracer{info: info}, nil
	}
	var opts []otlptracehttp.Option
	if endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(endpoint))
	}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := newResource(info, cfg)
	if err != nil {
		return nil, err
	}
	ratio := cfg.Ratio
	switch {
	case ratio == 0:
		ratio = DefaultRatio
	case ratio < 0:
		ratio = 0
	}
	counting := &countingExporter{next: exp}
	var batchOpts []sdktrace.BatchSpanProcessorOption
	if os.Getenv(envQueueSize) == "" {
		batchOpts = append(batchOpts, sdktrace.WithMaxQueueSize(queueSize))
	}
	tl := newTail(sdktrace.NewBatchSpanProcessor(counting, batchOpts...), len(info.Tasks), ratio, cfg.Slow, cfg.Seed)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithSpanProcessor(tl),
	)
	names := make([]string, len(info.Tasks))
	for i, k := range info.Tasks {
		names[i] = "task " + k
	}
	return &Tracer{
		info: info, endpoint: logEndpoint, provider: tp,
		tracer:   tp.Tracer("github.com/steadyload/steadyload/internal/tracing", trace.WithSchemaURL(semconv.SchemaURL)),
		tail:     tl,
		exporter: counting,
		names:    names,
		scrub:    cfg.Scrub,
	}, nil
}

// resolveEndpoint returns the traces URL of a configured base endpoint,
// "" for none.
func resolveEndpoint(base string) (string, error) {
	if base == "" {
		return "", nil
	}
	u, err := parseEndpoint(base)
	if err != nil {
		return "", fmt.Errorf("otlp endpoint: %w", err)
	}
	if !strings.HasSuffix(u.Path, tracesPath) {
		u.Path = strings.TrimSuffix(u.Path, "/") + tracesPath
		u.RawPath = ""
	}
	return u.String(), nil
}

// endpointFromEnv returns the endpoint the environment names, without
// credentials, for the log; "" when it names none. The exporter reads
// the variables itself; they are checked here so that a malformed one
// stops the run instead of being logged by the SDK.
func endpointFromEnv() (string, error) {
	var found string
	for _, k := range []string{envEndpoint, envTracesEndpoint} {
		v := os.Getenv(k)
		if v == "" {
			continue
		}
		u, err := parseEndpoint(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", k, err)
		}
		found = redactURL(u) // the traces endpoint, when both are set
	}
	return found, nil
}

// parseEndpoint parses an OTLP/HTTP endpoint URL.
func parseEndpoint(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL with a host", redactURL(u))
	}
	return u, nil
}

// newResource describes the harness to the tracing backend: the service,
// the test, the run and the environment; OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES add to it or override it.
func newResource(info pipeline.Info, cfg Config) (*resource.Resource, error) {
	attrs := []attribute.KeyValue{semconv.ServiceName(ServiceName), TestKey.String(info.Test)}
	if cfg.Version != "" {
		attrs = append(attrs, semconv.ServiceVersion(cfg.Version))
	}
	if cfg.RunID != "" {
		attrs = append(attrs, RunKey.String(cfg.RunID))
	}
	if info.Env != "" {
		attrs = append(attrs, semconv.DeploymentEnvironmentNameKey.String(info.Env))
	}
	res, err := resource.New(context.Background(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	return res, nil
}

// Enabled reports whether t exports traces.
func (t *Tracer) Enabled() bool { return t != nil && t.provider != nil }

// Transport returns base wrapped so that each request made within a
// task is a client span, child of the task's span, whose context the
// traceparent header carries (replacing one already set). Requests made
// outside a task pass through untouched. Off, it returns base.
func (t *Tracer) Transport(base http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return base
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{base: base, tracer: t.tracer, scrub: t.scrub}
}

// Task is a task in progress, as tracing sees it; the zero Task, which
// StartTask returns when tracing is off, does nothing.
type Task struct {
	t    *Tracer
	span trace.Span
	task int
}

// StartTask starts the root span of a run of task (an index into
// pipeline.Info.Tasks) and returns ctx carrying it: the task's requests
// must be made with that context. Off, it returns ctx and the zero Task.
func (t *Tracer) StartTask(ctx context.Context, task int) (context.Context, Task) {
	if !t.Enabled() {
		return ctx, Task{}
	}
	ctx, span := t.tracer.Start(ctx, t.names[task],
		trace.WithNewRoot(), trace.WithAttributes(TaskKey.String(t.info.Tasks[task])))
	t.tail.begin(span.SpanContext().TraceID())
	return ctx, Task{t: t, span: span, task: task}
}

// TraceID returns the task's trace id, which the harness records with
// its exemplars; zero when tracing is off.
func (k Task) TraceID() [16]byte {
	if k.span == nil {
		return [16]byte{}
	}
	return k.span.SpanContext().TraceID()
}

// End ends the task's span with its latency as the harness measured it
// and its failure class ("" for a success), and decides whether its trace
// is exported. Call it once, after the task's requests are done.
func (k Task) End(latency time.Duration, class string) {
	if k.span == nil {
		return
	}
	k.span.SetAttributes(LatencyKey.Float64(latency.Seconds()))
	if class != "" {
		k.span.SetAttributes(ClassKey.String(class))
		k.span.SetStatus(codes.Error, class)
	}
	k.span.End()
	k.t.tail.finish(k.span.SpanContext().TraceID(), k.task, latency, class != "")
}

// Start is part of pipeline.Observer; tracing needs nothing at the start.
func (t *Tracer) Start(ctx context.Context, t0 time.Time) {}

// Window exports the held traces that the closed window's rows name as
// exemplars, and drops those held longer than a window.
func (t *Tracer) Window(rows []result.Window) {
	if !t.Enabled() {
		return
	}
	var ids []trace.TraceID
	for _, r := range rows {
		for _, e := range r.Exemplars {
			var id trace.TraceID
			if n, err := hex.Decode(id[:], []byte(e.TraceID)); err == nil && n == len(id) && id.IsValid() {
				ids = append(ids, id)
			}
		}
	}
	t.tail.window(ids)
}

// EndSegment closes the tracing, bounded in time, when the load has
// ended (seg.Last); an export that failed is a warning of the segment.
func (t *Tracer) EndSegment(seg *pipeline.Segment) {
	if !seg.Last {
		return
	}
	if err := t.Close(context.Background()); err != nil {
		seg.Warnf("traces: %v", err)
	}
}

// Close exports what is queued and shuts the exporter down, within ctx's
// deadline or 5 seconds, whichever is sooner; it logs how many traces
// were exported and why. It returns an error when exports failed or
// spans were dropped. Close is idempotent: later calls return the first
// call's result.
func (t *Tracer) Close(ctx context.Context) error {
	if !t.Enabled() {
		return nil
	}
	t.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, closeTimeout)
		defer cancel()
		err := t.provider.Shutdown(ctx)
		st := t.tail.stats()
		sent, failed, lastErr := t.exporter.counts()
		if t.info.Logf != nil {
			t.info.Logf("loadtest: traces to %s: %d of %d tasks kept (%d failed, %d slow, %d exemplars, %d sampled); %d spans exported",
				t.endpoint, st.keptTasks(), st.tasks, st.kept[reasonFailed], st.kept[reasonSlow], st.kept[reasonExemplar], st.kept[reasonRatio], sent)
		}
		var errs []error
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("export to %s did not finish: %s; %d of %d spans confirmed",
				t.endpoint, t.scrubText(err.Error()), sent, st.keptSpans))
		case failed > 0:
			errs = append(errs, fmt.Errorf("%d of %d spans not exported to %s: %s",
				failed, st.keptSpans, t.endpoint, t.scrubText(lastErr.Error())))
		case st.keptSpans > sent:
			errs = append(errs, fmt.Errorf("%d of %d spans dropped: the export queue was full", st.keptSpans-sent, st.keptSpans))
		}
		if st.overflow > 0 {
			errs = append(errs, fmt.Errorf("%d spans not recorded: they ended after their task, or beyond %d tasks in progress or %d spans per task",
				st.overflow, t.tail.maxOpen, t.tail.maxSpans))
		}
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}

func (t *Tracer) scrubText(s string) string {
	if t.scrub == nil {
		return s
	}
	return t.scrub(s)
}

// countingExporter passes spans on to the OTLP exporter and counts what
// it sent and what failed, so that a failure is reported once, at Close,
// instead of through the SDK's global error handler.
type countingExporter struct {
	next sdktrace.SpanExporter

	mu           sync.Mutex
	sent, failed int
	lastErr      error
}

func (e *countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.next.ExportSpans(ctx, spans)
	e.mu.Lock()
	if err != nil {
		e.failed += len(spans)
		e.lastErr = err
	} else {
		e.sent += len(spans)
	}
	e.mu.Unlock()
	return nil
}

func (e *countingExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

func (e *countingExporter) counts() (sent, failed int, lastErr error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.sent, e.failed, e.lastErr
}
