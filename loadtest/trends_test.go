package loadtest

import (
	"context"
	"flag"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/drift/drifttest"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/loadtest/result"
)

var longTrends = flag.Bool("trends.long", false, "run the long trend tests: 5-minute leak runs")

// runTrends runs sc against a real loopback server with the history and
// leak features on their own flag set, results in a temporary directory.
func runTrends(t *testing.T, sc Scenario, args ...string) (*result.Run, *captureTB) {
	t.Helper()
	fs := newFlagSet()
	fl := newFlags(fs)
	lf, hf := newLeakFlags(fs), newHistoryFlags(fs)
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + t.TempDir()}, args...)))
	// These tests are about trends, not the generator's schedule keeping,
	// which a busy machine may disturb.
	if sc.MaxLateRatio == 0 {
		sc.LateTolerance, sc.MaxLateRatio = 100*time.Millisecond, 0.5
	}
	tb := newCaptureTB(t)
	res := resultOf(runWith(tb, sc, runOptions{flags: fl, parts: parts{history: hf, leak: lf}}))
	return res, tb
}

// growingServer answers after a delay that grows linearly from base by
// growth over span, counted from its first request.
func growingServer(t *testing.T, base time.Duration, growth float64, span time.Duration) (string, *atomic.Int64) {
	var first atomic.Int64
	srv, n := countingServer(t, 0, func(w http.ResponseWriter, r *http.Request) {
		now := time.Now().UnixNano()
		first.CompareAndSwap(0, now)
		frac := math.Min(1, float64(now-first.Load())/float64(span))
		time.Sleep(time.Duration(float64(base) * (1 + growth*frac)))
		w.Write([]byte("ok"))
	})
	return srv.URL, n
}

func orderTask(name string) Task {
	return Task{Name: name, Do: func(ctx context.Context, u *User) error {
		_, err := u.Get(ctx, "/orders/1")
		return err
	}}
}

// TestLeakRun: a server whose latency grows +60% over the run is flagged,
// naming the task; an unchanged one is not. 40 windows of 100 ms at 200
// req/s (with -trends.long: 5 minutes, 10-s windows, 10 req/s).
func TestLeakRun(t *testing.T) {
	dur, win, rate, base := 4*time.Second, 100*time.Millisecond, 200.0, 10*time.Millisecond
	if *longTrends {
		dur, win, rate, base = 5*time.Minute, 10*time.Second, 10, 20*time.Millisecond
	}
	for _, tt := range []struct {
		name   string
		growth float64
		leak   bool
	}{
		{"grows +60%", 0.6, true},
		{"unchanged", 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url, _ := growingServer(t, base, tt.growth, dur)
			sc := Scenario{Host: url, Rate: rate, Duration: dur, Window: win, Tasks: []Task{orderTask("GET /orders/{id}")}}
			res, tb := runTrends(t, sc)
			require.False(t, tb.Failed(), "run failed: %s", tb.messages())
			var leaks []result.Finding
			for _, f := range res.Findings {
				if f.Kind == "leak" {
					leaks = append(leaks, f)
				}
			}
			logs := strings.Join(tb.logs, "\n")
			if !tt.leak {
				assert.Empty(t, leaks, "leak findings on an unchanged server")
				return
			}
			require.Len(t, leaks, 1, "leak findings in %+v; want one of GET /orders/{id}\n%s", res.Findings, logs)
			f := leaks[0]
			t.Log(f.Text)
			assert.Equal(t, "GET /orders/{id}", f.Task, "leak finding: task")
			assert.GreaterOrEqual(t, f.Change, 0.3, "leak finding: growth")
			assert.Less(t, f.P, 0.01, "leak finding: p")
			assert.False(t, f.Fail, "leak finding: fail; want a warning")
			assert.Contains(t, f.Text, "latency of GET /orders/{id} grew +", "leak finding: text")
			assert.Contains(t, f.Text, "possible leak or backlog", "leak finding: text")
			assert.Contains(t, logs, "warning: latency of GET /orders/{id} grew", "log; want the warning")
		})
	}
}

// TestLeakFail: with -loadtest.leak=fail the leak fails the test.
func TestLeakFail(t *testing.T) {
	url, _ := growingServer(t, 10*time.Millisecond, 0.6, 2*time.Second)
	sc := Scenario{Host: url, Rate: 100, Duration: 2 * time.Second, Window: 100 * time.Millisecond, Tasks: []Task{orderTask("GET /orders/{id}")}}
	_, tb := runTrends(t, sc, "-loadtest.leak=fail")
	assert.Contains(t, tb.messages(), "latency of GET /orders/{id} grew", "errors; want the leak as a failure")
}

// TestLeakTooShort: too few windows are not tested, and the log says why.
func TestLeakTooShort(t *testing.T) {
	url, _ := growingServer(t, time.Millisecond, 5, time.Second)
	sc := Scenario{Host: url, Rate: 50, Duration: time.Second, Window: 200 * time.Millisecond, Tasks: []Task{orderTask("GET /x")}}
	res, tb := runTrends(t, sc)
	assert.Empty(t, res.Findings, "findings")
	assert.Contains(t, strings.Join(tb.logs, "\n"), "leak check skipped: 3 windows of 200ms after warm-up, need 10", "log; want a skip note")
}

