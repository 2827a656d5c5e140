package loadtest

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/cli"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/loadtest/result"
)

// spreadDelay is the latency a target gives its request number n (from
// 0): base, plus base/50 for each step of n mod 100, so every hundred
// requests span base to 3·base whatever order they come in. Four shards
// sharing the target, and one process alone, see the same latencies when
// they send as many requests.
func spreadDelay(base time.Duration, n int64) time.Duration {
	return base + time.Duration(n%100)*base/50
}

// spreadTarget is an http.RoundTripper answering request n after
// spreadDelay(base·slow, n) of (fake, under synctest) time.
type spreadTarget struct {
	base time.Duration
	slow float64
	n    atomic.Int64
}

func (s *spreadTarget) RoundTrip(req *http.Request) (*http.Response, error) {
	d := spreadDelay(time.Duration(float64(s.base)*s.slow), s.n.Add(1)-1)
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

// shardScenario is an open-model run of two tasks at 200/s for 10 s,
// windows of 1 s, its baseline (K = 3) under root.
func shardScenario(tr http.RoundTripper, root string) Scenario {
	return Scenario{
		Host: "http://target.test", Transport: tr,
		Rate: 200, Duration: 10 * time.Second, Window: time.Second, Grace: time.Second,
		Tasks: []Task{getTask("GET /a", "/a", 3), getTask("GET /b", "/b", 1)},
		Gate:  Gate{Dir: root, K: 3, JudgeStarved: true}, // about the comparison, not the machine
	}
}

// shardRun is one run of a test of shards: its judged segment, what it
// said, its results folder.
type shardRun struct {
	seg *pipeline.Segment
	tb  *captureTB
	out string
}

// runAll runs each sc (with its flags) at once, in one synctest bubble,
// with the core, the gate and the history, each into its own results
// folder.
func runAll(t *testing.T, scs []Scenario, args [][]string) []shardRun {
	t.Helper()
	runs := make([]shardRun, len(scs))
	for i := range runs {
		runs[i].out = t.TempDir()
	}
	synctest.Test(t, func(t *testing.T) {
		var wg sync.WaitGroup
		for i, sc := range scs {
			fs := newFlagSet()
			fl := newFlags(fs)
			ps := parts{baseline: newBaselineFlags(fs), history: newHistoryFlags(fs)}
			require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + runs[i].out, "-loadtest.env=e2e", "-loadtest.coalesce=0",
				"-loadtest.history-dir=" + sc.Gate.Dir}, args[i]...)))
			runs[i].tb = newCaptureTB(t)
			wg.Go(func() { runs[i].seg = runWith(runs[i].tb, sc, runOptions{flags: fl, parts: ps}) })
		}
		wg.Wait()
	})
	for i, r := range runs {
		require.NotNil(t, r.seg, "run %d did not start: %s", i, r.tb.messages())
	}
	return runs
}

// steadyload runs the command with args and returns its exit code and
// output.
func steadyload(args ...string) (int, string) {
	var out bytes.Buffer
	code := cli.Main(args, &out, &out)
	return code, out.String()
}

// gateVerdicts reads a <name>_gate.csv into "task metric" → verdict.
func gateVerdicts(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	got := map[string]string{}
	for _, r := range recs[1:] {
		got[r[col["Task"]]+" "+r[col["Metric"]]] = r[col["Verdict"]]
	}
	return got
}

