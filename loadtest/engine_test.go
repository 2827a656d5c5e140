package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

// fakeTarget is an http.RoundTripper that answers every request after a
// fixed delay of (fake, under synctest) time, counting requests per path
// and the most requests in flight at once.
type fakeTarget struct {
	delay  time.Duration
	status int
	hang   bool // never answer until the request is cancelled

	mu          sync.Mutex
	paths       map[string]int
	inFlight    int
	maxInFlight int
	total       atomic.Int64
	headers     []http.Header
	instants    map[int64]int // requests by the (fake) time they came
}

func (f *fakeTarget) RoundTrip(req *http.Request) (*http.Response, error) {
	f.total.Add(1)
	f.mu.Lock()
	if f.paths == nil {
		f.paths = map[string]int{}
	}
	f.paths[req.URL.Path]++
	if f.instants == nil {
		f.instants = map[int64]int{}
	}
	f.instants[time.Now().UnixNano()]++
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	if len(f.headers) < 5 {
		f.headers = append(f.headers, req.Header.Clone())
	}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if f.hang {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	tm := time.NewTimer(f.delay)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	status := f.status
	if status == 0 {
		status = http.StatusOK
	}
	return &http.Response{
		StatusCode: status, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(`{"ok":true}`)), Request: req,
	}, nil
}

func (f *fakeTarget) count(path string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.paths[path]
}

func getTask(name, path string, weight int) Task {
	return Task{Name: name, Weight: weight, Do: func(ctx context.Context, u *User) error {
		_, err := u.Get(ctx, path)
		return err
	}}
}

// fakeScenario is a scenario against target through the fake transport,
// writing its results under t's temporary directory.
func fakeScenario(t *testing.T, target *fakeTarget) Scenario {
	return Scenario{
		Host:      "http://target.test",
		Transport: target,
		Tasks:     []Task{getTask("GET /a", "/a", 1)},
		Seed:      1,
	}
}

// runFake runs sc in a synctest bubble, where time is fake and exact, with
// its output in a temporary directory.
func runFake(t *testing.T, sc Scenario) (*result.Run, *captureTB, time.Duration) {
	t.Helper()
	var res *result.Run
	var tb *captureTB
	var took time.Duration
	out := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		fl := newFlags(newFlagSet())
		require.NoError(t, fl.fs.Parse([]string{"-loadtest.out=" + out}))
		tb = newCaptureTB(t)
		start := time.Now()
		res = resultOf(runWith(tb, sc, runOptions{flags: fl})) // the core alone: features test themselves
		took = time.Since(start)
	})
	return res, tb, took
}

func newFlagSet() *flag.FlagSet { return flag.NewFlagSet("loadtest", flag.ContinueOnError) }

func task(res *result.Run, key string) *result.Task {
	for _, tk := range res.Tasks {
		if tk.Key() == key {
			return tk
		}
	}
	return nil
}

func TestOpenModelHoldsRate(t *testing.T) {
	tests := []struct {
		rate     float64
		duration time.Duration
		want     int64
	}{
		{10, 10 * time.Second, 100},
		{20, 20 * time.Second, 400},
		{0.5, 10 * time.Second, 5}, // at 0, 2, 4, 6, 8 s
		{1000, 2 * time.Second, 2000},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.rate), func(t *testing.T) {
			target := &fakeTarget{delay: 20 * time.Millisecond}
			sc := fakeScenario(t, target)
			sc.Rate, sc.Duration = tt.rate, tt.duration
			res, tb, took := runFake(t, sc)
			require.Empty(t, tb.messages(), "run failed")
			assert.Equal(t, tt.want, target.total.Load(), "requests the target saw")
			assert.Equal(t, tt.want, res.Meta.Scheduled, "meta: scheduled")
			assert.Zero(t, res.Meta.Late+res.Meta.Waited, "meta: late and waited")
			assert.Zero(t, res.Meta.Dropped, "meta: dropped")
			p50 := res.Total.Latency.ValueAtPercentile(50)
			assert.GreaterOrEqual(t, p50, int64(20000), "p50 in µs; want 20ms (within the histogram's precision)")
			assert.LessOrEqual(t, p50, int64(20100), "p50 in µs; want 20ms (within the histogram's precision)")
			assert.LessOrEqual(t, took, tt.duration+time.Second, "run took; want about %s", tt.duration)
		})
	}
}