func TestTrendSettings(t *testing.T) {
	srv, n := countingServer(t, 0, nil)
	ok := []Task{orderTask("GET /x")}
	dir := t.TempDir()
	bad := filepath.Join(dir, "local", "TestTrendSettings", "history.csv")
	require.NoError(t, os.MkdirAll(filepath.Dir(bad), 0o755))
	require.NoError(t, os.WriteFile(bad, []byte(strings.Join(history.Header, ",")+"\n2026-03-01T02:00:00Z,abc,open 10/s 1s,GET /x,ten,0,0,0,1,1,1,1,,r\n"), 0o644))
	tests := []struct {
		name string
		sc   Scenario
		args []string
		want []string
	}{
		{"bad modes", Scenario{Leak: "sometimes"}, []string{"-loadtest.drift=maybe"},
			[]string{`Scenario.Leak="sometimes": want warn, fail or off`, `-loadtest.drift="maybe": want warn, fail or off`}},
		{"bad numbers", Scenario{}, []string{"-loadtest.leak-growth=-1", "-loadtest.drift-runs=2", "-loadtest.drift-slope=0"},
			[]string{"-loadtest.leak-growth=-1", "-loadtest.drift-runs=2: want at least 3", "-loadtest.drift-slope=0"}},
		{"malformed history", Scenario{Env: "local"}, []string{"-loadtest.history-dir=" + dir},
			[]string{bad + `:2: requests: not a count: "ten"`}},
	}
	for _, tt := range tests {
		sc := tt.sc
		sc.Host, sc.Rate, sc.Duration, sc.Tasks = srv.URL, 10, time.Second, ok
		_, tb := runTrends(t, sc, tt.args...)
		msg := tb.messages()
		for _, w := range tt.want {
			assert.Contains(t, msg, w, "%s: messages", tt.name)
		}
		assert.Contains(t, msg, "no request sent", "%s: messages; want the failure before any request", tt.name)
	}
	assert.Zero(t, n.Load(), "requests sent with bad settings")
}

// TestHistoryRun: a real run reads the committed history, reports a step
// with its run and commit, appends its own rows and the Otava views; with
// -loadtest.drift=fail the step fails the test.
func TestHistoryRun(t *testing.T) {
	srv, _ := countingServer(t, 5*time.Millisecond, nil)
	dir := t.TempDir()
	// The run's own p95 over 50 requests is too noisy to be a night of
	// the synthetic history: the history's step is in another task.
	sc := Scenario{Host: srv.URL, Env: "local", Rate: 50, Duration: time.Second, Window: 250 * time.Millisecond, Tasks: []Task{orderTask("GET /orders/{id}")}}
	path := history.Path(dir, "local", t.Name())
	old := drifttest.Nights(7, 20, 0, 0.2, 13, "open 50/s 1s")
	require.NoError(t, history.Append(path, old), "history.Append")
	res, tb := runTrends(t, sc, "-loadtest.history", "-loadtest.history-dir="+dir)
	require.False(t, tb.Failed(), "run failed: %s", tb.messages())
	logs := strings.Join(tb.logs, "\n")
	assert.Contains(t, logs, "warning: p95 of POST /orders stepped from", "log; want a warning of the step")
	assert.Contains(t, logs, "(commit c13)", "log; want the step at c13")
	assert.Equal(t, "step", drifttest.Kinds(res.Findings), "kinds of the findings %+v", res.Findings)
	rows, err := history.ReadFile(path)
	require.NoError(t, err, "history.ReadFile")
	require.Len(t, rows, len(old)+2, "history rows: the task and the aggregate appended")
	last := rows[len(rows)-2]
	assert.Equal(t, "GET /orders/{id}", last.Task, "appended row: task")
	assert.Equal(t, "open 50/s 1s", last.Shape, "appended row: shape")
	assert.GreaterOrEqual(t, last.Requests, int64(40), "appended row: requests")
	assert.GreaterOrEqual(t, last.P95, int64(5000), "appended row: p95")
	assert.Greater(t, last.SELnP95, 0.0, "appended row: SE of ln(p95)")
	assert.Equal(t, res.Meta.RunID, last.RunID, "appended row: run id; want this run's")
	for _, task := range []string{"POST /orders", "GET /orders/{id}", "Aggregated"} {
		assert.FileExists(t, history.OtavaFile(filepath.Dir(path), task), "otava view of %s", task)
	}
	// The same with -loadtest.drift=fail, without appending.
	_, tb = runTrends(t, sc, "-loadtest.history-dir="+dir, "-loadtest.drift=fail")
	assert.Contains(t, tb.messages(), "p95 of POST /orders stepped from", "errors; want the step as a failure")
	rows2, _ := history.ReadFile(path)
	assert.Len(t, rows2, len(rows), "history rows; want no growth without -loadtest.history")
}

// TestPlanShape: the history's load shape of a run, as the run history,
// drift and τ key it, is that of the plan's metadata.
func TestPlanShape(t *testing.T) {
	p := &plan{Scenario: Scenario{Rate: 10, Duration: 5 * time.Minute}, open: true}
	require.Equal(t, "open 10/s 5m0s", planMeta(p).Shape().Key())
}