// TestShardsMergeLikeOneRun: four shards at a quarter of the rate each,
// merged by steadyload merge, give the result one process at the full
// rate gives against the same target: the same request count (within one
// per shard), the same percentiles (within the histograms' 0.1 %), the
// same load shape and the same gate verdict against the same baseline,
// for an unchanged target and a slower one; and steadyload compare gives
// each stored run the verdict, the table and the exit code the run had.
func TestShardsMergeLikeOneRun(t *testing.T) {
	for _, tc := range []struct {
		name     string
		slow     float64
		wantFail bool
	}{
		{"unchanged target passes", 1, false},
		{"1.5x slower target regresses", 1.5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			// The baseline: three runs against the unchanged target.
			for i := range 3 {
				rec := runAll(t, []Scenario{shardScenario(&spreadTarget{base: 20 * time.Millisecond, slow: 1}, root)}, [][]string{{"-loadtest.update"}})
				require.Empty(t, rec[0].tb.messages(), "recording run %d", i+1)
			}

			// One process at the full rate.
			whole := runAll(t, []Scenario{shardScenario(&spreadTarget{base: 20 * time.Millisecond, slow: tc.slow}, root)}, [][]string{nil})[0]
			require.NotNil(t, whole.seg.Gate, "the whole run was gated")
			assert.Equal(t, tc.wantFail, whole.tb.Failed(), "the whole run failed: %s", whole.tb.messages())

			// Four shards at a quarter of the rate, side by side on one target.
			target := &spreadTarget{base: 20 * time.Millisecond, slow: tc.slow}
			var scs []Scenario
			var args [][]string
			for i := 1; i <= 4; i++ {
				scs = append(scs, shardScenario(target, root))
				args = append(args, []string{fmt.Sprintf("-loadtest.shard=%d/4", i), "-loadtest.run-id=night-42"})
			}
			shards := runAll(t, scs, args)
			var dirs []string
			for i, s := range shards {
				assert.Empty(t, s.tb.messages(), "shard %d/4 fails nothing by itself", i+1)
				assert.Nil(t, s.seg.Gate, "shard %d/4 is not gated", i+1)
				assert.Equal(t, fmt.Sprintf("%d/4", i+1), s.seg.Meta.Shard, "shard %d/4: meta shard", i+1)
				assert.InDelta(t, 50, s.seg.Meta.Rate, 1e-9, "shard %d/4: rate", i+1)
				assert.NoFileExists(t, filepath.Join(s.out, result.FileBase(t.Name())+"_gate.csv"), "shard %d/4 wrote a comparison", i+1)
				assert.FileExists(t, runfiles.HistogramsFile(s.out, result.FileBase(t.Name())), "shard %d/4: histograms", i+1)
				dirs = append(dirs, s.out)
			}
			assert.Contains(t, shards[0].tb.logText(), "neither gates it nor records it", "a shard says it is not judged")

			merged := t.TempDir()
			code, out := steadyload(append([]string{"merge", "-o", merged}, dirs...)...)
			require.Equal(t, cli.ExitPass, code, "steadyload merge:\n%s", out)
			m, err := runfiles.Read(merged, result.FileBase(t.Name()))
			require.NoError(t, err)
			w := whole.seg.Run

			assert.Equal(t, w.Meta.Shape(), m.Meta.Shape(), "the merged run's load shape is the whole run's")
			assert.Equal(t, "night-42", m.Meta.RunID)
			assert.Empty(t, m.Meta.Shard, "the merged run is no shard")
			assert.InDelta(t, w.Total.Requests, m.Total.Requests, 4, "requests: within one per shard")
			assert.Equal(t, m.Total.Requests, m.Meta.Scheduled, "every scheduled start was made")
			var sum int64
			for _, tk := range m.Tasks {
				sum += tk.Requests
			}
			assert.Equal(t, m.Total.Requests, sum, "the tasks add up to the aggregate")
			for _, p := range []float64{50, 90, 95, 99, 100} {
				want, got := float64(w.Total.Latency.ValueAtPercentile(p)), float64(m.Total.Latency.ValueAtPercentile(p))
				assert.InEpsilon(t, want, got, 0.01, "p%g: whole %v µs, merged %v µs", p, want, got)
			}
			// Windows, aligned by their place in the run: a window counts
			// the requests that ended in it, as the whole run's does.
			aggregates := func(ws []result.Window) []result.Window {
				var out []result.Window
				for _, win := range ws {
					if win.Name == result.AggregateName {
						out = append(out, win)
					}
				}
				return out
			}
			ww, mw := aggregates(w.Windows), aggregates(m.Windows)
			require.Len(t, mw, len(ww), "merged windows")
			for i := range ww {
				assert.Equal(t, ww[i].Offset, mw[i].Offset, "window %d: offset", i)
				assert.InDelta(t, ww[i].Requests, mw[i].Requests, 4, "window %d: requests", i)
				assert.InEpsilon(t, ww[i].Quantiles[5], mw[i].Quantiles[5], 0.05, "window %d: p95 (rebuilt from the shards' quantiles)", i)
			}

			// steadyload compare: the whole run's stored results get the
			// run's own verdict, table and exit code; the merged shards
			// get the same verdict.
			want := cli.ExitPass
			if tc.wantFail {
				want = cli.ExitFail
			}
			code, out = steadyload("compare", "-judge-starved", "-baseline", root, whole.out)
			assert.Equal(t, want, code, "compare of the whole run's results:\n%s", out)
			assert.Contains(t, out, whole.seg.Gate.Text(), "compare prints the run's gate table")
			code, out = steadyload("compare", "-judge-starved", "-baseline", root, merged)
			assert.Equal(t, want, code, "compare of the merged shards:\n%s", out)
			name := result.FileBase(t.Name()) + "_gate.csv"
			wv, mv := gateVerdicts(t, filepath.Join(whole.out, name)), gateVerdicts(t, filepath.Join(merged, name))
			assert.Equal(t, wv, mv, "the merged shards' gate verdicts are the whole run's")
			if tc.wantFail {
				assert.Equal(t, "FAIL", wv["Aggregated p95"], "the slower target regresses p95")
			}
		})
	}
}

