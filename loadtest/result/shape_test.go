package result

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

var (
	openMeta = Meta{Model: "open", Rate: 10, MaxInFlight: 100, Duration: 30 * time.Second,
		Users: 7, SpawnRate: 2, Wait: "between(1s,5s)"} // closed-model fields: not part of the shape
	closedMeta = Meta{Model: "closed", Users: 5, SpawnRate: 1, Wait: "between(1s,5s)", Duration: 5 * time.Minute,
		Rate: 3, MaxInFlight: 100}
)

// TestShapeText pins the key the history files store (rows recorded
// before must keep matching) and the text the log, the gate and the
// report show.
func TestShapeText(t *testing.T) {
	noWait := closedMeta
	noWait.Wait = ""
	tests := []struct {
		m         Meta
		key, text string
	}{
		{openMeta, "open 10/s 30s", "open model, 10/s, at most 100 in flight, 30s"},
		{closedMeta, "closed 5 users between(1s,5s) 5m0s", "closed model, 5 users (spawn 1/s), between(1s,5s), 5m0s"},
		{noWait, "closed 5 users no-wait 5m0s", "closed model, 5 users (spawn 1/s), no think time, 5m0s"},
		{Meta{Model: "open", Rate: 0.5, MaxInFlight: 3, Duration: time.Hour}, "open 0.5/s 1h0m0s", "open model, 0.5/s, at most 3 in flight, 1h0m0s"},
		{Meta{Model: "open", Rate: 10, MaxInFlight: 100, Stages: "30s:10,2m0s:10,30s:0", Duration: 3 * time.Minute},
			"open 10/s 3m0s stages 30s:10,2m0s:10,30s:0", "open model, stages 30s:10,2m0s:10,30s:0 (peak 10/s), at most 100 in flight, 3m0s"},
		{Meta{Model: "closed", Users: 5, Wait: "constant(1s)", Stages: "1m0s:5,1m0s:0", Duration: 2 * time.Minute},
			"closed 5 users constant(1s) 2m0s stages 1m0s:5,1m0s:0", "closed model, stages 1m0s:5,1m0s:0 (peak 5 users), constant(1s), 2m0s"},
	}
	for _, tt := range tests {
		s := tt.m.Shape()
		assert.Equal(t, tt.key, s.Key(), "%+v.Key()", s)
		assert.Equal(t, tt.text, s.String(), "%+v.String()", s)
	}
}

// TestShapeDiff: how a shape differs from the baseline's, and that two
// shapes are the same load exactly when they are ==.
func TestShapeDiff(t *testing.T) {
	faster, capped, longer := openMeta, openMeta, openMeta
	faster.Rate = 20
	capped.MaxInFlight = 50
	longer.Duration = time.Minute
	fewer, spawn, think, openUsers := closedMeta, closedMeta, closedMeta, openMeta
	fewer.Users = 3
	spawn.SpawnRate = 2
	think.Wait = ""
	openUsers.Users = 1 // the closed model's users do not shape an open run
	staged, restaged := openMeta, openMeta
	staged.Stages, restaged.Stages = "10s:10,20s:10", "20s:10,10s:10"
	tests := []struct {
		base, cur Meta
		want      string
	}{
		{openMeta, openMeta, ""},
		{openMeta, openUsers, ""},
		{openMeta, faster, "rate 10 in the baseline, 20 now"},
		{openMeta, capped, "max in flight 100 in the baseline, 50 now"},
		{openMeta, longer, "duration 30s in the baseline, 1m0s now"},
		{closedMeta, fewer, "users 5 in the baseline, 3 now"},
		{closedMeta, spawn, "spawn rate 1 in the baseline, 2 now"},
		{closedMeta, think, "think time between(1s,5s) in the baseline,  now"},
		{openMeta, closedMeta, "model open in the baseline, closed now"},
		{openMeta, staged, "stages none in the baseline, 10s:10,20s:10 now"},
		{staged, restaged, "stages 10s:10,20s:10 in the baseline, 20s:10,10s:10 now"},
		{staged, staged, ""},
	}
	for _, tt := range tests {
		base, cur := tt.base.Shape(), tt.cur.Shape()
		got := strings.Join(base.Diff(cur), "; ")
		assert.Equal(t, tt.want, got, "(%s).Diff(%s)", base, cur)
		assert.Equal(t, tt.want == "", base == cur, "(%s) == (%s)", base, cur)
	}
}
