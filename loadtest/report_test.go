package loadtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestReportEndToEnd runs a scenario against a loopback server whose heap
// gauge leaks, with a history whose p95 stepped up 30 % six runs ago, and
// checks the files a user gets: the HTML report with its charts, the
// exemplars CSV, and the Markdown step summary.
func TestReportEndToEnd(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	srv, _ := signalServer(t, 0.25, nil)
	sc := signalScenario(srv)
	sc.Env = "test"

	// The history of earlier runs at the same load shape.
	out := t.TempDir()
	path := history.Path(filepath.Join(out, "baseline"), "test", t.Name())
	rng := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	var rows []history.Row
	for i := range 20 {
		p95 := 5000 * (1 + 0.02*rng.NormFloat64())
		if i >= 14 {
			p95 *= 1.3
		}
		rows = append(rows, history.Row{
			Time: start.AddDate(0, 0, i), Commit: fmt.Sprintf("%040x", i), Shape: "open 50/s 2s", Task: "GET /work",
			Requests: 100, Rate: 50, P50: 2000, P90: 4000, P95: int64(p95), P99: 8000, SELnP95: math.NaN(), RunID: fmt.Sprintf("run%02d", i),
		})
	}
	require.NoError(t, history.Append(path, rows), "history.Append")

	fs := newFlagSet()
	fl, sf, rf, hf := newFlags(fs), newSignalFlags(fs), newReportFlags(fs), newHistoryFlags(fs)
	require.NoError(t, fs.Parse([]string{"-loadtest.out=" + out, "-loadtest.history-dir=" + filepath.Join(out, "baseline"), fastScrape}))
	tb := newCaptureTB(t)
	res := runWith(tb, sc, runOptions{flags: fl, parts: parts{signals: sf, history: hf, report: rf}})
	require.NotNil(t, res, "run failed: %s\nlog:\n%s", tb.messages(), tb.logText())
	require.False(t, tb.Failed(), "run failed: %s\nlog:\n%s", tb.messages(), tb.logText())
	base := filepath.Join(out, result.FileBase(t.Name()))

	page, err := os.ReadFile(base + "_report.html")
	require.NoError(t, err, "report")
	html := string(page)
	counts := []struct {
		what, re string
		min, max int
	}{
		{"charts: latency, throughput, 3 signals, history", `<svg class="chart"`, 6, 6},
		{"history step marker", `<line class="marker"`, 1, 1},
		{"exemplar circles", `<circle class="exemplar"`, 15, 25},
		{"signal finding", `<li class="warn"><span class="kind">signal</span>go_memstats_heap_inuse_bytes rose from`, 1, 1},
		{"external assets", `<script|<link|src="http`, 0, 0},
	}
	for _, c := range counts {
		n := len(regexp.MustCompile(c.re).FindAllString(html, -1))
		assert.GreaterOrEqual(t, n, c.min, "report: %s (%q); want %d to %d", c.what, c.re, c.min, c.max)
		assert.LessOrEqual(t, n, c.max, "report: %s (%q); want %d to %d", c.what, c.re, c.min, c.max)
	}
	assert.Contains(t, tb.logText(), "loadtest: report: file://", "log; want it to point at the report")

	csv, err := os.ReadFile(base + "_exemplars.csv")
	require.NoError(t, err, "exemplars CSV")
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Equal(t, "Timestamp,Window Offset (s),Type,Name,Rank,Response Time,Status,Class,Trace ID", lines[0], "exemplars CSV: header")
	require.GreaterOrEqual(t, len(lines), 1+3*15, "exemplars CSV: lines")
	traceID := regexp.MustCompile(`^[0-9.]+,[0-9.]+,GET,/work,[123],[0-9.]+,200,,[0-9a-f]{32}$`)
	for _, l := range lines[1:] {
		if !assert.Regexp(t, traceID, l, "exemplar row: want time, window, task, rank, latency, status 200, no class, a trace id") {
			break
		}
	}

	md, err := os.ReadFile(summary)
	require.NoError(t, err, "step summary")
	for _, want := range []string{"### ✅ " + t.Name() + " — complete", "| GET /work | ", "```mermaid\nxychart-beta\n", "p95 of GET /work per run (ms); step at 01-15"} {
		assert.Contains(t, string(md), want, "step summary")
	}
}
