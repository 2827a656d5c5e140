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
		fl.fs.Parse([]string{"-loadtest.out=" + out})
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
			if msg := tb.messages(); msg != "" {
				t.Fatalf("run failed: %s", msg)
			}
			if got := target.total.Load(); got != tt.want {
				t.Errorf("target saw %d requests; want %d", got, tt.want)
			}
			if res.Meta.Scheduled != tt.want || res.Meta.Late != 0 || res.Meta.Dropped != 0 {
				t.Errorf("scheduled %d, late %d, dropped %d; want %d, 0, 0", res.Meta.Scheduled, res.Meta.Late, res.Meta.Dropped, tt.want)
			}
			h := res.Total.Latency
			if p50 := h.ValueAtPercentile(50); p50 < 20000 || p50 > 20100 {
				t.Errorf("p50 = %dµs; want 20ms (within the histogram's precision)", p50)
			}
			if took > tt.duration+time.Second {
				t.Errorf("run took %s; want about %s", took, tt.duration)
			}
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
			if msg := tb.messages(); msg != "" {
				t.Fatalf("run failed: %s", msg)
			}
			if got, want := target.total.Load(), int64(tt.rate); got != want {
				t.Errorf("target saw %d requests; want %d", got, want)
			}
			if got := len(target.instants); got != tt.wakes {
				t.Errorf("requests came at %d instants; want %d", got, tt.wakes)
			}
			if res.Meta.Late != 0 || res.Meta.Dropped != 0 {
				t.Errorf("late %d, dropped %d; want 0, 0", res.Meta.Late, res.Meta.Dropped)
			}
			// Latency is the target's 20 ms: the wait for the wake-up is
			// the generator's, reported as lag.
			h := res.Total.Latency
			if lo, hi := h.Min(), h.Max(); lo < 20000 || hi > 20020 {
				t.Errorf("latency from %dµs to %dµs; want 20ms", lo, hi)
			}
			if got := res.Meta.LagP99; got < tt.lagP99 || got > tt.lagP99+time.Millisecond {
				t.Errorf("start lag p99 %s; want %s to %s", got, tt.lagP99, tt.lagP99+time.Millisecond)
			}
			want := tt.coalesce
			switch {
			case want == 0:
				want = DefaultCoalesce
			case want < 0:
				want = 0
			}
			if res.Meta.Coalesce != want {
				t.Errorf("meta coalesce %s; want %s", res.Meta.Coalesce, want)
			}
		})
	}
}

