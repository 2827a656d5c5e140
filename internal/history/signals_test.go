package history

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

func signalRows() []SignalRow {
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	return []SignalRow{
		{Time: t0, Commit: "abc", Shape: "open 10/s 5m0s", Signal: "go_goroutines", Samples: 60, First: 12, Last: 13, Mean: 12.5, Max: 14, Growth: 0.01, P: 0.4, RunID: "r1"},
		{Time: t0, Commit: "abc", Shape: "open 10/s 5m0s", Signal: "process_resident_memory_bytes", Samples: 60, First: 2.1e7, Last: 9.5e7, Mean: 5.5e7, Max: 9.6e7, Growth: 3.4, P: 1e-9, RunID: "r1"},
		{Time: t0.Add(24 * time.Hour), Commit: "def", Shape: "open 10/s 5m0s", Signal: "queue_depth", Samples: 3, First: 0, Last: 0, Mean: 0, Max: 0, Growth: math.NaN(), P: math.NaN(), RunID: "r2"},
	}
}

// sameSignalRow compares rows to the precision the file keeps: 8
// significant digits.
func sameSignalRow(a, b SignalRow) bool {
	eq := func(x, y float64) bool {
		return x == y || math.IsNaN(x) && math.IsNaN(y) || math.Abs(x-y) <= 1e-7*math.Abs(x)
	}
	return a.Time.Equal(b.Time) && a.Commit == b.Commit && a.Shape == b.Shape && a.Signal == b.Signal &&
		a.Samples == b.Samples && eq(a.First, b.First) && eq(a.Last, b.Last) && eq(a.Mean, b.Mean) &&
		eq(a.Max, b.Max) && eq(a.Growth, b.Growth) && eq(a.P, b.P) && a.RunID == b.RunID
}

func TestSignalsRoundTrip(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSignals(&b, signalRows()); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSignals("signals.csv", &b)
	if err != nil {
		t.Fatal(err)
	}
	want := signalRows()
	if len(got) != len(want) {
		t.Fatalf("read %d rows; want %d", len(got), len(want))
	}
	for i := range want {
		if !sameSignalRow(got[i], want[i]) {
			t.Errorf("row %d = %+v; want %+v", i, got[i], want[i])
		}
	}
}

func TestReadSignalsErrors(t *testing.T) {
	head := strings.Join(SignalsHeader, ",") + "\n"
	row := "2026-11-01T02:00:00Z,abc,open 10/s 5m0s,go_goroutines,60,12,13,12.5,14,,,r1\n"
	tests := []struct{ name, in, want string }{
		{"empty", "", "s.csv:1: empty file"},
		{"header", "time,commit\n", "s.csv:1: header is"},
		{"fields", head + "a,b\n", "s.csv:2: wrong number of fields"},
		{"time", head + strings.Replace(row, "2026-11-01T02:00:00Z", "yesterday", 1), `s.csv:2: time: bad value "yesterday"`},
		{"samples", head + strings.Replace(row, ",60,", ",0,", 1), `s.csv:2: samples: bad value "0"`},
		{"mean", head + strings.Replace(row, ",12.5,", ",lots,", 1), `s.csv:2: mean: bad value "lots"`},
		{"no signal", head + strings.Replace(row, "go_goroutines", "", 1), "s.csv:2: signal: empty"},
		{"order", head + row + strings.Replace(row, "2026-11-01", "2026-10-01", 1), "s.csv:3: time 2026-10-01T02:00:00Z is before"},
	}
	for _, tt := range tests {
		_, err := ReadSignals("s.csv", strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: ReadSignals = %v; want %q", tt.name, err, tt.want)
		}
	}
}

func TestSignalsFromRun(t *testing.T) {
	start := time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)
	res := &result.Run{
		Meta: result.Meta{Start: start, Model: "open", Rate: 10, Duration: time.Minute, GitCommit: "abc", RunID: "r"},
	}
	sig := &signals.Report{
		Samples: []signals.Sample{
			{Signal: "go_goroutines", Value: 10}, {Signal: "go_goroutines", Value: 20}, {Signal: "go_goroutines", Value: 30},
			{Signal: "a_first", Value: 1},
		},
		Trends: []signals.Trend{{Signal: "go_goroutines", Growth: 2, P: 0.001}},
	}
	rows := SignalsFromRun(res, sig)
	if len(rows) != 2 || rows[0].Signal != "a_first" || rows[1].Signal != "go_goroutines" {
		t.Fatalf("rows = %+v; want a_first then go_goroutines", rows)
	}
	g := rows[1]
	if g.Samples != 3 || g.First != 10 || g.Last != 30 || g.Mean != 20 || g.Max != 30 || g.Growth != 2 || g.P != 0.001 {
		t.Errorf("go_goroutines row = %+v", g)
	}
	if !math.IsNaN(rows[0].Growth) || rows[0].Shape != "open 10/s 1m0s" {
		t.Errorf("a_first row = %+v; want no trend, shape open 10/s 1m0s", rows[0])
	}
	if SignalsFromRun(&result.Run{}, nil) != nil {
		t.Errorf("a run without signals has rows")
	}
}

func TestAppendSignals(t *testing.T) {
	path := filepath.Join(t.TempDir(), "env", "Test", SignalsFileName)
	rows := signalRows()
	if err := AppendSignals(path, rows[:2]); err != nil {
		t.Fatal(err)
	}
	if err := AppendSignals(path, rows[2:]); err != nil {
		t.Fatal(err)
	}
	got, err := ReadSignalsFile(path)
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadSignalsFile = %d rows, %v; want 3", len(got), err)
	}
	if err := AppendSignals(path, rows[:1]); err == nil || !strings.Contains(err.Error(), "run r1 at 2026-11-01T02:00:00Z is already in the file") {
		t.Errorf("appending a run already there: %v; want refused", err)
	}
	// A malformed file is reported and left as it is.
	os.WriteFile(path, []byte("garbage\n"), 0o644)
	if err := AppendSignals(path, rows[2:]); err == nil || !strings.Contains(err.Error(), path+":1: header") {
		t.Errorf("appending to a malformed file: %v; want file:line", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "garbage\n" {
		t.Errorf("malformed file changed to %q", b)
	}
}

// FuzzReadSignals: ReadSignals never panics, and what it accepts survives
// a write and a second read unchanged, to the 8 significant digits the
// file keeps.
func FuzzReadSignals(f *testing.F) {
	var b bytes.Buffer
	WriteSignals(&b, signalRows())
	for _, bad := range []func([]byte) []byte{setField(2, 8, "Inf"), setField(3, 6, "NaN"), setField(2, 11, "-20"), setField(4, 4, "q\xff")} {
		f.Add(bad(bytes.Clone(b.Bytes())))
	}
	fuzzRoundTrip(f, b.Bytes(), SignalsHeader, ReadSignals, WriteSignals, sameSignalRow, func(r SignalRow) bool {
		finite := func(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }
		return finite(r.First) && finite(r.Last) && finite(r.Mean) && finite(r.Max) && !math.IsInf(r.Growth, 0) &&
			(math.IsNaN(r.P) || r.P >= 0 && r.P <= 1) && r.Samples >= 1
	})
}
