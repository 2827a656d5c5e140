package loadtest

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/faultserver"
	"github.com/steadyload/steadyload/loadtest/result"
)

// snapshot reads every file under root.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[path] = string(b)
		return err
	})
	require.NoError(t, err, "read the files under %s", root)
	return files
}

// TestPartialRunsNeverUpdateBaseline: with -loadtest.update, an aborted
// and an interrupted run leave the recorded baseline byte for byte as it
// was, and say why.
func TestPartialRunsNeverUpdateBaseline(t *testing.T) {
	srv := startFault(t, faultserver.Config{Latency: time.Millisecond})
	root := t.TempDir()
	run := func(t *testing.T, tb testing.TB, args ...string) *result.Run {
		fs := newFlagSet()
		fl, bf, sf := newFlags(fs), newBaselineFlags(fs), newSafetyFlags(fs)
		require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + t.TempDir(), "-loadtest.env=guard", "-loadtest.update"}, args...)))
		sc := Scenario{
			Host: srv.URL(), Rate: 50, Duration: 5 * time.Second, Window: 500 * time.Millisecond, MaxLateRatio: 0.5,
			Tasks: []Task{getTask("GET /x", "/x", 1)}, Gate: Gate{Dir: root},
		}
		return resultOf(runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf, safety: sf}}))
	}
	// Each subtest records under its own name: record one complete run
	// under each name first.
	tests := []struct {
		name   string
		spoil  func(tb *captureTB, cancel context.CancelFunc) // what goes wrong mid-run
		status result.Status
	}{
		{"aborted", func(*captureTB, context.CancelFunc) { srv.Set(faultserver.Status500) }, result.Aborted},
		{"interrupted", func(_ *captureTB, cancel context.CancelFunc) { cancel() }, result.Interrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv.Set(faultserver.None)
			tb := newCaptureTB(t)
			recorded := run(t, tb)
			require.NotNil(t, recorded, "recording run: %s", tb.messages())
			require.Equal(t, result.Complete, recorded.Meta.Status, "recording run: status (%s)", tb.messages())
			require.False(t, tb.Failed(), "recording run failed: %s", tb.messages())
			before := snapshot(t, root)
			require.NotEmpty(t, before, "the recording run wrote no baseline")

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tb = newCaptureTB(t)
			tb.ctx = ctx
			tm := time.AfterFunc(1500*time.Millisecond, func() { tt.spoil(tb, cancel) })
			defer tm.Stop()
			res := run(t, tb)
			srv.Set(faultserver.None)
			require.NotNil(t, res, "run: %s", tb.messages())
			require.Equal(t, tt.status, res.Meta.Status, "run: status (meta %+v; %s)", res.Meta, tb.messages())
			assert.Equal(t, before, snapshot(t, root), "the baseline after a run that was %s; want it unchanged", tt.status)
			assert.Contains(t, tb.messages(), "baseline not updated: the run is "+string(tt.status), "messages; want them to say the baseline was not updated")
		})
	}
}