// TestOpenModelNoCoordinatedOmission: when the target stalls and the cap
// on in-flight tasks is reached, starts are late, latency counts from the
// schedule, and the test fails saying the rate was not held.
func TestOpenModelNoCoordinatedOmission(t *testing.T) {
	target := &fakeTarget{delay: time.Second}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.MaxInFlight = 10, 5*time.Second, 2
	res, tb, _ := runFake(t, sc)
	if res.Meta.Late == 0 {
		t.Errorf("no late starts counted with 2 in flight, 1s latency and 10/s")
	}
	if res.Meta.Dropped == 0 {
		t.Errorf("no dropped starts counted")
	}
	// Only 2 per second can run; the ones that do wait up to seconds for
	// their slot, and that wait is part of their latency.
	if p99 := res.Total.Latency.ValueAtPercentile(99); p99 < 2_000_000 {
		t.Errorf("p99 = %dµs; want the schedule delay included (> 2s)", p99)
	}
	if msg := tb.messages(); !strings.Contains(msg, "could not hold 10/s") {
		t.Errorf("messages = %q; want the generator's failure to hold the rate", msg)
	}
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
			if msg := tb.messages(); msg != "" {
				t.Fatalf("run failed: %s", msg)
			}
			got := target.total.Load()
			if got < tt.lo || got > tt.hi {
				t.Errorf("target saw %d requests; want within [%d, %d]", got, tt.lo, tt.hi)
			}
			if got != res.Total.Requests {
				t.Errorf("recorded %d requests; target saw %d", res.Total.Requests, got)
			}
			if target.maxInFlight > tt.users {
				t.Errorf("%d requests in flight at once; want at most %d users", target.maxInFlight, tt.users)
			}
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
		if want := int64(10 * (k + 1)); n != want {
			t.Errorf("window %d: %d requests; want %d (%d users)", k, n, want, k+1)
		}
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
		if err != nil {
			t.Fatalf("weights %v: %v", tt.weights, err)
		}
		r := &runner{plan: p}
		u := &User{Rand: rand.New(rand.NewPCG(7, 7))}
		counts := make([]int, len(tt.weights))
		for range tt.n {
			counts[r.pick(u)]++
		}
		for i, c := range counts {
			got := float64(c) / float64(tt.n)
			if want := tt.want[i]; got < want-0.03 || got > want+0.03 {
				t.Errorf("weights %v: task %d picked %.1f%% of %d; want %.1f%% ± 3 points", tt.weights, i, 100*got, tt.n, 100*want)
			}
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
	if a+b != 2000 {
		t.Fatalf("target saw %d requests; want 2000", a+b)
	}
	if share := float64(a) / 2000; share < 0.72 || share > 0.78 {
		t.Errorf("GET /a had %.1f%% of requests; want 75%% ± 3 points", 100*share)
	}
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
			if want := sc.Duration + sc.Grace; took < want || took > want+100*time.Millisecond {
				t.Errorf("run took %s; want %s (duration + grace)", took, want)
			}
			if res.Total.Failures == 0 || res.Total.Failures != res.Total.Requests {
				t.Errorf("%d of %d requests failed; want all", res.Total.Failures, res.Total.Requests)
			}
			for _, f := range res.Failures {
				if f.Class != ClassStopped {
					t.Errorf("failure %+v; want class %q", f, ClassStopped)
				}
			}
			if msg := tb.messages(); !strings.Contains(msg, "stopped at the end of the run's grace period") {
				t.Errorf("messages = %q; want the cut-off explained", msg)
			}
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
	if len(res.Failures) != 1 || res.Failures[0].Class != ClassTimeout || res.Failures[0].Occurrences != 6 {
		t.Errorf("failures = %+v; want 6 timeouts", res.Failures)
	}
	if !strings.Contains(tb.messages(), `task "GET /a": 6 of 6 requests failed`) {
		t.Errorf("messages = %q", tb.messages())
	}
}

func TestHeaders(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration = 2, time.Second
	sc.Header = http.Header{"X-Team": {"orders"}}
	res, _, _ := runFake(t, sc)
	if len(target.headers) == 0 {
		t.Fatal("no request seen")
	}
	seen := map[string]bool{}
	for _, h := range target.headers {
		if got := h.Get("User-Agent"); got != UserAgent || !strings.HasPrefix(got, "steadyload/") {
			t.Errorf("User-Agent = %q; want %q", got, UserAgent)
		}
		if got := h.Get(RunHeader); got != res.Meta.RunID || len(got) != 16 {
			t.Errorf("%s = %q; want the run id %q", RunHeader, got, res.Meta.RunID)
		}
		tp := h.Get("Traceparent")
		var ver, trace, span, flags string
		if parts := strings.Split(tp, "-"); len(parts) == 4 {
			ver, trace, span, flags = parts[0], parts[1], parts[2], parts[3]
		}
		if ver != "00" || len(trace) != 32 || len(span) != 16 || flags != "01" || seen[trace] {
			t.Errorf("traceparent = %q; want 00-<32 hex, fresh per task>-<16 hex>-01", tp)
		}
		seen[trace] = true
		if got := h.Get("X-Team"); got != "orders" {
			t.Errorf("X-Team = %q; want the scenario's header", got)
		}
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
	if a, b := seq(), seq(); a != b {
		t.Errorf("same seed, different mixes: %s vs %s", a, b)
	}
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
	if msg := tb.messages(); msg != "" {
		t.Fatalf("run failed: %s", msg)
	}
	if starts.Load() != 3 || stops.Load() != 3 {
		t.Errorf("OnStart ran %d times, OnStop %d; want 3 each", starts.Load(), stops.Load())
	}
	if target.count("/login") != 3 {
		t.Errorf("/login requested %d times; want 3", target.count("/login"))
	}
	setup := task(res, "OnStart")
	if setup == nil || !setup.Setup || setup.Requests != 3 {
		t.Errorf("OnStart row = %+v; want a setup row with 3 requests", setup)
	}
	for _, h := range target.headers[1:] {
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer user-") {
			t.Errorf("Authorization = %q; want the user's token", h.Get("Authorization"))
		}
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
	if msg := tb.messages(); msg != "" {
		t.Fatalf("run failed: %s", msg)
	}
	// 250 ms tasks at 10/s: 3 in flight at most, so 3 users serve all 20.
	if starts.Load() != 3 || stops.Load() != 3 {
		t.Errorf("OnStart ran %d times, OnStop %d; want 3 each", starts.Load(), stops.Load())
	}
	if res.Total.Requests != 23 || target.total.Load() != 20 {
		t.Errorf("%d recorded (tasks and setups), %d at the target; want 23 and 20", res.Total.Requests, target.total.Load())
	}
}

// TestFailedOnStart: a user whose OnStart fails runs no task.
func TestFailedOnStart(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Users, sc.SpawnRate, sc.Wait, sc.Duration = 2, 10, Constant(0), time.Second
	sc.OnStart = func(context.Context, *User) error { return errors.New("login refused") }
	res, tb, _ := runFake(t, sc)
	if target.total.Load() != 0 {
		t.Errorf("target saw %d requests; want none", target.total.Load())
	}
	if setup := task(res, "OnStart"); setup == nil || setup.Failures != 2 {
		t.Errorf("OnStart row = %+v; want 2 failures", setup)
	}
	if msg := tb.messages(); !strings.Contains(msg, "login refused") {
		t.Errorf("messages = %q; want the OnStart error", msg)
	}
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
	setup := task(res, "OnStart")
	if setup == nil || setup.Failures != 1 || len(res.Failures) != 1 || res.Failures[0].Class != ClassTimeout {
		t.Errorf("OnStart = %+v, failures %+v; want one timeout", setup, res.Failures)
	}
	if target.total.Load() != 1 {
		t.Errorf("target saw %d requests; want only the login", target.total.Load())
	}
	if took > sc.Duration+time.Second {
		t.Errorf("run took %s; want it to end at its duration", took)
	}
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
	sc.pacer = lateTimer{dues: []time.Duration{0, time.Second, 3*time.Second - 500*time.Microsecond}, over: 2 * time.Millisecond}
	res, tb, _ := runFake(t, sc)
	if msg := tb.messages(); msg != "" {
		t.Fatalf("run failed: %s", msg)
	}
	if got := target.total.Load(); got != 3 || res.Meta.Dropped != 0 || res.Meta.Late != 0 {
		t.Errorf("target saw %d requests, %d dropped, %d late; want 3, 0, 0", got, res.Meta.Dropped, res.Meta.Late)
	}
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
		if err := fl.fs.Parse(append([]string{"-loadtest.out=" + t.TempDir()}, tt.args...)); err != nil {
			t.Fatal(err)
		}
		sc := fakeScenario(t, &fakeTarget{})
		sc.Rate, sc.Coalesce = 10, tt.field
		p, err := resolve(sc, fl)
		if err != nil {
			t.Fatalf("field %s, flags %q: %v", tt.field, tt.args, err)
		}
		if p.Coalesce != tt.want {
			t.Errorf("field %s, flags %q: coalesce %s; want %s", tt.field, tt.args, p.Coalesce, tt.want)
		}
	}
}