// TestOpenModelCoalesce: above 1/Coalesce starts per second, starts due
// within one Coalesce are made in one wake-up; the rate is held all the
// same, the delay shows as start lag and not as latency, and below that
// rate each start is made at its own time.
func TestOpenModelCoalesce(t *testing.T) {
	tests := []struct {
		name     string
		rate     float64
		coalesce time.Duration
		wakes    int // distinct instants the target saw requests at: t0, every Coalesce, the end
		lagP99   time.Duration
	}{
		{"default at 1000/s", 1000, 0, 1000/10 + 1, 9 * time.Millisecond},
		{"5ms at 1000/s", 1000, 5 * time.Millisecond, 1000/5 + 1, 4 * time.Millisecond},
		{"20ms, beyond the late tolerance", 1000, 20 * time.Millisecond, 1000/20 + 1, 19 * time.Millisecond},
		{"off at 1000/s", 1000, -1, 1000, 0},
		{"default at 100/s", 100, 0, 100, 0},
		{"default at 300/s", 300, 0, 1000/10 + 1, 6 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &fakeTarget{delay: 20 * time.Millisecond}
			sc := fakeScenario(t, target)
			sc.Rate, sc.Duration, sc.Coalesce = tt.rate, time.Second, tt.coalesce
			res, tb, _ := runFake(t, sc)
			require.Empty(t, tb.messages(), "run failed")
			assert.Equal(t, int64(tt.rate), target.total.Load(), "requests the target saw")
			assert.Len(t, target.instants, tt.wakes, "instants the requests came at")
			assert.Zero(t, res.Meta.Late+res.Meta.Waited, "meta: late and waited")
			assert.Zero(t, res.Meta.Dropped, "meta: dropped")
			// Latency is the target's 20 ms: the wait for the wake-up is
			// the generator's, reported as lag.
			h := res.Total.Latency
			assert.GreaterOrEqual(t, h.Min(), int64(20000), "least latency in µs; want 20ms")
			assert.LessOrEqual(t, h.Max(), int64(20020), "most latency in µs; want 20ms")
			assert.GreaterOrEqual(t, res.Meta.LagP99, tt.lagP99, "start lag p99; want %s to %s", tt.lagP99, tt.lagP99+time.Millisecond)
			assert.LessOrEqual(t, res.Meta.LagP99, tt.lagP99+time.Millisecond, "start lag p99; want %s to %s", tt.lagP99, tt.lagP99+time.Millisecond)
			want := tt.coalesce
			switch {
			case want == 0:
				want = DefaultCoalesce
			case want < 0:
				want = 0
			}
			assert.Equal(t, want, res.Meta.Coalesce, "meta: coalesce")
		})
	}
}

// TestOpenModelNoCoordinatedOmission: when the target stalls and the cap
// on in-flight tasks is reached, starts wait for a slot, latency counts
// from the schedule, and the test fails saying the rate was not held
// because the target held every slot: the wait is not the generator's,
// so no window is called starved and the start lag stays small.
func TestOpenModelNoCoordinatedOmission(t *testing.T) {
	target := &fakeTarget{delay: time.Second}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.MaxInFlight = 10, 5*time.Second, 2
	res, tb, _ := runFake(t, sc)
	assert.NotZero(t, res.Meta.Waited, "starts that waited for a slot with 2 in flight, 1s latency and 10/s")
	assert.Zero(t, res.Meta.Late, "starts late by the generator's doing")
	assert.NotZero(t, res.Meta.Dropped, "dropped starts counted")
	assert.Zero(t, res.Meta.Starved, "windows said to be the generator's")
	assert.Less(t, res.Meta.LagP99, 50*time.Millisecond, "start lag p99: the generator's part only")
	// Only 2 per second can run; the ones that do wait up to seconds for
	// their slot, and that wait is part of their latency.
	assert.GreaterOrEqual(t, res.Total.Latency.ValueAtPercentile(99), int64(2_000_000), "p99 in µs; want the schedule delay included (> 2s)")
	msgs := tb.messages()
	assert.Contains(t, msgs, "the load was not held at 10/s", "messages; want the failure to hold the rate")
	assert.Contains(t, msgs, "late for a slot, every one of the 2 taken by a task in flight", "messages; want the target named")
	assert.NotContains(t, msgs, "the generator was starved", "messages")
}

