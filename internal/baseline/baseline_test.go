package baseline

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadyload/steadyload/loadtest/result"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeRun is a complete open-model run of two tasks with lognormal
// latencies, started i minutes after t0.
func fakeRun(i int, rate float64) *result.Run {
	rng := rand.New(rand.NewPCG(uint64(i), 1))
	m := result.Meta{Test: "TestOrders", RunID: fmt.Sprintf("%016x", i+1), Version: "dev", Status: result.Complete,
		Model: "open", Rate: rate, MaxInFlight: 100, Duration: 30 * time.Second, Window: 10 * time.Second, Grace: 5 * time.Second,
		Start: t0.Add(time.Duration(i) * time.Minute), Elapsed: 30 * time.Second, Target: "http://127.0.0.1:1", Env: "local",
		GoVersion: "go1.26", Scheduled: int64(rate * 30)}
	res := &result.Run{Meta: m, Total: &result.Task{Name: result.AggregateName, Latency: result.NewHistogram()}}
	for _, name := range []string{"/orders", "/users/{id}"} {
		t := &result.Task{Type: "GET", Name: name, Latency: result.NewHistogram()}
		for range int(rate * 15) {
			t.Requests++
			if rng.IntN(100) == 0 {
				t.Failures++
				continue
			}
			t.Latency.RecordValue(int64(20000 * math.Exp(0.668*rng.NormFloat64())))
		}
		res.Tasks = append(res.Tasks, t)
		res.Total.Requests += t.Requests
		res.Total.Failures += t.Failures
		res.Total.Latency.Merge(t.Latency)
	}
	for w := range 3 {
		for _, t := range append(slices.Clone(res.Tasks), res.Total) {
			res.Windows = append(res.Windows, result.Window{Start: m.Start.Add(time.Duration(w) * 10 * time.Second),
				Offset: time.Duration(w) * 10 * time.Second, Length: 10 * time.Second, Type: t.Type, Name: t.Name,
				Requests: t.Requests / 3, Quantiles: t.Latency.ValueAtPercentilesSlice(result.Percentiles)})
		}
	}
	return res
}

var params = Params{Tolerance: 0.1, FailureTolerance: 0.01, Alpha: 0.01, K: 3, Metrics: []string{"p95", "failures", "rate"},
	MinRequests: 200, Tau: 0.05, TauSource: "default (not calibrated)",
	Taus: []Tau{{Task: "GET /orders", Metric: "p95", Tau: 0.036, Source: "history, 30 runs"}}}

func TestRecordLoadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "local", "TestOrders")
	for i := range 5 {
		rec, err := Record(dir, fakeRun(i, 10), params, 3)
		require.NoError(t, err, "Record(run %d)", i)
		assert.Equal(t, RunName(fakeRun(i, 10).Meta), rec.Name, "Record(run %d) name", i)
		if i >= 3 {
			assert.Equal(t, []string{RunName(fakeRun(i-3, 10).Meta)}, rec.Removed, "Record(run %d) removed; want only the oldest run", i)
		}
		assert.Equal(t, min(i+1, 3), rec.Kept, "Record(run %d) kept", i)
	}
	runs, err := Load(dir)
	require.NoError(t, err)
	require.Len(t, runs, 3, "Load kept %d runs; want runs 2..4", len(runs))
	require.Equal(t, RunName(fakeRun(2, 10).Meta), runs[0].Name, "Load's first run; want run 2")
	want := fakeRun(4, 10)
	got := runs[2]
	assert.Equal(t, want.Meta.RunID, got.Meta.RunID, "meta read back: run id")
	assert.True(t, got.Meta.Start.Equal(want.Meta.Start), "meta read back: start %v; want %v", got.Meta.Start, want.Meta.Start)
	assert.Equal(t, 10.0, got.Meta.Rate, "meta read back: rate")
	for _, task := range want.Tasks {
		h := got.Histogram(task.Type, task.Name)
		assert.True(t, h != nil && h.Equals(task.Latency), "histogram of %s read back differs from the recorded one", task.Key())
	}
	var gotCSV, wantCSV bytes.Buffer
	require.NoError(t, result.WriteRows(&gotCSV, got.Stats))
	require.NoError(t, result.WriteRows(&wantCSV, want.StatsRows()))
	assert.Equal(t, wantCSV.String(), gotCSV.String(), "stats read back, as written")
	assert.Len(t, got.Windows, len(want.Windows), "window rows read back")
	assert.Equal(t, fmt.Sprint(params), fmt.Sprint(got.Params), "params read back")
}

