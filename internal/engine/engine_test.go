package engine

import (
	"context"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// fakeDriver's users are numbers; its tasks sleep took (fake time) and
// are logged, as are setups and teardowns.
type fakeDriver struct {
	took  time.Duration
	think time.Duration
	setup time.Duration // how long a user's Setup takes
	fail  func() bool   // a probe fails while it says so

	mu        sync.Mutex
	starts    []time.Duration // each task's origin, from t0
	users     map[int]int     // tasks per user
	setups    int
	teardowns int
	t0        time.Time
}

func (d *fakeDriver) NewUser(id int) int { return id }

func (d *fakeDriver) Setup(context.Context, int) bool {
	time.Sleep(d.setup)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.setups++
	return true
}

func (d *fakeDriver) Exec(ctx context.Context, u int, origin time.Time) (time.Duration, time.Time) {
	start := time.Now()
	if origin.IsZero() {
		origin = start
	}
	select {
	case <-time.After(d.took):
	case <-ctx.Done():
	}
	d.mu.Lock()
	d.starts = append(d.starts, origin.Sub(d.t0))
	d.users[u]++
	d.mu.Unlock()
	return time.Since(start), time.Now()
}

func (d *fakeDriver) Probe(ctx context.Context, u int) bool {
	d.Exec(ctx, u, time.Time{})
	return d.fail == nil || !d.fail()
}

func (d *fakeDriver) Think(int, time.Duration) (time.Duration, bool) {
	return d.think, d.think > 0
}

func (d *fakeDriver) Teardown(context.Context, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.teardowns++
}

// countRecorder counts windows and cuts; its measures are empty.
type countRecorder struct {
	mu      sync.Mutex
	windows []time.Duration // each closed window's offset
	cuts    int
}

func (r *countRecorder) Close(_ time.Time, offset, _ time.Duration, _ int, _ string, cut bool) ([]result.Window, *Measures) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.windows = append(r.windows, offset)
	row := result.Window{Offset: offset, Name: result.AggregateName}
	if !cut {
		return []result.Window{row}, nil
	}
	r.cuts++
	return []result.Window{row}, &Measures{}
}

func (r *countRecorder) Cut() *Measures {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cuts++
	return &Measures{}
}

// run runs cfg through d in a synctest bubble and returns the segments:
// those the clock cut, then Final's.
func run(t *testing.T, cfg Config, d *fakeDriver, hooks Hooks, during func(e *Engine[int])) ([]*Segment, *countRecorder) {
	t.Helper()
	var segs []*Segment
	rec := &countRecorder{}
	synctest.Test(t, func(t *testing.T) {
		d.users = map[int]int{}
		started := make(chan struct{})
		hooks.Start = func(t0 time.Time) {
			d.t0 = t0
			close(started)
		}
		hooks.Segment = func(s *Segment) { segs = append(segs, s) }
		e := New[int](cfg, d, rec, hooks)
		done := make(chan struct{})
		go func() {
			defer close(done)
			e.Run(t.Context())
		}()
		<-started
		if during != nil {
			during(e)
		}
		<-done
		segs = append(segs, e.Final())
	})
	return segs, rec
}

// TestOpenSchedule: the open model starts each task at its schedule, one
// every 1/rate, none late, none dropped, each latency counted from it,
// and the segments split the counts between them.
func TestOpenSchedule(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: ConstantRate{Freq: 10}, MaxInFlight: 5,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 6 * time.Second, Grace: time.Second, Window: time.Second, Segment: 3 * time.Second,
	}
	d := &fakeDriver{took: 250 * time.Millisecond}
	segs, rec := run(t, cfg, d, Hooks{}, nil)
	require.Len(t, d.starts, 60, "tasks run")
	for i, s := range d.starts {
		if !assert.Equal(t, time.Duration(i)*100*time.Millisecond, s, "start %d's origin", i) {
			break
		}
	}
	assert.Equal(t, 3, d.setups, "users set up: as many as were in flight at once (250 ms tasks, 100 ms apart)")
	assert.Equal(t, 3, d.teardowns, "pooled users torn down")
	require.Len(t, segs, 2, "segments: one cut at 3 s, then the last")
	assert.Equal(t, int64(60), segs[0].Scheduled+segs[1].Scheduled, "starts in all")
	for i, s := range segs {
		// The start due at 3 s, at the cut, falls in either.
		assert.InDelta(t, 30, s.Scheduled, 1, "segment %d: starts", i)
		assert.Zero(t, s.Late+s.Waited+s.Dropped, "segment %d: late, waited and dropped starts", i)
		assert.Equal(t, 3*time.Second, s.End.Sub(s.Start), "segment %d: length", i)
	}
	assert.Len(t, rec.windows, 6, "windows closed")
}