func TestClosedModel(t *testing.T) {
	tests := []struct {
		name     string
		users    int
		spawn    float64
		wait     Wait
		duration time.Duration
		lo, hi   int64
	}{
		// Each user starts a task every second; user i joins at i/5 s.
		{"pacing", 5, 5, ConstantPacing(time.Second), 10 * time.Second, 50, 50},
		// 20 ms task + 1 s think: 1.02 s per loop.
		{"constant", 5, 5, Constant(time.Second), 10 * time.Second, 45, 50},
		// 20 ms + U(1 s, 5 s): about 3.02 s per loop, 60 s, 5 users ≈ 100.
		{"between", 5, 1, Between(time.Second, 5*time.Second), 60 * time.Second, 80, 120},
		// No think time: back to back, 20 ms each.
		{"none", 2, 100, Constant(0), time.Second, 98, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &fakeTarget{delay: 20 * time.Millisecond}
			sc := fakeScenario(t, target)
			sc.Users, sc.SpawnRate, sc.Wait, sc.Duration = tt.users, tt.spawn, tt.wait, tt.duration
			res, tb, _ := runFake(t, sc)
			require.Empty(t, tb.messages(), "run failed")
			got := target.total.Load()
			assert.GreaterOrEqual(t, got, tt.lo, "requests the target saw; want within [%d, %d]", tt.lo, tt.hi)
			assert.LessOrEqual(t, got, tt.hi, "requests the target saw; want within [%d, %d]", tt.lo, tt.hi)
			assert.Equal(t, got, res.Total.Requests, "requests recorded; want those the target saw")
			assert.LessOrEqual(t, target.maxInFlight, tt.users, "requests in flight at once; want at most one per user")
		})
	}
}

