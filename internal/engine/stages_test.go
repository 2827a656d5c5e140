package engine

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// ms and sec write a time from the run's start.
func ms(n float64) time.Duration  { return time.Duration(n * float64(time.Millisecond)) }
func sec(n float64) time.Duration { return time.Duration(n * float64(time.Second)) }

// TestStagedDue: start k is due when the integral of the rate passes k,
// exactly at the stages' edges, on ramps up and down, skipping stages
// whose rate is 0, and every start beyond the last is due at the end.
func TestStagedDue(t *testing.T) {
	upHoldDown := []Stage{{10 * time.Second, 10}, {10 * time.Second, 10}, {10 * time.Second, 0}}
	withGap := []Stage{{0, 5}, {2 * time.Second, 5}, {0, 0}, {3 * time.Second, 0}, {0, 5}, {2 * time.Second, 5}}
	tests := []struct {
		name   string
		stages []Stage
		hits   uint64
		want   time.Duration
	}{
		{"hold: first", []Stage{{10 * time.Second, 10}, {10 * time.Second, 10}}, 0, 0},
		{"hold: as a constant rate", []Stage{{0, 10}, {10 * time.Second, 10}}, 37, ms(3700)},
		{"ramp up: first, at 0", upHoldDown, 0, 0},
		{"ramp up: √(2k)", upHoldDown, 2, 2 * time.Second},
		{"ramp up: √(2k)", upHoldDown, 8, 4 * time.Second},
		{"ramp up: √(2k)", upHoldDown, 32, 8 * time.Second},
		{"edge: ramp to hold", upHoldDown, 50, 10 * time.Second},
		{"hold: 1/10 s", upHoldDown, 51, ms(10100)},
		{"edge: hold to ramp down", upHoldDown, 150, 20 * time.Second},
		{"ramp down: 10t - t²/2 = 49", upHoldDown, 199, 20*time.Second + sec(10-math.Sqrt(2))},
		{"ramp down: beyond the last", upHoldDown, 200, 30 * time.Second},
		{"gap: last before it", withGap, 9, ms(1800)},
		{"gap: none in the zero stage", withGap, 10, 5 * time.Second},
		{"gap: after it", withGap, 19, ms(6800)},
		{"gap: beyond the last", withGap, 20, 7 * time.Second},
		{"zero throughout", []Stage{{time.Minute, 0}}, 0, time.Minute},
	}
	for _, tt := range tests {
		s := NewStaged(tt.stages)
		got := s.Due(tt.hits)
		assert.InDelta(t, tt.want, got, 1, "%s: Staged(%s).Due(%d) = %s; want %s", tt.name, s, tt.hits, got, tt.want)
		// Pace agrees with Due: before it, at it, after it.
		end := float64(tt.hits) >= s.total
		wait, stop := s.Pace(0, tt.hits)
		assert.Equal(t, end, stop, "%s: Staged(%s).Pace(0, %d): stop", tt.name, s, tt.hits)
		if !end {
			assert.Equal(t, got, wait, "%s: Staged(%s).Pace(0, %d): wait", tt.name, s, tt.hits)
			wait, _ = s.Pace(got, tt.hits)
			assert.Zero(t, wait, "%s: Staged(%s).Pace(%s, %d): wait", tt.name, s, got, tt.hits)
			wait, _ = s.Pace(got+time.Second, tt.hits)
			assert.Zero(t, wait, "%s: Staged(%s).Pace(%s, %d): wait, behind", tt.name, s, got+time.Second, tt.hits)
		}
	}
}

