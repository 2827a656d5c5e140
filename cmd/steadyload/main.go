// Command steadyload works on the files load test runs leave — results
// folders, baselines, histories — and sends no load: it judges a stored
// run against its baseline with the harness's own gate (compare), tests
// and draws a stored history (history), renders a run's report (report),
// merges the results of the shards of one run (merge) and looks after
// baselines (baseline list, show, prune, record).
//
//	go install github.com/steadyload/steadyload/cmd/steadyload@latest
//	steadyload compare -baseline baseline loadtest-results
//
// Exit codes: 0 every run passed, 1 a run failed, 2 a usage error or
// input that cannot be read. See docs/cli.md.
package main

import (
	"os"

	"github.com/steadyload/steadyload/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