// TestSetupNotInLatency: a start that needs a new user counts its latency
// from its task's start, not from before the user's OnStart, which has a
// row of its own.
func TestSetupNotInLatency(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: ConstantRate{Freq: 2}, MaxInFlight: 5,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 2 * time.Second, Grace: time.Second, Window: time.Second,
	}
	// User 0 is set up until 300 ms and busy until 900; start 1, due at
	// 500 ms, sets up user 1 until 800; starts 2 and 3 reuse a user.
	d := &fakeDriver{took: 600 * time.Millisecond, setup: 300 * time.Millisecond}
	segs, _ := run(t, cfg, d, Hooks{}, nil)
	require.Len(t, d.starts, 4, "tasks run")
	assert.Equal(t, 2, d.setups, "users set up")
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	// Starts 0 and 1 count from their task's start, once their user was
	// set up: start 0 is due at the run's start, as at a wake-up.
	want := []time.Duration{ms(300), ms(800), ms(1000), ms(1500)}
	assert.Equal(t, want, d.starts, "the origins: starts 0 and 1 once their user was set up, the others at their schedule")
	assert.Zero(t, segs[len(segs)-1].Late, "late starts")
}

// TestOpenSlotsFull: with every slot taken by a slow target, starts wait
// for one; the latency of each counts from its schedule, and the wait is
// the target's: the starts waited, none is late, and no window says the
// generator was starved.
func TestOpenSlotsFull(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: ConstantRate{Freq: 10}, MaxInFlight: 1,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 2 * time.Second, Grace: time.Second, Window: time.Second,
	}
	d := &fakeDriver{took: 300 * time.Millisecond}
	var lags []time.Duration
	var mu sync.Mutex
	hooks := Hooks{Lag: func(l time.Duration) { mu.Lock(); lags = append(lags, l); mu.Unlock() }}
	segs, _ := run(t, cfg, d, hooks, nil)
	seg := segs[len(segs)-1]
	assert.Equal(t, int64(7), seg.Scheduled, "starts made: one every 300 ms")
	assert.Equal(t, int64(6), seg.Waited, "starts that waited for a slot: all but the first")
	assert.Zero(t, seg.Late, "starts late by the generator's doing")
	assert.Equal(t, int64(13), seg.Dropped, "starts due before the end but never made")
	assert.Zero(t, seg.Starved, "windows said to be the generator's")
	assert.Zero(t, seg.MaxLag, "the generator's start lag")
	assert.Len(t, lags, 7, "lags recorded")
	for i, l := range lags {
		assert.Zero(t, l, "start %d's lag: the generator's part only", i)
	}
	for i, s := range d.starts {
		assert.Equal(t, time.Duration(i)*100*time.Millisecond, s, "start %d's origin: its schedule, not when it was made", i)
	}
}

// TestStartFrom: an open-model start's latency counts from its task's
// start (zero from) only when it fell due while the scheduler slept and no
// start since the wake-up waited for a slot; from the wake-up once one
// did; from its schedule when it fell due after the wake-up or before the
// sleep.
func TestStartFrom(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	woke := t0.Add(ms(250)) // slept from 50 ms to 250 ms
	for _, tc := range []struct {
		name   string
		sched  time.Duration
		waited bool
		want   time.Time
	}{
		{"fell due in the sleep: from the task's start", ms(100), false, time.Time{}},
		{"due at the wake-up: from the task's start", ms(250), false, time.Time{}},
		{"fell due in the sleep, a start since the wake-up waited: from the wake-up", ms(100), true, woke},
		{"due after the wake-up: from the schedule", ms(300), false, t0.Add(ms(300))},
		{"due after the wake-up, waited: from the schedule", ms(300), true, t0.Add(ms(300))},
		{"due before the sleep: from the schedule", ms(40), false, t0.Add(ms(40))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := startFrom(t0.Add(tc.sched), woke, tc.sched, ms(50), tc.waited)
			assert.Equal(t, tc.want, got)
		})
	}
}

// stallingRate is ConstantRate{Freq: 10} whose scheduler stalls for
// stall once, before start at: a generator starved of CPU.
type stallingRate struct {
	at    uint64
	stall time.Duration
}