// TestStagedStarts: the starts of each stage number the integral of its
// rate, and none falls in a stage whose rate is 0.
func TestStagedStarts(t *testing.T) {
	stages := []Stage{{10 * time.Second, 10}, {10 * time.Second, 10}, {10 * time.Second, 0}, {10 * time.Second, 0}, {10 * time.Second, 4}}
	s := NewStaged(stages)
	per := make([]int, len(stages))
	for k := uint64(0); ; k++ {
		if _, stop := s.Pace(0, k); stop {
			break
		}
		due := s.Due(k)
		require.Less(t, due, s.Duration(), "start %d", k)
		per[due/(10*time.Second)]++
		if k > 0 {
			require.Greater(t, due, s.Due(k-1), "Due(%d) after Due(%d)", k, k-1)
		}
	}
	assert.Equal(t, []int{50, 100, 50, 0, 20}, per, "starts per stage")
	assert.Equal(t, "10s:10,10s:10,10s:0,10s:0,10s:4", s.String())
}

// TestStagedLong: over hours the schedule keeps to the closed form: no
// drift on a long hold, nor on a hold after a long ramp, and a ramp's
// last start where exact arithmetic puts it.
func TestStagedLong(t *testing.T) {
	// A 10-hour hold at 7/s: start k at k/7 s, to the nanosecond.
	hold := NewStaged([]Stage{{0, 7}, {10 * time.Hour, 7}})
	for _, k := range []uint64{1, 7, 100_003, 251_999} {
		want := time.Duration(float64(k) * float64(time.Second) / 7)
		assert.InDelta(t, want, hold.Due(k), 1, "hold: Due(%d)", k)
	}
	// An 8-hour ramp from 0 to 1000/s, then a 2-hour hold.
	const rampStarts = 1000.0 / 2 * 8 * 3600 // 14.4 million
	ramp := NewStaged([]Stage{{8 * time.Hour, 1000}, {2 * time.Hour, 1000}})
	for _, k := range []uint64{1, 1000, 7_000_000, rampStarts - 1} {
		// t = √(2k·D/b), in 200-bit arithmetic.
		x := new(big.Float).SetPrec(200).SetUint64(2 * k)
		x.Mul(x, big.NewFloat((8 * time.Hour).Seconds()))
		x.Quo(x, big.NewFloat(1000))
		x.Sqrt(x)
		x.Mul(x, big.NewFloat(1e9))
		want, _ := x.Float64()
		assert.InDelta(t, want, float64(ramp.Due(k)), 1, "ramp: Due(%d)", k)
	}
	for _, j := range []uint64{0, 1, 3_599_999, 7_199_999} {
		want := 8*time.Hour + time.Duration(float64(j)*float64(time.Millisecond))
		assert.InDelta(t, want, ramp.Due(rampStarts+j), 1, "hold after the ramp: Due(%d)", rampStarts+j)
	}
	_, stop := ramp.Pace(0, rampStarts+7_200_000)
	assert.True(t, stop, "Pace after the last start: stop")
}

// TestUserSpans: closed-model user i runs while the target is at least
// i+1, from when it first reaches it until it falls below, again when it
// comes back.
func TestUserSpans(t *testing.T) {
	upHoldDown := []Stage{{10 * time.Second, 3}, {10 * time.Second, 3}, {10 * time.Second, 0}}
	downUp := []Stage{{0, 2}, {10 * time.Second, 2}, {0, 1}, {10 * time.Second, 1}, {0, 2}, {10 * time.Second, 2}}
	tests := []struct {
		name   string
		stages []Stage
		id     int
		want   []span
	}{
		{"ramp: first user", upHoldDown, 0, []span{{ms(3333.333333), ms(26666.666666)}}},
		{"ramp: second", upHoldDown, 1, []span{{ms(6666.666666), ms(23333.333333)}}},
		{"ramp: third, at the top", upHoldDown, 2, []span{{10 * time.Second, 20 * time.Second}}},
		{"ramp: beyond the top", upHoldDown, 3, nil},
		{"steps: always on", downUp, 0, []span{{0, 30 * time.Second}}},
		{"steps: off in between", downUp, 1, []span{{0, 10 * time.Second}, {20 * time.Second, 30 * time.Second}}},
	}
	for _, tt := range tests {
		got := userSpans(tt.stages, tt.id)
		require.Len(t, got, len(tt.want), "%s: userSpans(%s, %d) = %v", tt.name, FormatStages(tt.stages), tt.id, got)
		for i := range got {
			assert.InDelta(t, tt.want[i].from, got[i].from, float64(time.Microsecond), "%s: userSpans(%s, %d)[%d].from", tt.name, FormatStages(tt.stages), tt.id, i)
			assert.InDelta(t, tt.want[i].to, got[i].to, float64(time.Microsecond), "%s: userSpans(%s, %d)[%d].to", tt.name, FormatStages(tt.stages), tt.id, i)
		}
	}
}

