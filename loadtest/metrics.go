package loadtest

import (
	"flag"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/steadyload/steadyload/internal/livemetrics"
)

// metricsFlags are the flags of the live metrics.
type metricsFlags struct {
	listen   *string
	push     *string
	pushAll  *bool
	registry *prometheus.Registry // serves nothing, gathers in place (tests)
}

func newMetricsFlags(fs *flag.FlagSet) *metricsFlags {
	return &metricsFlags{
		listen:  fs.String("loadtest.listen", "", "serve the run's live metrics for Prometheus at http://`addr`/metrics, e.g. :9464"),
		push:    fs.String("loadtest.pushgateway", "", "push the run's final metrics to the Prometheus Pushgateway at this `URL` (job steadyload, grouped by test)"),
		pushAll: fs.Bool("loadtest.push-every-segment", false, "push to the Pushgateway at the end of every segment, not only the last"),
	}
}

// newMetricsPart makes the live metrics of r, or nil when neither a
// listen address nor a Pushgateway is set.
func newMetricsPart(r *runner, f *metricsFlags) (*livemetrics.Part, error) {
	if *f.listen == "" && *f.push == "" && f.registry == nil {
		return nil, nil
	}
	return livemetrics.New(r.info(), livemetrics.Config{
		Listen: *f.listen, PushURL: *f.push, PushEverySegment: *f.pushAll, RunID: r.runID, Version: Version,
		Registry: f.registry,
	})
}