func (r stallingRate) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits == r.at {
		time.Sleep(r.stall) // fake time: the scheduler stalls, its starts fall behind
	}
	return ConstantRate{Freq: 10}.Pace(elapsed, hits)
}

func (r stallingRate) Due(hits uint64) time.Duration { return ConstantRate{Freq: 10}.Due(hits) }

// whyRecorder is a countRecorder that keeps why each window was the
// generator's.
type whyRecorder struct {
	countRecorder
	whys []string
}

func (r *whyRecorder) Close(start time.Time, offset, length time.Duration, users int, why string, cut bool) ([]result.Window, *Measures) {
	r.mu.Lock()
	r.whys = append(r.whys, why)
	r.mu.Unlock()
	return r.countRecorder.Close(start, offset, length, users, why, cut)
}

// TestGeneratorStarvedWindow: a scheduler that stalls (its starts fall far
// behind, no slot in the way) marks its window as the generator's, and the
// segment counts it; a target that holds every slot for as long does not
// (TestOpenSlotsFull).
func TestGeneratorStarvedWindow(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: stallingRate{at: 15, stall: 600 * time.Millisecond}, MaxInFlight: 10,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 3 * time.Second, Grace: time.Second, Window: time.Second,
	}
	d := &fakeDriver{took: 50 * time.Millisecond}
	rec := &whyRecorder{}
	var seg *Segment
	synctest.Test(t, func(t *testing.T) {
		d.users = map[int]int{}
		hooks := Hooks{Start: func(t0 time.Time) { d.t0 = t0 }}
		e := New[int](cfg, d, rec, hooks)
		e.Run(t.Context())
		seg = e.Final()
	})
	assert.Equal(t, 1, seg.Starved, "windows marked as the generator's")
	assert.Zero(t, seg.Waited, "starts that waited for a slot")
	assert.Equal(t, int64(6), seg.Late, "starts late: those due in the stall, but the last")
	// The stall came between the scheduler's reading of the clock and its
	// sleep, which it then slept in full: the start due at 1.5 s was made
	// at 2.1 s, in the third window.
	assert.Equal(t, 600*time.Millisecond, seg.MaxLag, "the largest start lag: the start due as the stall began")
	require.Len(t, rec.whys, 3, "windows closed")
	assert.Equal(t, []string{"", "", "the generator was starved: its starts were 600ms behind schedule (p99)"}, rec.whys, "why each window was the generator's")
}

// busyRate is ConstantRate{Freq: 100} whose every Pace costs the
// scheduler cost: its own work per start, which fake time otherwise makes
// free.
type busyRate struct{ cost time.Duration }

func (r busyRate) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	time.Sleep(r.cost)
	return ConstantRate{Freq: 100}.Pace(elapsed, hits)
}

func (r busyRate) Due(hits uint64) time.Duration { return ConstantRate{Freq: 100}.Due(hits) }

// TestSlotsFullBacklog: a target too slow for the rate holds every slot
// and puts the scheduler ever further behind (10 s by the end); the
// scheduler's own work per start, made while behind, is charged to the
// generator only since its last wait for a slot, so its lag stays that of
// a few starts' work and it is never called late or starved.
func TestSlotsFullBacklog(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: busyRate{cost: 200 * time.Microsecond}, MaxInFlight: 10,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 20 * time.Second, Grace: time.Second, Window: time.Second,
	}
	d := &fakeDriver{took: 200 * time.Millisecond}
	segs, _ := run(t, cfg, d, Hooks{}, nil)
	seg := segs[len(segs)-1]
	assert.InDelta(t, 1000, seg.Scheduled, 10, "starts made: 50/s, what 10 slots of 200 ms allow")
	assert.Greater(t, seg.Waited, int64(900), "starts late for a slot")
	assert.Zero(t, seg.Late, "starts late by the generator's doing")
	assert.Zero(t, seg.Starved, "windows said to be the generator's")
	assert.Less(t, seg.MaxLag, 5*time.Millisecond, "the generator's largest start lag")
	assert.Greater(t, d.starts[len(d.starts)-1], d.starts[0], "origins in order")
}

// TestHeldFor: the target's part of a start's lag ends with the last wait
// for a slot; a wait that ended by the start's schedule has no part in it.
func TestHeldFor(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		name      string
		due, free int
		want      time.Duration
	}{
		{"due during the wait", 100, 300, 200 * time.Millisecond},
		{"due as the slot was freed", 300, 300, 0},
		{"due after the wait", 450, 300, 0},
	} {
		assert.Equal(t, tc.want, heldFor(at(tc.due), at(tc.free)), tc.name)
	}
	assert.Zero(t, heldFor(at(100), time.Time{}), "no wait yet")
}

