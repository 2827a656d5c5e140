package loadtest

import (
	"bytes"
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// lognormalServer serves every request after a lognormal delay (median
// 20 ms, p95 60 ms), reshaped by shape(u) at the delay's probability
// level u, and counts requests.
func lognormalServer(t *testing.T, seed uint64, shape func(u float64) float64) (*httptest.Server, *atomic.Int64) {
	var mu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, seed))
	sigma := math.Log(3) / 1.6448536269514722
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		mu.Lock()
		z := rng.NormFloat64()
		mu.Unlock()
		u := 0.5 * math.Erfc(-z/math.Sqrt2)
		d := 20 * float64(time.Millisecond) * math.Exp(sigma*z) * shape(u)
		tm := time.NewTimer(time.Duration(d))
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-r.Context().Done():
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func unchanged(float64) float64 { return 1 }
func slower(f float64) func(float64) float64 {
	return func(float64) float64 { return f }
}

// medianOnly slows p50 by f, ramps down to no change at p95: p95 stays.
func medianOnly(f float64) func(float64) float64 {
	return func(u float64) float64 {
		switch {
		case u <= 0.5:
			return f
		case u >= 0.95:
			return 1
		}
		return 1 + (f-1)*(0.95-u)/0.45
	}
}

// gateScenario is a short open-model run of one task against srv, with
// its baseline in dir: 200 req/s × 2 s, K = 3.
func gateScenario(srv *httptest.Server, dir string, rate float64) Scenario {
	return Scenario{
		Host: srv.URL, Rate: rate, Duration: 2 * time.Second, Grace: 2 * time.Second,
		// The generator's own timeliness is not under test here: a busy
		// machine must not fail these runs for it.
		LateTolerance: time.Second, MaxLateRatio: 0.5,
		Tasks: []Task{{Name: "GET /work", Do: func(ctx context.Context, u *User) error {
			_, err := u.Get(ctx, "/work")
			return err
		}}},
		Gate: Gate{Dir: dir, K: 3, JudgeStarved: true}, // about the comparison, not the machine
	}
}

// runGate runs sc with the core and the baseline gate only, on their own
// flags, and returns the result, the captured messages and the results
// folder.
func runGate(t *testing.T, sc Scenario, args ...string) (*pipeline.Segment, *captureTB, string) {
	t.Helper()
	out := t.TempDir()
	fs := newFlagSet()
	fl := newFlags(fs)
	bf := newBaselineFlags(fs)
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out, "-loadtest.env=e2e"}, args...)))
	tb := newCaptureTB(t)
	res := runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf}})
	return res, tb, out
}

// baselineFor copies the baseline recorded under test (in root) to a
// fresh root, under t's own name, and returns the new root.
func baselineFor(t *testing.T, root, test string) string {
	t.Helper()
	dst := t.TempDir()
	to := baseline.Dir(dst, "e2e", t.Name())
	require.NoError(t, os.MkdirAll(to, 0o755))
	require.NoError(t, os.CopyFS(to, os.DirFS(baseline.Dir(root, "e2e", test))), "copy the baseline of %s", test)
	return dst
}