// TestShardsAgainstServer: four shards at a quarter of the rate against
// a real loopback server, merged, against one run at the full rate on the
// same server: the same request count (within one per shard), the same
// load shape, and the same percentiles within 1 % at the middle (p50,
// p90) and 5 % in the tail (p95, p99), which real time on a shared
// machine moves more than the histograms' precision (that is checked in
// fake time by TestShardsMergeLikeOneRun). A machine busy with other work
// moves latencies measured from the scheduled start, so up to three
// attempts are made and one must agree.
func TestShardsAgainstServer(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tm := time.NewTimer(spreadDelay(100*time.Millisecond, n.Add(1)-1))
		defer tm.Stop()
		select {
		case <-tm.C:
		case <-r.Context().Done():
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	sc := Scenario{
		Host: srv.URL, Rate: 100, Duration: 3 * time.Second, Grace: 2 * time.Second,
		LateTolerance: time.Second, MaxLateRatio: 0.5,
		Tasks: []Task{getTask("GET /work", "/work", 1)},
	}
	run := func(args ...string) (*result.Run, string) {
		out := t.TempDir()
		fs := newFlagSet()
		fl := newFlags(fs)
		require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out}, args...)))
		tb := newCaptureTB(t)
		tb.quiet = true
		seg := runWith(tb, sc, runOptions{flags: fl})
		require.NotNil(t, seg, tb.messages())
		require.Empty(t, tb.messages())
		return seg.Run, out
	}
	var failed []string
	for attempt := 1; attempt <= 3; attempt++ {
		n.Store(0)
		whole, _ := run()
		n.Store(0)
		dirs := make([]string, 4)
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() { _, dirs[i] = run(fmt.Sprintf("-loadtest.shard=%d/4", i+1), "-loadtest.run-id=srv") })
		}
		wg.Wait()
		merged := t.TempDir()
		code, out := steadyload(append([]string{"merge", "-o", merged}, dirs...)...)
		require.Equal(t, cli.ExitPass, code, out)
		m, err := runfiles.Read(merged, result.FileBase(t.Name()))
		require.NoError(t, err)
		require.InDelta(t, whole.Total.Requests, m.Total.Requests, 4, "requests: within one per shard")
		require.Equal(t, whole.Meta.Shape(), m.Meta.Shape(), "load shape")
		var off []string
		for _, p := range []float64{50, 90, 95, 99} {
			w, g := float64(whole.Total.Latency.ValueAtPercentile(p)), float64(m.Total.Latency.ValueAtPercentile(p))
			tol := 0.01
			if p > 90 {
				tol = 0.05
			}
			if d := g/w - 1; d > tol || d < -tol {
				off = append(off, fmt.Sprintf("p%g: whole %.0f µs, merged %.0f µs (%+.2f%%)", p, w, g, 100*d))
			}
		}
		if len(off) == 0 {
			return
		}
		failed = append(failed, fmt.Sprintf("attempt %d: %s", attempt, strings.Join(off, "; ")))
	}
	t.Errorf("merged shards' percentiles differ from the whole run's in 3 attempts:\n%s", strings.Join(failed, "\n"))
}