// TestOpenBurstWaits: starts that fell due in one sleep and are made at
// one wake-up, behind a start that waited for a slot, count from the
// wake-up even when a slot is free by their turn: the wait was the
// target's. Tasks that start together end together, so the order in
// which the scheduler and the freed slots meet varies; the origins must
// not.
func TestOpenBurstWaits(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: ConstantRate{Freq: 10}, MaxInFlight: 3,
		Coalesce: 250 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 1600 * time.Millisecond, Grace: 5 * time.Second, Window: time.Second,
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for i := range 20 {
		d := &fakeDriver{took: time.Second}
		run(t, cfg, d, Hooks{}, nil)
		slices.Sort(d.starts)
		// 0 at once; 100 and 200 at the 250 ms wake-up, slots free; 300,
		// 400 and 500 at the 500 ms wake-up, behind a wait for a slot;
		// the rest due after it, from their schedule.
		want := []time.Duration{0, ms(250), ms(250), ms(500), ms(500), ms(500)}
		for at := 600; at < 1600; at += 100 {
			want = append(want, ms(at))
		}
		if !assert.Equal(t, want[:len(d.starts)], d.starts, "run %d: the origins", i) {
			break
		}
	}
}

// TestClosedUsers: the closed model spawns users at SpawnRate and each
// loops task → think until the end; no task starts after it.
func TestClosedUsers(t *testing.T) {
	cfg := Config{Users: 3, SpawnRate: 1, Duration: 10 * time.Second, Grace: time.Second, Window: time.Second}
	d := &fakeDriver{took: 500 * time.Millisecond, think: 1500 * time.Millisecond}
	run(t, cfg, d, Hooks{}, nil)
	// User i starts at i s and runs a task every 2 s while the next
	// would start before 10 s.
	assert.Equal(t, map[int]int{0: 5, 1: 5, 2: 4}, d.users, "tasks per user")
	assert.Equal(t, 3, d.setups)
	assert.Equal(t, 3, d.teardowns)
	for _, s := range d.starts {
		assert.Less(t, s, 10*time.Second, "a task started after the end")
	}
}

// TestPauseResume: a run without end paused stops its starts, probes the
// target from ProbeFirst on, resumes after ProbeConfirm passing probes,
// and says so in events and in the segment.
func TestPauseResume(t *testing.T) {
	cfg := Config{
		Open: true, Arrivals: ConstantRate{Freq: 2}, MaxInFlight: 5,
		Coalesce: 10 * time.Millisecond, LateTolerance: 10 * time.Millisecond,
		Duration: 60 * time.Second, Grace: time.Second, Window: 10 * time.Second,
		Endless: true, ProbeEvery: 500 * time.Millisecond, ProbeName: "GET /",
	}
	var down sync.Mutex
	healthy := false
	d := &fakeDriver{took: 10 * time.Millisecond, fail: func() bool {
		down.Lock()
		defer down.Unlock()
		return !healthy
	}}
	var events []pipeline.Event
	var evMu sync.Mutex
	hooks := Hooks{Event: func(e pipeline.Event) {
		evMu.Lock()
		defer evMu.Unlock()
		events = append(events, e)
	}}
	segs, _ := run(t, cfg, d, hooks, func(e *Engine[int]) {
		time.Sleep(10 * time.Second)
		resumed := e.Pause("target unhealthy")
		require.NotNil(t, resumed)
		time.Sleep(20 * time.Second)
		down.Lock()
		healthy = true
		down.Unlock()
		<-resumed
	})
	seg := segs[len(segs)-1]
	assert.Equal(t, 1, seg.Outages, "outages")
	// Probes at 15 s, 25 s (failing, the interval doubling), 45 s, then
	// two more at 5 s intervals: resumed at 55 s.
	assert.InDelta(t, 45*time.Second, seg.Paused, float64(100*time.Millisecond), "paused time")
	kinds := map[pipeline.EventKind]int{}
	for _, e := range events {
		kinds[e.Kind]++
	}
	assert.Equal(t, 1, kinds[pipeline.Paused], "paused events")
	assert.Equal(t, 1, kinds[pipeline.Resumed], "resumed events")
	assert.Equal(t, 5, kinds[pipeline.Probing], "probes")
}