func TestRecordNewShapeReplacesOld(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		_, err := Record(dir, fakeRun(i, 10), params, 5)
		require.NoError(t, err)
	}
	rec, err := Record(dir, fakeRun(5, 20), params, 5)
	require.NoError(t, err)
	assert.Len(t, rec.Removed, 2, "recording a new shape removed %q; want both runs of the old shape removed", rec.Removed)
	assert.Equal(t, 1, rec.Kept, "recording a new shape kept")
	runs, err := Load(dir)
	require.NoError(t, err, "Load after a new shape")
	require.Len(t, runs, 1, "Load after a new shape; want the one new run")
	assert.Equal(t, 20.0, runs[0].Meta.Rate)
}

func TestRecordRefuses(t *testing.T) {
	dir := t.TempDir()
	_, err := Record(dir, fakeRun(0, 10), params, 5)
	require.NoError(t, err)
	_, err = Record(dir, fakeRun(0, 10), params, 5)
	assert.ErrorContains(t, err, "already exists: not overwritten", "Record(same run twice)")
	partial := fakeRun(1, 10)
	partial.Meta.Status, partial.Meta.Reason = result.Aborted, "target failing"
	_, err = Record(dir, partial, params, 5)
	assert.ErrorContains(t, err, "only a complete run", "Record(aborted run)")
}

// TestLoadRejectsMalformed: every kind of damage is reported with the file
// and line, and Record refuses to touch a damaged baseline.
func TestLoadRejectsMalformed(t *testing.T) {
	tests := []struct {
		name       string
		file       string
		edit       func(string) string
		want       string // substring of the error, after the file name
		noFileLine bool
	}{
		{"histogram count", HistogramsFile, replaceLine(2, func(l string) string { return strings.TrimSuffix(l, ",1") + ",x" }), HistogramsFile + ":2: Count \"x\"", false},
		{"histogram order", HistogramsFile, swapLines(2, 3), HistogramsFile + ":3: Microseconds", false},
		{"histogram fields", HistogramsFile, replaceLine(4, func(l string) string { return l + ",9" }), HistogramsFile + ":4: wrong number of fields", false},
		{"stats header", StatsFile, replaceLine(1, func(l string) string { return strings.Replace(l, "Median", "Mdn", 1) }), StatsFile + ":1: header is", false},
		{"stats value", StatsFile, replaceLine(2, func(l string) string { return strings.Replace(l, "GET,/orders,", "GET,/orders,-3", 1) }), StatsFile + ":2: Request Count", false},
		{"stats vs histogram", StatsFile, replaceLine(2, func(l string) string { f := strings.Split(l, ","); f[len(f)-1] = "1"; return strings.Join(f, ",") }), "Success Count 1", true},
		{"meta status", MetaFile, func(s string) string { return strings.Replace(s, "status,complete", "status,finished", 1) }, MetaFile + ":5: status", false},
		{"gate alpha", GateFile, func(s string) string { return strings.Replace(s, "alpha,0.01", "alpha,2", 1) }, GateFile + ":4: alpha", false},
		{"gate unknown key", GateFile, func(s string) string { return s + "colour,blue\n" }, GateFile + ":12: unknown key", false},
		{"windows quote", WindowsFile, replaceLine(3, func(l string) string { return `"` + l }), WindowsFile + ":3:", false},
		{"empty file", WindowsFile, func(string) string { return "" }, WindowsFile + ":1: empty file", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Record(dir, fakeRun(0, 10), params, 5)
			require.NoError(t, err)
			path := filepath.Join(dir, RunName(fakeRun(0, 10).Meta), tt.file)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			bad := []byte(tt.edit(string(b)))
			require.NotEqual(t, b, bad, "the edit changed nothing")
			require.NoError(t, os.WriteFile(path, bad, 0o644))
			_, err = Load(dir)
			require.ErrorContains(t, err, tt.want, "Load(damaged %s)", tt.file)
			if !tt.noFileLine {
				assert.Contains(t, err.Error(), path+":", "Load error does not name %s", path)
			}
			_, err = Record(dir, fakeRun(1, 10), params, 5)
			assert.Error(t, err, "Record over a damaged baseline succeeded; want it refused")
			after, _ := os.ReadFile(path)
			assert.Equal(t, bad, after, "the damaged file was changed")
			entries, _ := os.ReadDir(dir)
			if assert.Len(t, entries, 2, "the baseline directory after a refused Record; want the lock file and the damaged run") {
				assert.Equal(t, lockName, entries[0].Name())
			}
		})
	}
}