// TestShardFlags: the shard flags divide the load, and refuse what a
// shard cannot do.
func TestShardFlags(t *testing.T) {
	base := Scenario{Host: "http://target.test", Tasks: []Task{getTask("GET /", "/", 1)}, Wait: Constant(0)}
	for _, tc := range []struct {
		name      string
		sc        func(Scenario) Scenario
		args      []string
		wantUsers int
		wantRate  float64
		wantSpawn float64
		wantErr   string
	}{
		{name: "open model: rate divided", sc: func(s Scenario) Scenario { s.Rate = 30; return s },
			args: []string{"-loadtest.shard=2/3", "-loadtest.run-id=r1"}, wantRate: 10},
		{name: "closed model: users dealt out, first shard", sc: func(s Scenario) Scenario { s.Users, s.SpawnRate = 10, 4; return s },
			args: []string{"-loadtest.shard=1/4", "-loadtest.run-id=r1"}, wantUsers: 3, wantSpawn: 1},
		{name: "closed model: users dealt out, last shard", sc: func(s Scenario) Scenario { s.Users, s.SpawnRate = 10, 4; return s },
			args: []string{"-loadtest.shard=4/4", "-loadtest.run-id=r1"}, wantUsers: 2, wantSpawn: 1},
		{name: "too few users", sc: func(s Scenario) Scenario { s.Users = 3; return s },
			args: []string{"-loadtest.shard=1/4", "-loadtest.run-id=r1"}, wantErr: "3 users cannot be dealt out to 4 shards"},
		{name: "no run id", sc: func(s Scenario) Scenario { s.Rate = 10; return s },
			args: []string{"-loadtest.shard=1/4"}, wantErr: "needs -loadtest.run-id"},
		{name: "bad shard", sc: func(s Scenario) Scenario { s.Rate = 10; return s },
			args: []string{"-loadtest.shard=5/4", "-loadtest.run-id=r1"}, wantErr: "want 1 ≤ i ≤ N"},
		{name: "bad run id", sc: func(s Scenario) Scenario { s.Rate = 10; return s },
			args: []string{"-loadtest.run-id=a/b"}, wantErr: "-loadtest.run-id"},
		{name: "bad location", sc: func(s Scenario) Scenario { s.Rate = 10; return s },
			args: []string{"-loadtest.location=eu west"}, wantErr: "-loadtest.location"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFlagSet()
			fl := newFlags(fs)
			require.NoError(t, fs.Parse(tc.args))
			p, err := resolve(tc.sc(base), fl)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.wantUsers, p.Users, "users")
			assert.InDelta(t, tc.wantRate, p.Rate, 1e-12, "rate")
			if tc.wantSpawn > 0 {
				assert.InDelta(t, tc.wantSpawn, p.SpawnRate, 1e-12, "spawn rate")
			}
		})
	}
}

