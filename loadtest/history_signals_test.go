package loadtest

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/steadyload/steadyload/internal/history"
)

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