func TestLoadMixedShapes(t *testing.T) {
	dir := t.TempDir()
	other := t.TempDir()
	Record(dir, fakeRun(0, 10), params, 5)
	Record(other, fakeRun(1, 20), params, 5)
	n := RunName(fakeRun(1, 20).Meta)
	require.NoError(t, os.Rename(filepath.Join(other, n), filepath.Join(dir, n)))
	_, err := Load(dir)
	assert.ErrorContains(t, err, "rate 10 in the baseline, 20 now", "Load(two shapes); want the shapes named")
}

func TestLoadMissingIsEmpty(t *testing.T) {
	runs, err := Load(filepath.Join(t.TempDir(), "nope"))
	assert.NoError(t, err, "Load(missing dir)")
	assert.Empty(t, runs, "Load(missing dir)")
}

func replaceLine(n int, f func(string) string) func(string) string {
	return func(s string) string {
		lines := strings.Split(s, "\n")
		lines[n-1] = f(lines[n-1])
		return strings.Join(lines, "\n")
	}
}

func swapLines(a, b int) func(string) string {
	return func(s string) string {
		lines := strings.Split(s, "\n")
		lines[a-1], lines[b-1] = lines[b-1], lines[a-1]
		return strings.Join(lines, "\n")
	}
}

// TestCommittedRunsRewrite: every run of the repository's own baselines
// reads, and what it reads writes the same bytes again: the readers and
// writers of each format agree with what was recorded before. meta.csv
// is the exception: runs recorded before its optional keys gain them.
func TestCommittedRunsRewrite(t *testing.T) {
	dirs, err := filepath.Glob("../../baseline/*/*/*")
	require.NoError(t, err)
	require.NotEmpty(t, dirs, "no committed baseline runs")
	for _, dir := range dirs {
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			continue
		}
		run, err := readRun(dir)
		require.NoError(t, err)
		res := &result.Run{Meta: run.Meta}
		for _, f := range []struct {
			file  string
			write func(*bytes.Buffer) error
		}{
			{GateFile, func(b *bytes.Buffer) error { return WriteParams(b, run.Params) }},
			{StatsFile, func(b *bytes.Buffer) error { return result.WriteRows(b, run.Stats) }},
			{HistogramsFile, func(b *bytes.Buffer) error { return WriteHistograms(b, run.Histograms) }},
			{WindowsFile, func(b *bytes.Buffer) error { return result.WriteRows(b, run.Windows) }},
		} {
			want, err := os.ReadFile(filepath.Join(dir, f.file))
			require.NoError(t, err)
			var got bytes.Buffer
			require.NoError(t, f.write(&got))
			assert.Equal(t, string(want), got.String(), "%s rewritten", filepath.Join(dir, f.file))
		}
		var meta bytes.Buffer
		require.NoError(t, result.WriteMeta(&meta, res.Meta))
		again, err := result.ReadMeta(MetaFile, &meta)
		require.NoError(t, err)
		assert.Equal(t, run.Meta, again, "%s rewritten and read again", filepath.Join(dir, MetaFile))
	}
}
