package cli

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/loadtest/result"
)

// run runs the command and returns its exit code, standard output and
// standard error.
func run(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := Main(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// storedRun writes, into a new results folder, a complete open-model run
// "TestStored" of one task: 300 requests with latencies around ms
// milliseconds, fails failures; it returns the folder.
func storedRun(t *testing.T, seed uint64, ms float64, fails int64, start time.Time) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	task := &result.Task{Type: "GET", Name: "/x", Latency: result.NewHistogram(), Requests: 300, Failures: fails}
	for range 300 - fails {
		task.Latency.RecordValue(int64(ms * 1000 * (0.8 + 0.4*rng.Float64())))
	}
	total := &result.Task{Name: result.AggregateName, Requests: 300, Failures: fails, Latency: task.Latency}
	res := &result.Run{
		Meta: result.Meta{
			Test: "TestStored", RunID: fmt.Sprintf("run%d", seed), Status: result.Complete, Model: "open", Rate: 10, MaxInFlight: 100,
			Duration: 30 * time.Second, Window: 10 * time.Second, Grace: 5 * time.Second, Start: start, Elapsed: 30 * time.Second,
			Target: "http://x", Env: "e2e", Scheduled: 300,
		},
		Tasks: []*result.Task{task}, Total: total,
	}
	if fails > 0 {
		res.Failures = []result.Failure{{Type: "GET", Name: "/x", Class: "http", Error: "HTTP 503", Occurrences: fails}}
	}
	dir := t.TempDir()
	_, err := runfiles.Write(dir, "TestStored", res)
	require.NoError(t, err)
	return dir
}

var t0 = time.Date(2025, 6, 1, 2, 0, 0, 0, time.UTC)

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args     []string
		want     int
		inStdout string
		inStderr string
	}{
		{nil, ExitUsage, "", "Usage:"},
		{[]string{"help"}, ExitPass, "Commands:", ""},
		{[]string{"help", "compare"}, ExitPass, "usage: steadyload compare", ""},
		{[]string{"help", "baseline", "prune"}, ExitPass, "-keep", ""},
		{[]string{"help", "nope"}, ExitUsage, "", "unknown command"},
		{[]string{"nope"}, ExitUsage, "", `unknown command "nope"`},
		{[]string{"baseline", "nope"}, ExitUsage, "", `unknown command "baseline nope"`},
		{[]string{"compare"}, ExitUsage, "", "name at least one results folder"},
		{[]string{"compare", "-bogus", dir}, ExitUsage, "", "flag provided but not defined: -bogus"},
		{[]string{"compare", "-drift=sometimes", storedRun(t, 1, 20, 0, t0)}, ExitUsage, "", "-drift=sometimes: want warn, fail or off"},
		{[]string{"compare", dir}, ExitUsage, "", "no run: no <name>_meta.csv"},
		{[]string{"compare", filepath.Join(dir, "missing")}, ExitUsage, "", "no such file"},
		{[]string{"report"}, ExitUsage, "", "name at least one results folder"},
		{[]string{"merge", dir}, ExitUsage, "", "-o is required"},
		{[]string{"merge", "-o", dir, dir}, ExitUsage, "", "would overwrite a shard"},
		{[]string{"history"}, ExitUsage, "", "name one history file"},
		{[]string{"baseline", "prune", dir}, ExitUsage, "", "-keep=0"},
		{[]string{"baseline", "show"}, ExitUsage, "", "name a test's baseline directory"},
		{[]string{"baseline", "list", "extra"}, ExitUsage, "", "unexpected arguments"},
	} {
		code, out, errOut := run(tc.args...)
		assert.Equal(t, tc.want, code, "steadyload %q: exit code\nstdout:\n%s\nstderr:\n%s", tc.args, out, errOut)
		assert.Contains(t, out, tc.inStdout, "steadyload %q: stdout", tc.args)
		assert.Contains(t, errOut, tc.inStderr, "steadyload %q: stderr", tc.args)
	}
}

// TestCompareBadInput: a damaged results folder is exit code 2 and an
// error naming the file and line; so is a shard, which is judged merged.
func TestCompareBadInput(t *testing.T) {
	dir := storedRun(t, 1, 20, 0, t0)
	stats, _, _ := result.Files(dir, "TestStored")
	b, err := os.ReadFile(stats)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(stats, bytes.Replace(b, []byte("GET,/x,300,"), []byte("GET,/x,3x0,"), 1), 0o644))
	code, _, errOut := run("compare", "-baseline", t.TempDir(), dir)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, stats+":2: Request Count")

	dir = storedRun(t, 2, 20, 0, t0)
	meta := result.MetaFile(dir, "TestStored")
	f, err := os.OpenFile(meta, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	f.WriteString("shard,2/4\n")
	f.Close()
	code, _, errOut = run("compare", "-baseline", t.TempDir(), dir)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "shard 2/4 of run run2: merge the shards first")
}

// TestCompareChecks: the harness's own checks judge a stored run: a run
// cut short or failing too often fails (exit code 1) with or without a
// baseline; a healthy run without a baseline passes and says how to get
// one.
func TestCompareChecks(t *testing.T) {
	root := t.TempDir()
	code, out, _ := run("compare", "-baseline", root, storedRun(t, 1, 20, 0, t0))
	assert.Equal(t, ExitPass, code, out)
	assert.Contains(t, out, "NO BASELINE")
	assert.Contains(t, out, "PASS TestStored (run run1)")

	code, out, _ = run("compare", "-baseline", root, storedRun(t, 2, 20, 30, t0))
	assert.Equal(t, ExitFail, code, out)
	assert.Contains(t, out, `FAIL: task "GET /x": 30 of 300 requests failed (10.0% > 1%): 30× HTTP 503 (http)`)

	code, out, _ = run("compare", "-baseline", root, "-max-failure-ratio=0.2", storedRun(t, 3, 20, 30, t0))
	assert.Equal(t, ExitPass, code, "-max-failure-ratio raises the limit:\n%s", out)
}

