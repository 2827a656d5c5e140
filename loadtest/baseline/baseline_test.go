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
		if err != nil {
			t.Fatalf("Record(run %d) = %v", i, err)
		}
		if want := RunName(fakeRun(i, 10).Meta); rec.Name != want {
			t.Errorf("Record(run %d) name = %q; want %q", i, rec.Name, want)
		}
		if i >= 3 && (len(rec.Removed) != 1 || rec.Removed[0] != RunName(fakeRun(i-3, 10).Meta)) {
			t.Errorf("Record(run %d) removed %q; want only the oldest run", i, rec.Removed)
		}
		if want := min(i+1, 3); rec.Kept != want {
			t.Errorf("Record(run %d) kept %d runs; want %d", i, rec.Kept, want)
		}
	}
	runs, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 3 || runs[0].Name != RunName(fakeRun(2, 10).Meta) {
		t.Fatalf("Load kept %d runs starting at %q; want runs 2..4", len(runs), runs[0].Name)
	}
	want := fakeRun(4, 10)
	got := runs[2]
	if got.Meta.RunID != want.Meta.RunID || !got.Meta.Start.Equal(want.Meta.Start) || got.Meta.Rate != 10 {
		t.Errorf("meta read back = %+v; want %+v", got.Meta, want.Meta)
	}
	for _, task := range want.Tasks {
		h := got.Histogram(task.Type, task.Name)
		if h == nil || !h.Equals(task.Latency) {
			t.Errorf("histogram of %s read back differs from the recorded one", task.Key())
		}
	}
	var gotCSV, wantCSV bytes.Buffer
	result.MarshalCSV(got.Stats, &gotCSV)
	result.MarshalCSV(want.StatsRows(), &wantCSV)
	if gotCSV.String() != wantCSV.String() {
		t.Errorf("stats read back:\n%s\nwant:\n%s", gotCSV.String(), wantCSV.String())
	}
	if len(got.Windows) != len(want.Windows) {
		t.Errorf("read back %d window rows; want %d", len(got.Windows), len(want.Windows))
	}
	if fmt.Sprint(got.Params) != fmt.Sprint(params) {
		t.Errorf("params read back = %+v; want %+v", got.Params, params)
	}
}

func TestRecordNewShapeReplacesOld(t *testing.T) {
	dir := t.TempDir()
	for i := range 2 {
		if _, err := Record(dir, fakeRun(i, 10), params, 5); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := Record(dir, fakeRun(5, 20), params, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Removed) != 2 || rec.Kept != 1 {
		t.Errorf("recording a new shape removed %q, kept %d; want both runs of the old shape removed, 1 kept", rec.Removed, rec.Kept)
	}
	runs, err := Load(dir)
	if err != nil || len(runs) != 1 || runs[0].Meta.Rate != 20 {
		t.Errorf("Load after a new shape = %d runs, %v; want the one new run", len(runs), err)
	}
}

func TestRecordRefuses(t *testing.T) {
	dir := t.TempDir()
	if _, err := Record(dir, fakeRun(0, 10), params, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := Record(dir, fakeRun(0, 10), params, 5); err == nil || !strings.Contains(err.Error(), "already exists: not overwritten") {
		t.Errorf("Record(same run twice) = %v; want a refusal", err)
	}
	partial := fakeRun(1, 10)
	partial.Meta.Status, partial.Meta.Reason = result.Aborted, "target failing"
	if _, err := Record(dir, partial, params, 5); err == nil || !strings.Contains(err.Error(), "only a complete run") {
		t.Errorf("Record(aborted run) = %v; want a refusal", err)
	}
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
			if _, err := Record(dir, fakeRun(0, 10), params, 5); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, RunName(fakeRun(0, 10).Meta), tt.file)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := []byte(tt.edit(string(b)))
			if bytes.Equal(bad, b) {
				t.Fatalf("the edit changed nothing")
			}
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Load(damaged %s) = %v; want an error containing %q", tt.file, err, tt.want)
			}
			if !tt.noFileLine && !strings.Contains(err.Error(), path+":") {
				t.Errorf("Load error %q does not name %s", err, path)
			}
			if _, err := Record(dir, fakeRun(1, 10), params, 5); err == nil {
				t.Errorf("Record over a damaged baseline succeeded; want it refused")
			}
			after, _ := os.ReadFile(path)
			if !bytes.Equal(after, bad) {
				t.Errorf("the damaged file was changed")
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 2 || entries[0].Name() != lockName {
				t.Errorf("the baseline directory holds %v after a refused Record; want the lock file and the damaged run", entries)
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
	if err := os.Rename(filepath.Join(other, n), filepath.Join(dir, n)); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "rate 10 in the baseline, 20 now") {
		t.Errorf("Load(two shapes) = %v; want the shapes named", err)
	}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	runs, err := Load(filepath.Join(t.TempDir(), "nope"))
	if err != nil || len(runs) != 0 {
		t.Errorf("Load(missing dir) = %d runs, %v; want none, no error", len(runs), err)
	}
}

func TestShapeDiff(t *testing.T) {
	open := result.Meta{Model: "open", Rate: 10, MaxInFlight: 100, Duration: 30 * time.Second}
	closed := result.Meta{Model: "closed", Users: 5, SpawnRate: 1, Wait: "between(1s,5s)", Duration: 30 * time.Second}
	longer := open
	longer.Duration = time.Minute
	fewer := closed
	fewer.Users = 3
	tests := []struct {
		a, b result.Meta
		want string
	}{
		{open, open, ""},
		{open, longer, "duration 30s in the baseline, 1m0s now"},
		{closed, fewer, "users 5 in the baseline, 3 now"},
		{open, closed, "model open in the baseline, closed now"},
	}
	for _, tt := range tests {
		if got := strings.Join(ShapeDiff(tt.a, tt.b), "; "); got != tt.want {
			t.Errorf("ShapeDiff(%s, %s) = %q; want %q", Shape(tt.a), Shape(tt.b), got, tt.want)
		}
	}
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
