package reportsink

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/drift/drifttest"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestHistorySeries: the chart of each task's p95 per run at this run's
// load shape, the step among the recorded runs marked, and this run drawn
// last when it is not recorded.
func TestHistorySeries(t *testing.T) {
	const shape = "open 10/s 5m0s"
	path := filepath.Join(t.TempDir(), "history.csv")
	rows := drifttest.Nights(8, 20, 0, 0.2, 13, shape)
	require.NoError(t, history.Append(path, rows))
	require.NoError(t, history.Append(path, drifttest.Nights(9, 5, 0, 0, 0, "closed 5 users no-wait 1m0s"))) // another shape: not drawn

	h := result.NewHistogram()
	require.NoError(t, h.RecordValue(50000))
	res := &result.Run{
		Meta:  result.Meta{RunID: "this", Model: "open", Rate: 10, Duration: 5 * time.Minute, Start: time.Date(2026, 4, 1, 2, 0, 0, 0, time.UTC)},
		Tasks: []*result.Task{{Type: "POST", Name: "/orders", Requests: 1, Latency: h}},
		Total: &result.Task{Name: result.AggregateName, Requests: 1, Latency: h},
	}
	got := historySeries(path, res)
	require.Len(t, got, 1, "series %+v; want POST /orders alone", got)
	s := got[0]
	assert.Equal(t, "POST /orders", s.Task)
	require.Len(t, s.Points, 21, "the 20 recorded runs of the shape, then this one")
	assert.Equal(t, "c00", s.Points[0].Commit)
	assert.Equal(t, res.Meta.Start, s.Points[20].Time)
	assert.InDelta(t, 50.0, s.Points[20].Value, 0.1, "this run's p95 in ms")
	assert.Equal(t, []int{13}, s.Changes, "the step at night 13")

	assert.Nil(t, historySeries(filepath.Join(t.TempDir(), "none.csv"), &result.Run{}), "no history file")
}
