// Package promquery reads a service's own signals from the Prometheus
// that already scrapes it (or Thanos, Mimir, VictoriaMetrics: anything
// that answers the Prometheus HTTP API), rather than from one /metrics
// URL behind a load balancer, where each scrape reaches a random replica.
//
// A Querier evaluates named PromQL expressions as range queries over a
// stretch of the run, one point per window, with client_golang's
// api/prometheus/v1 client. Each query's points become samples of a
// server signal named after the query, so they join the scraped signals:
// the signals CSV, the rise test, the history and the report.
//
// The stance: a query that fails or returns nothing is named once, and
// the load goes on; a Prometheus that cannot be reached at all is one
// warning, not one per query.
//
//	q, err := promquery.New(promquery.Config{URL: "http://prometheus:9090", Queries: promquery.DefaultQueries})
//	samples, warnings := q.Samples(ctx, t0, from, to, time.Second)
//
// DefaultQueries, used when a scenario names none, read the Go runtime,
// the process and HTTP servers instrumented after the Prometheus naming
// conventions, summed over every series Prometheus holds: a scenario
// against a shared Prometheus names its own, with the service's labels.
package promquery
