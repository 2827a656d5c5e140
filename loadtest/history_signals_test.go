package loadtest

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
	require.NoError(t, fs.Parse([]string{"-loadtest.out=" + out, "-loadtest.history", "-loadtest.history-dir=" + dir, fastScrape}))
	tb := newCaptureTB(t)
	sc := signalScenario(srv)
	sc.Env = "local"
	res := runWith(tb, sc, runOptions{flags: fl, parts: parts{history: hf, signals: sf}})
	require.NotNil(t, res, "no result; log:\n%s", tb.logText())
	require.NotNil(t, res.Signals, "no signals; log:\n%s", tb.logText())
	rows, err := history.ReadSignalsFile(history.SignalsPath(dir, "local", t.Name()))
	require.NoError(t, err, "history.ReadSignalsFile")
	got := map[string]history.SignalRow{}
	for _, r := range rows {
		got[r.Signal] = r
		assert.Equal(t, res.Meta.RunID, r.RunID, "row %s: run id; want this run's", r.Signal)
		assert.Equal(t, "open 50/s 2s", r.Shape, "row %s: shape; want this run's", r.Signal)
	}
	// The rising heap with its trend; NaN growth or p fails the comparisons.
	if heap, ok := got["go_memstats_heap_inuse_bytes"]; assert.True(t, ok, "no go_memstats_heap_inuse_bytes row in %+v", rows) {
		assert.GreaterOrEqual(t, heap.Samples, 10, "heap row %+v: samples", heap)
		assert.Greater(t, heap.Last, heap.First, "heap row %+v: last sample; want above the first", heap)
		assert.Greater(t, heap.Growth, 0.1, "heap row %+v: growth", heap)
		assert.Less(t, heap.P, 0.01, "heap row %+v: p", heap)
	}
	assert.Contains(t, got, "go_goroutines", "signal rows")
	assert.Contains(t, tb.logText(), "server signal rows appended", "log; want it to say the signals history grew")
}
