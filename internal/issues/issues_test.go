package issues

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/findings"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/loadtest/result"
)

var t0 = time.Date(2026, 3, 1, 2, 17, 0, 0, time.UTC)

// run is one run's files in a results folder.
type run struct {
	base     string // the files' base; the test's FileBase when empty
	meta     result.Meta
	gate     []gate.Row       // nil: no gate file
	findings []result.Finding // with noFindings, no findings file
	noGate   bool
	noFinds  bool
}

func writeRuns(t *testing.T, runs ...run) string {
	t.Helper()
	dir := t.TempDir()
	for _, r := range runs {
		base := r.base
		if base == "" {
			base = result.FileBase(r.meta.Test)
		}
		p := filepath.Join(dir, base)
		m := r.meta
		if m.Model == "" {
			m.Model, m.Rate, m.MaxInFlight, m.Duration, m.Window, m.Env, m.RunID = "open", 10, 100, time.Minute, time.Second, "production", "abc123"
		}
		require.NoError(t, atomicfile.Write(p+"_meta.csv", func(w io.Writer) error { return result.WriteMeta(w, m) }))
		if !r.noGate {
			rep := &gate.Report{Rows: r.gate}
			require.NoError(t, atomicfile.Write(p+"_gate.csv", rep.WriteCSV))
		}
		if !r.noFinds {
			require.NoError(t, atomicfile.Write(p+findings.Suffix, func(w io.Writer) error { return findings.WriteCSV(w, r.findings) }))
		}
	}
	return dir
}

func row(task string, m gate.Metric, v gate.Verdict) gate.Row {
	return gate.Row{Task: task, Comparison: gate.Comparison{Metric: m, Verdict: v, Base: 10000, Cur: 15000, Delta: 0.5, P: 0.001, Tolerance: 0.1}}
}

func fixture(t *testing.T) string {
	leak := result.Finding{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: "latency of GET /orders grew +35%", Fail: true}
	drift := result.Finding{Kind: "drift", Task: "POST /orders", Metric: "p95", Text: "p95 crept"}
	return writeRuns(t,
		run{meta: result.Meta{Test: "TestOrders", Status: result.Complete, Start: t0},
			gate:     []gate.Row{row("GET /orders", gate.P95, gate.Regressed), row("POST /orders", gate.P95, gate.Same)},
			findings: []result.Finding{leak, drift}},
		// An older segment of the same test: not read.
		run{base: "TestOrders_old", meta: result.Meta{Test: "TestOrders", Status: result.Aborted, Reason: "old", Start: t0.Add(-time.Hour)}},
		run{meta: result.Meta{Test: "TestAborted", Status: result.Aborted, Reason: "37% of requests failed in 10s", Start: t0},
			gate: nil, findings: nil},
		run{meta: result.Meta{Test: "TestCut", Status: result.Interrupted, Reason: "deadline", Start: t0},
			gate: []gate.Row{row("GET /", gate.P95, gate.Same)}},
		run{meta: result.Meta{Test: "TestNoGate", Status: result.Complete, Start: t0}, noGate: true},
	)
}

func TestRead(t *testing.T) {
	res, err := Read(fixture(t))
	require.NoError(t, err)
	var titles []string
	for _, f := range res.Failing {
		titles = append(titles, f.Title())
	}
	assert.Equal(t, []string{
		"steadyload: TestAborted abort",
		"steadyload: TestOrders GET /orders p95 regression",
		"steadyload: TestOrders GET /orders window p50 leak",
	}, titles, "the failing findings: warnings, same rows and older segments left out")
	assert.Equal(t, "stopped by the abort guard: 37% of requests failed in 10s", res.Failing[0].Details)
	assert.Equal(t, "GET /orders p95: 10.000 → 15.000 ms (Δ 0.5000, p 0.0010, tolerance 0.1000)", res.Failing[1].Details)
	assert.Equal(t, "abc123", res.Failing[1].Meta.RunID)
	assert.Equal(t, map[string]Judged{
		"TestAborted": {},
		"TestCut":     {},
		"TestNoGate":  {Findings: true, Complete: true},
		"TestOrders":  {Regression: true, Findings: true, Complete: true},
	}, res.Judged)
}

