package loadtest

import (
	"flag"

	"github.com/steadyload/steadyload/internal/tracing"
)

// traceFlags are the flags of the traces.
type traceFlags struct {
	endpoint *string
}

func newTraceFlags(fs *flag.FlagSet) *traceFlags {
	return &traceFlags{
		endpoint: fs.String("loadtest.otlp", "", "export a client span per request over OTLP/HTTP to this `URL` (default: $OTEL_EXPORTER_OTLP_ENDPOINT; none when neither is set): every failure and every exemplar, 1% of the rest"),
	}
}

// newTracer makes the tracing of r, or nil when it is off: no endpoint in
// the flag or the environment.
func newTracer(r *runner, f *traceFlags) (*tracing.Tracer, error) {
	t, err := tracing.New(r.info(), tracing.Config{
		Endpoint: *f.endpoint, RunID: r.runID, Version: Version,
		Scrub: func(s string) string { return r.scrub(s) },
	})
	if err != nil || !t.Enabled() {
		return nil, err
	}
	return t, nil
}