// TestBaselineGateEndToEnd records a 3-run baseline against a real
// loopback server with lognormal latency, then compares runs against the
// same server, a 1.6× slower one, a p50-only slower one, and under another
// load shape.
func TestBaselineGateEndToEnd(t *testing.T) {
	root := t.TempDir()
	dir := baseline.Dir(root, "e2e", t.Name())
	srv, _ := lognormalServer(t, 1, unchanged)

	res, tb, _ := runGate(t, gateScenario(srv, root, 200))
	require.Empty(t, tb.messages(), "first run without a baseline failed")
	assert.Contains(t, tb.logText(), "NO BASELINE", "log of a run without a baseline; want it to say so")
	assert.Contains(t, tb.logText(), "-loadtest.update", "log of a run without a baseline; want how to record one")
	if assert.NotNil(t, res.Gate, "res.Gate; want a report with no rows") {
		assert.Empty(t, res.Gate.Rows, "res.Gate.Rows")
	}
	_, tb, _ = runGate(t, gateScenario(srv, root, 200), "-loadtest.require-baseline")
	assert.Contains(t, tb.messages(), "no baseline and -loadtest.require-baseline is set", "-loadtest.require-baseline without a baseline: messages; want a failure")

	for i := range 3 {
		_, tb, _ := runGate(t, gateScenario(srv, root, 200), "-loadtest.update")
		require.Empty(t, tb.messages(), "recording run %d failed", i+1)
		assert.Contains(t, tb.logText(), "baseline: recorded run", "recording run %d: log", i+1)
	}
	runs, err := baseline.Load(dir)
	require.NoError(t, err, "baseline.Load after 3 updates")
	require.Len(t, runs, 3, "baseline runs after 3 updates")

	parent := t.Name()
	t.Run("same server passes", func(t *testing.T) {
		root := baselineFor(t, root, parent)
		dir := baseline.Dir(root, "e2e", t.Name())
		// Latency counts from the scheduled start, so a machine busy with
		// other work slows the generator and, with it, the measured p95:
		// up to three attempts are made and one must pass.
		var res *pipeline.Segment
		var out string
		var failed []string
		for range 3 {
			var tb *captureTB
			res, tb, out = runGate(t, gateScenario(srv, root, 200))
			if tb.messages() == "" {
				failed = nil
				break
			}
			failed = append(failed, tb.messages()+"\n"+tb.logText())
		}
		// The attempts' messages and logs, printed as they are: a quoted
		// slice of them would not read.
		if failed != nil {
			t.Errorf("unchanged server failed the gate in 3 attempts:\n%s", strings.Join(failed, "\n\n"))
		}
		require.NotNil(t, res.Gate, "res.Gate")
		require.Len(t, res.Gate.Runs, 3, "res.Gate.Runs")
		require.Len(t, res.Gate.Rows, 6, "res.Gate.Rows (2 tasks × p95, failures, rate)")
		for _, row := range res.Gate.Rows {
			assert.NotEqual(t, gate.NoVerdict, row.Verdict, "%s %s: verdict (%s)", row.Task, row.Metric, row.Warnings)
		}
		csv, err := os.ReadFile(filepath.Join(out, result.FileBase(t.Name())+"_gate.csv"))
		if assert.NoError(t, err, "comparison CSV") {
			assert.True(t, bytes.HasPrefix(csv, []byte(strings.Join(gate.CSVHeader, ","))), "comparison CSV; want the header first:\n%s", csv)
		}
		runs, _ := filepath.Glob(filepath.Join(dir, "2*"))
		assert.Len(t, runs, 3, "baseline runs after a plain run; want it unchanged")
	})

	t.Run("1.6x slower fails", func(t *testing.T) {
		summary := filepath.Join(t.TempDir(), "summary.md")
		t.Setenv("GITHUB_STEP_SUMMARY", summary)
		root := baselineFor(t, root, parent)
		slow, _ := lognormalServer(t, 2, slower(1.6))
		_, tb, _ := runGate(t, gateScenario(slow, root, 200))
		msgs := tb.messages()
		for _, want := range []string{"baseline gate: GET /work: p95 rose +", "baseline gate: Aggregated: p95 rose +", "98% CI", "tolerance +10%"} {
			assert.Contains(t, msgs, want, "messages")
		}
		assert.Contains(t, tb.logText(), "baseline comparison", "log; want the comparison table")
		assert.Contains(t, tb.logText(), "FAIL", "log; want the comparison table with FAIL")
		md, err := os.ReadFile(summary)
		if assert.NoError(t, err, "step summary") {
			assert.Contains(t, string(md), "| GET /work | p95 |", "step summary")
			assert.Contains(t, string(md), "**FAIL**", "step summary")
		}
	})

	t.Run("a target that holds every slot fails, the generator not blamed", func(t *testing.T) {
		// 40× slower at 200/s is 160 tasks in flight, 100 allowed:
		// starts wait for a slot. The wait is the target's: the gate judges the
		// latencies, which count it, instead of calling the generator
		// starved and giving no verdict.
		root := baselineFor(t, root, parent)
		slow, _ := lognormalServer(t, 6, slower(40))
		sc := gateScenario(slow, root, 200)
		sc.LateTolerance, sc.MaxLateRatio = 10*time.Millisecond, 0.01
		res, tb, _ := runGate(t, sc)
		msgs := tb.messages()
		assert.Contains(t, msgs, "baseline gate: GET /work: p95 rose +", "messages")
		assert.Contains(t, msgs, "late for a slot, every one of the 100 taken by a task in flight", "messages; want the rate's failure laid on the target")
		assert.NotContains(t, tb.logText(), "starved", "log")
		assert.NotZero(t, res.Run.Meta.Waited, "starts that waited for a slot")
		assert.Zero(t, res.Run.Meta.Starved, "windows said to be the generator's")
	})

	t.Run("p50-only slower passes the p95 gate", func(t *testing.T) {
		root := baselineFor(t, root, parent)
		med, _ := lognormalServer(t, 3, medianOnly(1.6))
		sc := gateScenario(med, root, 200)
		sc.Gate.Metrics = []string{"p50", "p95"}
		res, tb, _ := runGate(t, sc)
		for _, row := range res.Gate.Rows {
			if row.Metric == gate.P95 {
				assert.NotEqual(t, gate.Regressed, row.Verdict, "%s p95 on a p50-only change: %s", row.Task, row.Message())
			}
		}
		assert.Contains(t, tb.messages(), "GET /work: p50 rose", "messages; want the p50 gate to catch a +60% median")
	})

	t.Run("another load shape is not compared", func(t *testing.T) {
		root := baselineFor(t, root, parent)
		sc := gateScenario(srv, root, 100)
		sc.Duration = time.Second
		res, tb, _ := runGate(t, sc)
		assert.Empty(t, tb.messages(), "a run of another shape failed")
		log := tb.logText()
		for _, want := range []string{"NOT COMPARED", "rate 200 in the baseline, 100 now", "duration 2s in the baseline, 1s now", "-loadtest.update"} {
			assert.Contains(t, log, want, "log")
		}
		assert.Empty(t, res.Gate.Rows, "rows compared across load shapes")
		_, tb, _ = runGate(t, sc, "-loadtest.require-baseline")
		assert.Contains(t, tb.messages(), "no comparable baseline", "-loadtest.require-baseline with another shape: messages; want a failure")
	})

	t.Run("malformed baseline fails before load, untouched", func(t *testing.T) {
		bad := baselineFor(t, root, parent)
		file := filepath.Join(baseline.Dir(bad, "e2e", t.Name()), runs[1].Name, baseline.HistogramsFile)
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		lines := strings.SplitN(string(b), "\n", 4)
		lines[2] = strings.Replace(lines[2], ",", ",,", 1)
		damaged := []byte(strings.Join(lines, "\n"))
		require.NoError(t, os.WriteFile(file, damaged, 0o644))
		for _, args := range [][]string{nil, {"-loadtest.update"}} {
			srv, hits := lognormalServer(t, 4, unchanged)
			_, tb, _ := runGate(t, gateScenario(srv, bad, 200), args...)
			assert.Contains(t, tb.messages(), file+":3: wrong number of fields", "run %v over a damaged baseline: messages", args)
			assert.Contains(t, tb.messages(), "no request sent", "run %v over a damaged baseline: messages; want the failure before any request", args)
			assert.Zero(t, hits.Load(), "run %v over a damaged baseline: requests sent", args)
			after, _ := os.ReadFile(file)
			assert.Equal(t, string(damaged), string(after), "run %v changed the damaged file", args)
		}
	})
}