func TestReadErrors(t *testing.T) {
	_, err := Read(t.TempDir())
	assert.ErrorContains(t, err, "no run in the folder")

	dir := writeRuns(t, run{meta: result.Meta{Test: "TestOrders", Status: result.Complete, Start: t0}})
	bad := filepath.Join(dir, "TestOrders"+findings.Suffix)
	require.NoError(t, os.WriteFile(bad, []byte("Kind,Task,Metric,Severity,P,From,To,Change,N,Text\nleak,GET /,p50,maybe,1,1,1,1,1,x\n"), 0o644))
	_, err = Read(dir)
	assert.ErrorContains(t, err, bad+`:2: Severity: "maybe"`)

	dir = writeRuns(t, run{meta: result.Meta{Test: "TestOrders", Status: result.Complete, Start: t0}})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "TestOrders_gate.csv"), []byte("Task\n"), 0o644))
	_, err = Read(dir)
	assert.ErrorContains(t, err, "TestOrders_gate.csv:1: header is")
}

func TestPlan(t *testing.T) {
	res, err := Read(fixture(t))
	require.NoError(t, err)
	existing := []Existing{
		{8, "steadyload: TestOrders abort"},                       // complete now: closed
		{1, "steadyload: TestOrders GET /orders p95 regression"},  // still failing: commented
		{2, "steadyload: TestOrders POST /orders p95 regression"}, // compared, not regressed: closed
		{7, "steadyload: TestOrders GET /orders window p50 leak"}, // a duplicate: the lower number is commented, this one left
		{3, "steadyload: TestOrders GET /orders window p50 leak"},
		{4, "steadyload: TestCut GET / window p50 leak"},         // cut short: left
		{5, "steadyload: TestGone abort"},                        // not in the folder: left
		{6, "steadyload: TestAborted GET / window p50 leak"},     // aborted: its findings not judged, left
		{9, "steadyload: TestNoGate GET / p95 regression"},       // no gate comparison: left
		{10, "steadyload: TestNoGate signal_queue_depth signal"}, // findings judged: closed
		{11, "a person's own issue with the label"},              // not of this shape: left
		{12, "steadyload: TestOrders"},                           // not of this shape: left
	}
	plan := Plan(res, existing, "https://github.com/o/r/actions/runs/1")
	var got []string
	for _, a := range plan {
		got = append(got, a.Action+" "+strconv.Itoa(a.Number)+" "+a.Title)
	}
	assert.Equal(t, []string{
		"open 0 steadyload: TestAborted abort",
		"comment 1 steadyload: TestOrders GET /orders p95 regression",
		"comment 3 steadyload: TestOrders GET /orders window p50 leak",
		"close 2 steadyload: TestOrders POST /orders p95 regression",
		"close 8 steadyload: TestOrders abort",
		"close 10 steadyload: TestNoGate signal_queue_depth signal",
	}, got, "Plan")

	assert.Equal(t, "**abort** in `TestAborted`, env `production`.\n\n```\nstopped by the abort guard: 37% of requests failed in 10s\n```\n\n"+
		"Run `abc123`, started 2026-03-01 02:17 UTC: https://github.com/o/r/actions/runs/1.\n\n"+
		"The nightly workflow keeps this issue: it comments each night the finding still fails and closes the issue the first night a complete run no longer finds it.\n",
		plan[0].Body, "the body of an open")
	assert.Contains(t, plan[2].Body, "Still failing.\n\n```\nlatency of GET /orders grew +35%\n```")
	assert.Equal(t, "Cleared: a complete run of `TestOrders` no longer finds it (https://github.com/o/r/actions/runs/1).\n", plan[3].Body)

	assert.Empty(t, Plan(&Results{Judged: map[string]Judged{}}, nil, ""), "nothing failing, nothing open")
}

func TestTitle(t *testing.T) {
	tests := []struct {
		key  Key
		want string
	}{
		{Key{"TestOrders", "GET /orders/{id}", "p95", "regression"}, "steadyload: TestOrders GET /orders/{id} p95 regression"},
		{Key{"TestOrders", "", "go_goroutines", "signal"}, "steadyload: TestOrders go_goroutines signal"},
		{Key{"TestOrders/steady", "", "", "abort"}, "steadyload: TestOrders/steady abort"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.key.Title(), "%+v.Title()", tt.key)
		test, kind, ok := parseTitle(tt.want)
		assert.True(t, ok, "parseTitle(%q)", tt.want)
		assert.Equal(t, []string{tt.key.Test, tt.key.Kind}, []string{test, kind}, "parseTitle(%q)", tt.want)
	}
}
