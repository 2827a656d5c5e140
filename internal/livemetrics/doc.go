// Package livemetrics shows a run's figures live, where SREs look: it
// serves them on /metrics in the Prometheus exposition formats (text,
// OpenMetrics with exemplars, protobuf with native histograms) and, for
// short CI runs, pushes them to a Pushgateway at the end.
//
// A run without end is judged segment by segment while the load goes on;
// its result files appear only as each segment ends. Live metrics are the
// view between: requests and failures by class, latency with the slow
// requests' trace ids as exemplars, the load in flight, the schedule's
// lag, the run's state, and, as each segment is judged, the gate's ratios
// and verdicts, the server signals' last values and the findings.
//
// The metric names and labels are an interface: alert rules and
// dashboards are written against them, so they do not change. Every
// series carries test, the Go test's name; per-task series carry task,
// the task's key ("GET /orders/{id}").
//
//	steadyload_requests_total{test,task}                  counter
//	steadyload_failures_total{test,task,class}            counter
//	steadyload_request_duration_seconds{test,task}        histogram, classic and native, exemplars {trace_id}
//	steadyload_in_flight{test}                            gauge
//	steadyload_start_lag_seconds{test}                    histogram, classic and native
//	steadyload_state{test,state}                          gauge 0/1: running, paused, probing, stopped
//	steadyload_gate_ratio{test,task,metric}               gauge
//	steadyload_gate_regressed{test,task,metric}           gauge 0/1
//	steadyload_signal{test,signal}                        gauge: last finite value, at most 100 signals
//	steadyload_findings_total{test,kind}                  counter
//	steadyload_segments_total{test,verdict}               counter: pass, fail
//	steadyload_segment_end_timestamp_seconds{test}        gauge
//	steadyload_info{test,env,target,run_id,version}       gauge 1
//
// Tasks cut off by the run's own end (class stopped) say nothing about
// the target and are counted nowhere, as the abort guard ignores them:
// steadyload_failures_total / steadyload_requests_total is the target's
// failure ratio, and steadyload_request_duration_seconds_count the
// successful requests.
//
// The part is an observer (Start, Window, Stop), an outcome observer
// (Outcome, on the engine's hot path, free of allocations but for an
// exemplar, at most one a second per task and bucket) and a sink (Write,
// at the end of each segment). Its listener opens in New, so a bad
// address stops the test before any load, and closes in Close, so the
// next test of the process can listen on the same address.
//
//	m, err := livemetrics.New(info, livemetrics.Config{Listen: ":9464", RunID: id, Version: v})
//	if err != nil {
//		return err // nothing sent yet
//	}
//	defer m.Close()
//	// observers: m (Start, Window, Stop); outcome observers: m (Outcome);
//	// the open model's workers: m.ObserveLag(lag) per start;
//	// the run: m.SetState(livemetrics.Paused) and back;
//	// sinks, after every other: m (Write).
package livemetrics