// TestOpenStages: the open model along stages makes each stage's starts
// at their schedule, none in a stage whose rate is 0, and none late.
func TestOpenStages(t *testing.T) {
	stages := []Stage{{10 * time.Second, 10}, {10 * time.Second, 10}, {10 * time.Second, 0}, {10 * time.Second, 0}, {10 * time.Second, 4}}
	cfg := Config{
		Open: true, Arrivals: NewStaged(stages), MaxInFlight: 5,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 50 * time.Second, Grace: time.Second, Window: 10 * time.Second,
	}
	d := &fakeDriver{took: 50 * time.Millisecond}
	segs, _ := run(t, cfg, d, Hooks{}, nil)
	per := make([]int, len(stages))
	for _, s := range d.starts {
		per[s/(10*time.Second)]++
	}
	assert.Equal(t, []int{50, 100, 50, 0, 20}, per, "starts per stage")
	seg := segs[len(segs)-1]
	assert.Equal(t, int64(220), seg.Scheduled, "starts")
	assert.Zero(t, seg.Late+seg.Waited+seg.Dropped, "late, waited and dropped starts")
}

// TestClosedStages: the closed model along stages starts user i when the
// target first reaches i+1 and stops it, after its task and think time,
// when the target falls below; a user on again keeps its session.
func TestClosedStages(t *testing.T) {
	tests := []struct {
		name   string
		stages []Stage
		users  int
		at     []time.Duration // when to count the users running
		want   []int64
		tasks  map[int]int
	}{
		{
			name:   "up, hold, down",
			stages: []Stage{{10 * time.Second, 3}, {10 * time.Second, 3}, {10 * time.Second, 0}},
			users:  3,
			// User 0 from 3.33 s to 26.67 s, 1 from 6.67 s to 23.33 s, 2
			// from 10 s to 20 s, each stopping after its task and think.
			at:    []time.Duration{ms(2500), ms(5500), ms(8500), ms(15500), ms(22500), ms(25500), ms(28500)},
			want:  []int64{0, 1, 2, 3, 2, 1, 0},
			tasks: map[int]int{0: 24, 1: 17, 2: 10},
		},
		{
			name:   "down and up again",
			stages: []Stage{{0, 2}, {10 * time.Second, 2}, {0, 1}, {10 * time.Second, 1}, {0, 2}, {10 * time.Second, 2}},
			users:  2,
			at:     []time.Duration{ms(5500), ms(15500), ms(25500)},
			want:   []int64{2, 1, 2},
			tasks:  map[int]int{0: 30, 1: 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Users: tt.users, SpawnRate: 1, Stages: tt.stages, Duration: 30 * time.Second, Grace: time.Second, Window: 10 * time.Second}
			// A task every second per user: 100 ms, then 900 ms of think.
			d := &fakeDriver{took: 100 * time.Millisecond, think: 900 * time.Millisecond}
			var got []int64
			run(t, cfg, d, Hooks{}, func(e *Engine[int]) {
				for _, at := range tt.at {
					time.Sleep(time.Until(d.t0.Add(at)))
					got = append(got, e.InFlight())
				}
			})
			assert.Equal(t, tt.want, got, "users running at %v", tt.at)
			assert.Equal(t, tt.tasks, d.users, "tasks per user")
			assert.Equal(t, tt.users, d.setups, "setups: once per user, however often it starts")
			assert.Equal(t, tt.users, d.teardowns, "teardowns: once per user, at the end")
		})
	}
}
