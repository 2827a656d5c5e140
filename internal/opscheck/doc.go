// Package opscheck checks the operations files of deploy/ — Prometheus
// rules and a Grafana dashboard — against a real Prometheus: Debian's
// prometheus and promtool, installed with apt-get when missing, the
// server run as a child of the test on a loopback port with a
// configuration and data directory of its own.
//
//	tools := opscheck.FindTools(t) // skips, or fails when STEADYLOAD_REQUIRE_PROMETHEUS=1
//	srv := opscheck.Start(t, tools, opscheck.Config{Targets: []string{target}})
//	qs, err := opscheck.DashboardQueries(dashboardJSON)
//	// expand each with Expand, then srv.Query(ctx, expr) must have data
//
// The package holds no metrics of its own: what Prometheus scrapes is
// the caller's.
package opscheck