// TestSpawnRate: users join one by one, so the first window sees fewer.
func TestSpawnRate(t *testing.T) {
	target := &fakeTarget{delay: 10 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Users, sc.SpawnRate, sc.Wait = 10, 1, ConstantPacing(100*time.Millisecond)
	sc.Duration, sc.Window = 10*time.Second, time.Second
	res, _, _ := runFake(t, sc)
	var perWindow []int64
	for _, w := range res.Windows {
		if w.Name == result.AggregateName {
			perWindow = append(perWindow, w.Requests)
		}
	}
	// Window k has k+1 users doing 10 tasks/s each.
	for k, n := range perWindow {
		assert.Equal(t, int64(10*(k+1)), n, "window %d: requests (%d users)", k, k+1)
	}
}

func TestWeightMix(t *testing.T) {
	tests := []struct {
		weights []int
		want    []float64 // each task's share of the picks
		n       int
	}{
		{[]int{3, 1}, []float64{0.75, 0.25}, 2000},
		{[]int{1, 1, 2}, []float64{0.25, 0.25, 0.5}, 4000},
		{[]int{0, 1}, []float64{0.5, 0.5}, 2000},   // a zero weight counts as 1
		{[]int{0, 3}, []float64{0.25, 0.75}, 4000}, // … not as 0, nor as the default of another
		{[]int{5}, []float64{1}, 100},              // one task: always it
		{[]int{1, 0, 0, 2}, []float64{0.2, 0.2, 0.2, 0.4}, 5000},
	}
	for _, tt := range tests {
		sc := Scenario{Host: "http://127.0.0.1:1", Rate: 1}
		for i, w := range tt.weights {
			sc.Tasks = append(sc.Tasks, getTask(fmt.Sprintf("T%d", i), "/", w))
		}
		p, err := resolve(sc, newFlags(newFlagSet()))
		require.NoError(t, err, "resolve: weights %v", tt.weights)
		r := &runner{plan: p}
		u := &User{Rand: rand.New(rand.NewPCG(7, 7))}
		counts := make([]int, len(tt.weights))
		for range tt.n {
			counts[r.pick(u)]++
		}
		for i, c := range counts {
			assert.InDelta(t, tt.want[i], float64(c)/float64(tt.n), 0.03, "weights %v: task %d's share of %d picks", tt.weights, i, tt.n)
		}
	}
}

// TestWeightMixEndToEnd: a 3:1 mix over 2,000 requests, as the target
// counts them.
func TestWeightMixEndToEnd(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Tasks = []Task{getTask("GET /a", "/a", 3), getTask("GET /b", "/b", 1)}
	sc.Rate, sc.Duration = 100, 20*time.Second
	runFake(t, sc)
	a, b := target.count("/a"), target.count("/b")
	require.Equal(t, 2000, a+b, "requests the target saw")
	assert.InDelta(t, 0.75, float64(a)/2000, 0.03, "GET /a's share of requests")
}

// TestDurationHonoured: a target that never answers cannot hold the run
// past duration + grace; the cut-off tasks are failures of class
// "stopped", and the test fails saying so.
func TestDurationHonoured(t *testing.T) {
	for _, open := range []bool{true, false} {
		t.Run(fmt.Sprintf("open=%t", open), func(t *testing.T) {
			target := &fakeTarget{hang: true}
			sc := fakeScenario(t, target)
			sc.Duration, sc.Grace, sc.Timeout = 3*time.Second, time.Second, time.Minute
			if open {
				sc.Rate = 5
			} else {
				sc.Users, sc.SpawnRate, sc.Wait = 3, 10, Constant(0)
			}
			res, tb, took := runFake(t, sc)
			want := sc.Duration + sc.Grace
			assert.GreaterOrEqual(t, took, want, "run took; want duration + grace")
			assert.LessOrEqual(t, took, want+100*time.Millisecond, "run took; want duration + grace")
			assert.NotZero(t, res.Total.Failures, "requests failed; want all")
			assert.Equal(t, res.Total.Requests, res.Total.Failures, "requests failed; want all")
			for _, f := range res.Failures {
				assert.Equal(t, ClassStopped, f.Class, "failure %+v: class", f)
			}
			assert.Contains(t, tb.messages(), "stopped at the end of the run's grace period", "messages; want the cut-off explained")
		})
	}
}

// TestTaskTimeout: a task's own timeout is a failure of class "timeout".
func TestTaskTimeout(t *testing.T) {
	target := &fakeTarget{delay: 2 * time.Second}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration = 2, 3*time.Second
	sc.Tasks[0].Timeout = 500 * time.Millisecond
	res, tb, _ := runFake(t, sc)
	if assert.Len(t, res.Failures, 1, "failures; want 6 timeouts") {
		assert.Equal(t, ClassTimeout, res.Failures[0].Class, "failure: class")
		assert.Equal(t, int64(6), res.Failures[0].Occurrences, "failure: occurrences")
	}
	assert.Contains(t, tb.messages(), `task "GET /a": 6 of 6 requests failed`, "messages")
}

func TestHeaders(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration = 2, time.Second
	sc.Header = http.Header{"X-Team": {"orders"}}
	res, _, _ := runFake(t, sc)
	require.NotEmpty(t, target.headers, "requests seen")
	seen := map[string]bool{}
	for i, h := range target.headers {
		assert.Equal(t, UserAgent, h.Get("User-Agent"), "request %d: User-Agent", i)
		assert.True(t, strings.HasPrefix(h.Get("User-Agent"), "steadyload/"), "request %d: User-Agent %q; want steadyload/...", i, h.Get("User-Agent"))
		assert.Equal(t, res.Meta.RunID, h.Get(RunHeader), "request %d: %s; want the run id", i, RunHeader)
		assert.Len(t, h.Get(RunHeader), 16, "request %d: %s", i, RunHeader)
		tp := h.Get("Traceparent")
		var ver, trace, span, flags string
		if parts := strings.Split(tp, "-"); assert.Len(t, parts, 4, "request %d: traceparent %q; want 00-<32 hex, fresh per task>-<16 hex>-01", i, tp) {
			ver, trace, span, flags = parts[0], parts[1], parts[2], parts[3]
			assert.Equal(t, "00", ver, "request %d: traceparent %q: version", i, tp)
			assert.Len(t, trace, 32, "request %d: traceparent %q: trace id", i, tp)
			assert.Len(t, span, 16, "request %d: traceparent %q: span id", i, tp)
			assert.Equal(t, "01", flags, "request %d: traceparent %q: flags", i, tp)
			assert.False(t, seen[trace], "request %d: traceparent %q: trace id seen before; want one fresh per task", i, tp)
		}
		seen[trace] = true
		assert.Equal(t, "orders", h.Get("X-Team"), "request %d: X-Team; want the scenario's header", i)
	}
}

// TestSeedReproducible: the same seed gives the same sequence of tasks.
func TestSeedReproducible(t *testing.T) {
	seq := func() string {
		target := &fakeTarget{delay: time.Millisecond}
		sc := fakeScenario(t, target)
		sc.Tasks = []Task{getTask("GET /a", "/a", 1), getTask("GET /b", "/b", 1)}
		sc.Users, sc.SpawnRate, sc.Wait, sc.Duration, sc.Seed = 1, 1, Constant(10*time.Millisecond), time.Second, 42
		runFake(t, sc)
		return fmt.Sprint(target.count("/a"), target.count("/b"))
	}
	assert.Equal(t, seq(), seq(), "task mixes of two runs with the same seed")
}

// TestOnStartOnStop: each user logs in once, its header is then sent with
// every request, and OnStop runs once per user.
func TestOnStartOnStop(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Users, sc.SpawnRate, sc.Wait, sc.Duration = 3, 10, Constant(100*time.Millisecond), time.Second
	var starts, stops atomic.Int64
	sc.OnStart = func(ctx context.Context, u *User) error {
		starts.Add(1)
		u.Header.Set("Authorization", fmt.Sprintf("Bearer user-%d", u.ID))
		_, err := u.Get(ctx, "/login")
		return err
	}
	sc.OnStop = func(context.Context, *User) error { stops.Add(1); return nil }
	res, tb, _ := runFake(t, sc)
	require.Empty(t, tb.messages(), "run failed")
	assert.Equal(t, int64(3), starts.Load(), "OnStart calls")
	assert.Equal(t, int64(3), stops.Load(), "OnStop calls")
	assert.Equal(t, 3, target.count("/login"), "/login requests")
	if setup := task(res, "OnStart"); assert.NotNil(t, setup, "OnStart row") {
		assert.True(t, setup.Setup, "OnStart row %+v: setup", setup)
		assert.Equal(t, int64(3), setup.Requests, "OnStart row: requests")
	}
	for i, h := range target.headers[1:] {
		assert.True(t, strings.HasPrefix(h.Get("Authorization"), "Bearer user-"), "request %d: Authorization %q; want the user's token", i+1, h.Get("Authorization"))
	}
}

// TestOpenModelUsers: the open model reuses a pool of users; each runs
// OnStart before its first task and OnStop at the end.
func TestOpenModelUsers(t *testing.T) {
	target := &fakeTarget{delay: 250 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration = 10, 2*time.Second
	var starts, stops atomic.Int64
	sc.OnStart = func(context.Context, *User) error { starts.Add(1); return nil }
	sc.OnStop = func(context.Context, *User) error { stops.Add(1); return nil }
	res, tb, _ := runFake(t, sc)
	require.Empty(t, tb.messages(), "run failed")
	// 250 ms tasks at 10/s: 3 in flight at most, so 3 users serve all 20.
	assert.Equal(t, int64(3), starts.Load(), "OnStart calls")
	assert.Equal(t, int64(3), stops.Load(), "OnStop calls")
	assert.Equal(t, int64(23), res.Total.Requests, "requests recorded (tasks and setups)")
	assert.Equal(t, int64(20), target.total.Load(), "requests the target saw")
}

// TestFailedOnStart: a user whose OnStart fails runs no task.
func TestFailedOnStart(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Users, sc.SpawnRate, sc.Wait, sc.Duration = 2, 10, Constant(0), time.Second
	sc.OnStart = func(context.Context, *User) error { return errors.New("login refused") }
	res, tb, _ := runFake(t, sc)
	assert.Zero(t, target.total.Load(), "requests the target saw")
	if setup := task(res, "OnStart"); assert.NotNil(t, setup, "OnStart row") {
		assert.Equal(t, int64(2), setup.Failures, "OnStart row: failures")
	}
	assert.Contains(t, tb.messages(), "login refused", "messages; want the OnStart error")
}

// TestOnStartTimeout: a hanging OnStart is cut off by the scenario's
// timeout, counted as a timeout of the setup row, and the user runs no task.
func TestOnStartTimeout(t *testing.T) {
	target := &fakeTarget{hang: true}
	sc := fakeScenario(t, target)
	sc.Users, sc.Wait, sc.Duration, sc.Timeout = 1, Constant(0), 5*time.Second, time.Second
	sc.OnStart = func(ctx context.Context, u *User) error {
		_, err := u.Get(ctx, "/login")
		return err
	}
	res, _, took := runFake(t, sc)
	if setup := task(res, "OnStart"); assert.NotNil(t, setup, "OnStart row") {
		assert.Equal(t, int64(1), setup.Failures, "OnStart row: failures")
	}
	if assert.Len(t, res.Failures, 1, "failures; want one timeout") {
		assert.Equal(t, ClassTimeout, res.Failures[0].Class, "failure: class")
	}
	assert.Equal(t, int64(1), target.total.Load(), "requests the target saw; want only the login")
	assert.LessOrEqual(t, took, sc.Duration+time.Second, "run took; want it to end at its duration")
}

// lateTimer is a pacer whose timer always wakes late by over, as Go's
// timers do by up to a millisecond, with starts due at dues.
type lateTimer struct {
	dues []time.Duration
	over time.Duration
}

func (l lateTimer) Due(hits uint64) time.Duration {
	if hits >= uint64(len(l.dues)) {
		return time.Hour
	}
	return l.dues[hits]
}

func (l lateTimer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= uint64(len(l.dues)) {
		return 0, true
	}
	return max(0, l.dues[hits]-elapsed) + l.over, false
}

// TestLastStartNotDropped: a start due just before the end whose timer
// wakes just after it is still made, and counted as on time.
func TestLastStartNotDropped(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration = 1, 3*time.Second
	sc.Pacer = lateTimer{dues: []time.Duration{0, time.Second, 3*time.Second - 500*time.Microsecond}, over: 2 * time.Millisecond}
	res, tb, _ := runFake(t, sc)
	require.Empty(t, tb.messages(), "run failed")
	assert.Equal(t, int64(3), target.total.Load(), "requests the target saw")
	assert.Zero(t, res.Meta.Dropped, "meta: dropped")
	assert.Zero(t, res.Meta.Late+res.Meta.Waited, "meta: late and waited")
}

// TestCoalesceSetting: the field's zero is the default, negative is off,
// and the flag overrides both, with 0 meaning off.
func TestCoalesceSetting(t *testing.T) {
	tests := []struct {
		field time.Duration
		args  []string
		want  time.Duration
	}{
		{0, nil, DefaultCoalesce},
		{-1, nil, 0},
		{20 * time.Millisecond, nil, 20 * time.Millisecond},
		{20 * time.Millisecond, []string{"-loadtest.coalesce=0"}, 0},
		{0, []string{"-loadtest.coalesce=1ms"}, time.Millisecond},
	}
	for _, tt := range tests {
		fl := newFlags(newFlagSet())
		require.NoError(t, fl.fs.Parse(append([]string{"-loadtest.out=" + t.TempDir()}, tt.args...)))
		sc := fakeScenario(t, &fakeTarget{})
		sc.Rate, sc.Coalesce = 10, tt.field
		p, err := resolve(sc, fl)
		require.NoError(t, err, "resolve: field %s, flags %q", tt.field, tt.args)
		assert.Equal(t, tt.want, p.Coalesce, "resolve: field %s, flags %q: coalesce", tt.field, tt.args)
	}
}
