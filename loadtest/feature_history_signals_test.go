package loadtest

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyload/steadyload/loadtest/history"
	"github.com/steadyload/steadyload/loadtest/trend"
)

// signalHistory is 20 nightly runs of one signal whose per-run mean grows
// by creep per night, with 4 % noise.
func signalHistory(seed uint64, creep float64) []history.SignalRow {
	r := rand.New(rand.NewPCG(seed, 1))
	t0 := time.Date(2026, 11, 1, 2, 0, 0, 0, time.UTC)
	var rows []history.SignalRow
	for i := range 20 {
		mean := 5e7 * math.Pow(1+creep, float64(i)) * math.Exp(0.04*r.NormFloat64())
		rows = append(rows, history.SignalRow{
			Time: t0.Add(time.Duration(i) * 24 * time.Hour), Shape: "open 10/s 5m0s",
			Signal: "process_resident_memory_bytes", Samples: 60, First: mean, Last: mean, Mean: mean, Max: mean,
		})
	}
	return rows
}

func TestSignalDrift(t *testing.T) {
	for seed := range uint64(5) {
		found := signalDriftFindings(signalHistory(seed, 0.03), "open 10/s 5m0s", trend.DriftOptions{}, true)
		if len(found) != 1 || !found[0].Fail || !strings.Contains(found[0].Text, "server signal process_resident_memory_bytes (mean per run) is drifting up +") {
			t.Errorf("seed %d, +3%%/night: findings = %+v; want one drift of about +3%%/run", seed, found)
		}
		if found := signalDriftFindings(signalHistory(seed, 0), "open 10/s 5m0s", trend.DriftOptions{}, true); len(found) != 0 {
			t.Errorf("seed %d, flat: findings = %+v; want none", seed, found)
		}
		if found := signalDriftFindings(signalHistory(seed, 0.03), "closed 5 users", trend.DriftOptions{}, true); len(found) != 0 {
			t.Errorf("seed %d, another load shape: findings = %+v; want none", seed, found)
		}
	}
}

// TestSignalsHistoryAppended: with -loadtest.history, a complete run's
// server signals are summarised into signals.csv beside history.csv, one
// row per signal.
func TestSignalsHistoryAppended(t *testing.T) {
	srv, _ := signalServer(t, 0.25, nil)
	out := t.TempDir()
	dir := filepath.Join(out, "baseline")
	fs := newFlagSet()
	fl, sf, hf := newFlags(fs), newSignalFlags(fs), newHistoryFlags(fs)
	if err := fs.Parse([]string{"-loadtest.out=" + out, "-loadtest.history", "-loadtest.history-dir=" + dir, fastScrape}); err != nil {
		t.Fatal(err)
	}
	tb := newCaptureTB(t)
	sc := signalScenario(srv)
	sc.Env = "local"
	res := runWith(tb, sc, runOptions{flags: fl, parts: parts{history: hf, signals: sf}})
	if res == nil || res.Signals == nil {
		t.Fatalf("no signals; log:\n%s", tb.logText())
	}
	rows, err := history.ReadSignalsFile(history.SignalsPath(dir, "local", t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]history.SignalRow{}
	for _, r := range rows {
		got[r.Signal] = r
		if r.RunID != res.Meta.RunID || r.Shape != "open 50/s 2s" {
			t.Errorf("row %+v; want this run's id and shape", r)
		}
	}
	heap, ok := got["go_memstats_heap_inuse_bytes"]
	if !ok || heap.Samples < 10 || heap.Last <= heap.First || !(heap.Growth > 0.1) || !(heap.P < 0.01) {
		t.Errorf("heap row = %+v; want the rising heap with its trend", heap)
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Errorf("no go_goroutines row in %+v", rows)
	}
	if !strings.Contains(tb.logText(), "server signal rows appended") {
		t.Errorf("log does not say the signals history grew:\n%s", tb.logText())
	}
}