func TestBaselineGateBadSettings(t *testing.T) {
	srv, hits := lognormalServer(t, 5, unchanged)
	tests := []struct {
		name string
		gate Gate
		args []string
		want string
	}{
		{"bad metric", Gate{Metrics: []string{"p42"}}, nil, `unknown metric "p42"`},
		{"bad flag metric", Gate{}, []string{"-loadtest.gate=p95,latency"}, `unknown metric "latency"`},
		{"negative tolerance", Gate{}, []string{"-loadtest.tolerance=-0.1"}, "-loadtest.tolerance=-0.1: want a positive fraction"},
		{"alpha too big", Gate{Alpha: 0.7}, nil, "alpha 0.7"},
		{"zero runs", Gate{}, []string{"-loadtest.baseline-runs=0"}, "-loadtest.baseline-runs=0: want at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := gateScenario(srv, t.TempDir(), 200)
			tt.gate.Dir = sc.Gate.Dir
			sc.Gate = tt.gate
			_, tb, _ := runGate(t, sc, tt.args...)
			assert.Contains(t, tb.messages(), tt.want, "messages")
			assert.Contains(t, tb.messages(), "no request sent", "messages; want the failure before any request")
		})
	}
	assert.Zero(t, hits.Load(), "requests sent with bad settings")
}

// TestBaselineUpdateRefusesTinyRun: a run with too few requests is not
// recorded, and says why.
func TestBaselineUpdateRefusesTinyRun(t *testing.T) {
	srv, _ := lognormalServer(t, 6, unchanged)
	root := t.TempDir()
	sc := gateScenario(srv, root, 10)
	sc.Duration = time.Second
	_, tb, _ := runGate(t, sc, "-loadtest.update")
	assert.Contains(t, tb.messages(), "baseline not updated: 10 successful requests, a baseline run needs at least 20", "messages; want the run refused as a baseline")
	runs, err := baseline.Load(baseline.Dir(root, "e2e", t.Name()))
	assert.NoError(t, err, "baseline.Load after a refused update")
	assert.Empty(t, runs, "baseline runs after a refused update")
}