// TestShardRefusesToRecord: a shard with -loadtest.update or
// -loadtest.history sends nothing: it would record a part of the load.
func TestShardRefusesToRecord(t *testing.T) {
	for _, flagName := range []string{"-loadtest.update", "-loadtest.history"} {
		t.Run(flagName, func(t *testing.T) {
			fs := newFlagSet()
			fl := newFlags(fs)
			ps := parts{baseline: newBaselineFlags(fs), history: newHistoryFlags(fs)}
			dir := t.TempDir()
			require.NoError(t, fs.Parse([]string{"-loadtest.out=" + dir, "-loadtest.baseline=" + dir, "-loadtest.history-dir=" + dir,
				"-loadtest.shard=1/2", "-loadtest.run-id=r1", flagName}))
			var sent atomic.Int64
			tr := roundTripFunc(func(req *http.Request) (*http.Response, error) {
				sent.Add(1)
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: req}, nil
			})
			tb := newCaptureTB(t)
			seg := runWith(tb, Scenario{Host: "http://target.test", Transport: tr, Rate: 10, Duration: time.Second, Tasks: []Task{getTask("GET /", "/", 1)}},
				runOptions{flags: fl, parts: ps})
			assert.Nil(t, seg)
			assert.Contains(t, tb.messages(), "a shard")
			assert.Zero(t, sent.Load(), "no request sent")
		})
	}
}

// TestLocationKeepsBaselinesApart: a run from a location is gated and
// recorded under <env>@<location>, its meta says where it came from, and
// a run without a location keeps the folder it always had.
func TestLocationKeepsBaselinesApart(t *testing.T) {
	root := t.TempDir()
	sc := shardScenario(&spreadTarget{base: 5 * time.Millisecond, slow: 1}, root)
	sc.Duration = 2 * time.Second
	runs := runAll(t, []Scenario{sc, sc}, [][]string{{"-loadtest.update", "-loadtest.location=eu-west", "-loadtest.history"}, {"-loadtest.update"}})
	for _, r := range runs {
		require.Empty(t, r.tb.messages())
	}
	assert.Equal(t, "eu-west", runs[0].seg.Meta.Location)
	assert.Empty(t, runs[1].seg.Meta.Location)
	test := result.FileBase(t.Name())
	assert.DirExists(t, filepath.Join(root, "e2e@eu-west", test), "the location's baseline")
	assert.FileExists(t, filepath.Join(root, "e2e@eu-west", test, "history.csv"), "the location's history")
	assert.DirExists(t, filepath.Join(root, "e2e", test), "the baseline without a location, where it always was")
	meta, err := os.ReadFile(result.MetaFile(runs[0].out, test))
	require.NoError(t, err)
	assert.Contains(t, string(meta), "\nlocation,eu-west\n")
	meta, err = os.ReadFile(result.MetaFile(runs[1].out, test))
	require.NoError(t, err)
	assert.NotContains(t, string(meta), "location", "a run without a location writes the meta it always did")

	// Compared from the other side: the eu-west run against the baseline
	// recorded without a location.
	code, out := steadyload("compare", "-baseline", root, "-location", "-", runs[0].out)
	assert.Equal(t, cli.ExitPass, code, out)
	assert.Contains(t, out, filepath.Join(root, "e2e", test), "compared with the baseline without a location")
}

// TestAutoShard: an Indexed Job's pod finds its shard in the index
// Kubernetes gives it.
func TestAutoShard(t *testing.T) {
	env := func(v string, ok bool) func(string) (string, bool) {
		return func(k string) (string, bool) {
			if k != "JOB_COMPLETION_INDEX" {
				return "", false
			}
			return v, ok
		}
	}
	tests := []struct {
		in     string
		lookup func(string) (string, bool)
		want   string
	}{
		{"2/4", env("", false), "2/4"},
		{"auto/4", env("0", true), "1/4"},
		{"auto/4", env("3", true), "4/4"},
		{"auto/4", env("", false), `auto/4 (JOB_COMPLETION_INDEX: "", want the pod's index from 0)`},
		{"auto/4", env("x", true), `auto/4 (JOB_COMPLETION_INDEX: "x", want the pod's index from 0)`},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, autoShard(tt.in, tt.lookup), "autoShard(%q)", tt.in)
	}
}