// TestBaselineCommands: record three stored runs, list, show, judge a
// slower run against them, prune.
func TestBaselineCommands(t *testing.T) {
	root := t.TempDir()
	for i := range 3 {
		code, out, errOut := run("baseline", "record", "-baseline", root, storedRun(t, uint64(10+i), 20, 0, t0.Add(time.Duration(i)*time.Hour)))
		require.Equal(t, ExitPass, code, "record %d:\n%s%s", i, out, errOut)
		assert.Contains(t, out, "baseline: recorded run")
	}
	dir := baseline.Dir(root, "e2e", "TestStored")

	code, out, _ := run("baseline", "list", "-baseline", root)
	require.Equal(t, ExitPass, code, out)
	assert.Contains(t, out, "e2e  TestStored  3     open model, 10/s, at most 100 in flight, 30s  20250601T040000Z-run12")

	code, out, _ = run("baseline", "show", dir)
	require.Equal(t, ExitPass, code, out)
	for _, name := range []string{"20250601T020000Z-run10", "20250601T030000Z-run11", "20250601T040000Z-run12"} {
		assert.Contains(t, out, name)
	}
	assert.Contains(t, out, "gate (newest run): metrics p95,failures,rate, tolerance 10%")

	code, out, _ = run("compare", "-baseline", root, storedRun(t, 20, 20, 0, t0.Add(4*time.Hour)))
	assert.Equal(t, ExitPass, code, "the same latency passes:\n%s", out)
	code, out, _ = run("compare", "-baseline", root, storedRun(t, 21, 40, 0, t0.Add(4*time.Hour)))
	assert.Equal(t, ExitFail, code, "twice the latency regresses:\n%s", out)
	assert.Contains(t, out, "FAIL: baseline gate: GET /x: p95 rose")

	code, out, _ = run("baseline", "prune", "-keep", "1", dir)
	require.Equal(t, ExitPass, code, out)
	assert.Contains(t, out, "removed 20250601T020000Z-run10, 20250601T030000Z-run11")
	runs, err := baseline.Load(dir)
	require.NoError(t, err)
	require.Len(t, runs, 1)
	assert.Equal(t, "20250601T040000Z-run12", runs[0].Name)
	code, out, _ = run("baseline", "prune", "-keep", "1", dir)
	assert.Equal(t, ExitPass, code)
	assert.Contains(t, out, "nothing to prune")
}

// TestHistoryCommand: a history whose p95 stepped up is printed with the
// step, drawn, and fails with -fail.
func TestHistoryCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "e2e", "TestStored")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	var rows []history.Row
	for i := range 18 {
		p95 := int64(40000 + 200*(i%3))
		if i >= 12 {
			p95 *= 2
		}
		at := t0.Add(time.Duration(i) * 24 * time.Hour)
		for _, task := range []string{"GET /x", result.AggregateName} {
			rows = append(rows, history.Row{Time: at, Commit: fmt.Sprintf("c%02d", i), Shape: "open 10/s 30s", Task: task, Requests: 300,
				Rate: 10, P50: p95 / 2, P90: p95 * 9 / 10, P95: p95, P99: p95 * 2, SELnP95: 0.02, RunID: fmt.Sprintf("r%02d", i)})
		}
	}
	require.NoError(t, history.Append(filepath.Join(dir, history.FileName), rows))

	page := filepath.Join(t.TempDir(), "history.html")
	code, out, errOut := run("history", "-html", page, dir)
	require.Equal(t, ExitPass, code, "%s%s", out, errOut)
	assert.Contains(t, out, `load shape "open 10/s 30s", 18 runs`)
	assert.Contains(t, out, "warning: step: p95 of GET /x stepped from")
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Contains(t, string(b), "<svg")
	assert.Contains(t, string(b), "stepped from")

	code, out, _ = run("history", "-fail", filepath.Join(dir, history.FileName))
	assert.Equal(t, ExitFail, code, out)
	assert.Contains(t, out, "FAIL: step:")

	code, _, errOut = run("history", "-shape", "closed 1 users no-wait 1s", dir)
	assert.Equal(t, ExitUsage, code)
	assert.Contains(t, errOut, "no run of shape")
}

// TestReport: report writes the HTML page of a stored run, with the gate's
// table when there is a baseline.
func TestReport(t *testing.T) {
	root := t.TempDir()
	code, out, _ := run("baseline", "record", "-baseline", root, storedRun(t, 1, 20, 0, t0))
	require.Equal(t, ExitPass, code, out)
	dir := storedRun(t, 2, 20, 0, t0.Add(time.Hour))
	page := filepath.Join(t.TempDir(), "r.html")
	code, out, errOut := run("report", "-baseline", root, "-o", page, dir)
	require.Equal(t, ExitPass, code, "%s%s", out, errOut)
	b, err := os.ReadFile(page)
	require.NoError(t, err)
	assert.Contains(t, string(b), "Regression gate (against 1 baseline runs)")
	assert.True(t, strings.HasPrefix(string(b), "<!DOCTYPE html>"))
	assert.NoFileExists(t, filepath.Join(dir, "TestStored_gate.csv"), "report writes nothing but the report")
}
