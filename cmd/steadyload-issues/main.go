// Command steadyload-issues plans the GitHub issues of a results folder:
// one issue per failing finding, commented on while it keeps failing and
// closed once a complete run no longer finds it (see package issues). It
// changes nothing itself; it prints the plan as JSON lines, one action
// each, which a workflow step applies with the GitHub CLI:
//
//	gh issue list --label steadyload --state open --limit 1000 --json number,title >existing.json
//	steadyload-issues -results loadtest-results -existing existing.json -run-url "$RUN_URL" >plan.jsonl
//
//	{"action":"open","title":"steadyload: TestOrders GET /orders/{id} p95 regression","body":"…"}
//	{"action":"comment","number":12,"title":"steadyload: TestOrders GET /orders/{id} window p50 leak","body":"…"}
//	{"action":"close","number":9,"title":"steadyload: TestOrders abort","body":"…"}
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/steadyload/steadyload/internal/issues"
)

func main() {
	results := flag.String("results", "", "the results `folder` of the run (-loadtest.out)")
	existing := flag.String("existing", "", "the open issues, a JSON `file` from gh issue list --label steadyload --state open --json number,title")
	runURL := flag.String("run-url", "", "the `URL` of the workflow run, linked from each issue")
	flag.Parse()
	if *results == "" || *existing == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: steadyload-issues -results DIR -existing FILE [-run-url URL]")
		os.Exit(2)
	}
	if err := run(os.Stdout, *results, *existing, *runURL); err != nil {
		fmt.Fprintf(os.Stderr, "steadyload-issues: %v\n", err)
		os.Exit(1)
	}
}

func run(w io.Writer, results, existingFile, runURL string) error {
	data, err := os.ReadFile(existingFile)
	if err != nil {
		return err
	}
	var existing []issues.Existing
	if err := json.Unmarshal(data, &existing); err != nil {
		return fmt.Errorf("%s: %w", existingFile, err)
	}
	res, err := issues.Read(results)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, a := range issues.Plan(res, existing, runURL) {
		if err := enc.Encode(a); err != nil {
			return err
		}
	}
	return nil
}
