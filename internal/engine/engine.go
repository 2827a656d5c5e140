// Package engine sends a scenario's load and cuts what it measured into
// windows and segments: the closed model's users (a task, then think time,
// in a loop), the open model's scheduler (starts at the arrivals' times,
// latency counted from the schedule, late and dropped starts counted), the
// pause, probes and resumption of a run without end, and the window clock.
//
// The engine knows nothing of HTTP, tasks or the pipeline beyond it: it
// drives users through a Driver, hands outcomes' windows and segments to
// its Hooks, and reads the measurements back from a Recorder. The package
// loadtest is its only user.
package engine

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// ErrStopped is the cause of the context of the tasks still running at
// the end of the run's grace period.
var ErrStopped = errors.New("stopped at the end of the run's grace period")

// ErrPaused is the cause of the context of the tasks a pause cuts off.
var ErrPaused = errors.New("load paused: the target is unhealthy")

// Config is the load's shape, resolved: every field set.
type Config struct {
	// Open selects the open model (Arrivals, MaxInFlight, Coalesce,
	// LateTolerance) over the closed one (Users, SpawnRate).
	Open bool

	Users     int     // closed model: concurrent users
	SpawnRate float64 // closed model: users started per second
	// Stages, when set, shape the closed model's users over time in
	// place of SpawnRate: user i (from 0) starts when the target first
	// reaches i+1 and stops, after its task and think time, when it
	// falls below; started again, it keeps its session (Setup once,
	// Teardown at the end of the run). Users is the most the stages
	// reach. The open model's stages are its Arrivals (NewStaged).
	Stages []Stage

	Arrivals      Arrivals      // open model: when starts are due
	MaxInFlight   int           // open model: cap on tasks in flight
	Coalesce      time.Duration // open model: shortest time between two wake-ups (negative: none)
	LateTolerance time.Duration // open model: a start later than this (plus Coalesce) is late

	Duration time.Duration // how long tasks start
	Grace    time.Duration // how long tasks in flight may finish after Duration
	Window   time.Duration // the time-series window
	Segment  time.Duration // a whole number of windows; 0: the run is one segment

	// Endless makes the load ride out an outage: Pause stops it, probes
	// test the target, and it resumes once they pass.
	Endless bool
	// ProbeEvery is the time between two starts of the load: probes are
	// never more often.
	ProbeEvery time.Duration
	ProbeName  string // the probes' task, as the probing event names it
}

// concurrency is the most tasks the load can have in flight at once.
func (c *Config) concurrency() int {
	if c.Open {
		return c.MaxInFlight
	}
	return c.Users
}

// A Driver runs the scenario's users; U is its user type. The engine
// calls a user's methods from one goroutine at a time.
type Driver[U any] interface {
	// NewUser makes user number id (from 0 in the order the engine
	// starts them), ready for Setup.
	NewUser(id int) U
	// Setup runs the scenario's OnStart for u and records it; false
	// means the user could not start.
	Setup(ctx context.Context, u U) bool
	// Exec runs one task of the mix for u and records its outcome, its
	// latency counted from origin (the zero time: from its own start).
	// It returns how long the task took and when it ended.
	Exec(ctx context.Context, u U, origin time.Time) (took time.Duration, end time.Time)
	// Probe runs the first task for u, as a test of a paused target, and
	// records it; true means it passed.
	Probe(ctx context.Context, u U) bool
	// Think returns the closed model's think time after a task that took
	// took; false means none (the next task starts at once).
	Think(u U, took time.Duration) (time.Duration, bool)
	// Teardown runs the scenario's OnStop for u.
	Teardown(ctx context.Context, u U)
}

// A Recorder keeps the measurements: the engine closes its windows and
// cuts its segments.
type Recorder interface {
	// Close closes the current window, its rows marked as the
	// generator's for why when why is not empty, and with cut also cuts
	// the segment it ends, under one lock, so that no outcome falls
	// between a segment's last window and its figures.
	Close(start time.Time, offset, length time.Duration, users int, why string, cut bool) ([]result.Window, *Measures)
	// Cut returns the figures since the last cut and starts afresh.
	Cut() *Measures
}

// Measures are a recorder's figures of one segment.
type Measures struct {
	Tasks    []*result.Task // sorted by name then type
	Total    *result.Task
	Failures []result.Failure // sorted
	Windows  []result.Window
}

// Backoff is the answer to a target that asks the load to slow down.
type Backoff interface {
	// Wait holds a closed-model user while the target asked to wait,
	// never past until; true means it waited.
	Wait(ctx context.Context, tm *time.Timer, until time.Time) bool
	// Skip reports whether an open-model start due at at is skipped.
	Skip(at time.Time) bool
}

// Hooks are where the engine's output goes. Each may be nil.
type Hooks struct {
	// Start is told when the load starts.
	Start func(t0 time.Time)
	// Window is given each closed window's rows, from the clock's
	// goroutine.
	Window func(rows []result.Window)
	// Segment is given each segment the clock cuts while the load goes
	// on, from the clock's goroutine: the time it takes holds the clock,
	// and is not taken for the generator's trouble. The last segment is
	// Final's.
	Segment func(seg *Segment)
	// Event is told of a run without end's pauses, probes and
	// recoveries.
	Event func(pipeline.Event)
	// Lag is told of every open-model start's lag behind its schedule,
	// the generator's part (heldFor), from the worker that began it (so
	// from many goroutines at once).
	Lag func(time.Duration)
	// Logf says what the user must know: a pause, a recovery, a window
	// that was the generator's.
	Logf func(format string, args ...any)
	// Backoff, when set, answers 429 and 503.
	Backoff Backoff
}

// A Segment is what the engine measured in one segment: the recorder's
// figures and how well the generator kept its schedule.
type Segment struct {
	Start, End time.Time
	*Measures
	Scheduled, Late, Dropped int64         // open-model starts
	Waited                   int64         // starts as late for a wait for a slot, every one taken by a task in flight (not counted in Late)
	MaxLag, LagP50, LagP99   time.Duration // open-model start lag behind schedule, the generator's part
	Paused                   time.Duration // how long the load was paused (a run without end)
	Outages                  int           // pauses begun in the segment
	Starved                  int           // windows whose figures were the generator's
}

// Engine runs one load. Make it with New, run it once with Run, then take
// its last segment with Final.
type Engine[U any] struct {
	cfg   Config
	drv   Driver[U]
	rec   Recorder
	hooks Hooks
	logf  func(string, ...any)

	t0      time.Time
	stopAt  time.Time // no start at or after this
	loadEnd time.Time // when starts stopped

	active   atomic.Int64 // closed model: users running
	inFlight atomic.Int64 // open model: tasks in flight
	schedule

	stopStarts context.CancelFunc // ends the starts
	endOnce    sync.Once
	ended      atomic.Int64 // when EndStarts ended the starts, in ns from t0; 0: it did not

	hold      *hold[U]     // a run without end's pause; nil in a run of fixed length
	openUsers []*pooled[U] // every user the open model made (the scheduler's)

	// The clock goroutine's: how long the last segment hook held it, the
	// current segment's start and counters at it, and its windows that
	// were the generator's.
	clockHeld time.Duration
	segStart  time.Time
	segBase   struct{ scheduled, late, dropped, waited int64 }
	starved   int
}

// New returns an engine that runs the load cfg describes through drv,
// its measurements in rec.
func New[U any](cfg Config, drv Driver[U], rec Recorder, hooks Hooks) *Engine[U] {
	e := &Engine[U]{cfg: cfg, drv: drv, rec: rec, hooks: hooks, logf: hooks.Logf}
	if e.logf == nil {
		e.logf = func(string, ...any) {}
	}
	if e.hooks.Backoff == nil {
		e.hooks.Backoff = noBackoff{}
	}
	e.lag, e.winLag = result.NewWindowHistogram(), result.NewWindowHistogram()
	return e
}

// noBackoff never waits or skips.
type noBackoff struct{}

func (noBackoff) Wait(context.Context, *time.Timer, time.Time) bool { return false }
func (noBackoff) Skip(time.Time) bool                               { return false }

// Started returns when the load started, once Run has begun.
func (e *Engine[U]) Started() time.Time { return e.t0 }

// InFlight returns the number of users running (closed model) or tasks in
// flight (open model).
func (e *Engine[U]) InFlight() int64 { return e.active.Load() + e.inFlight.Load() }

// Pause stops the load of a run without end for reason — no task starts,
// the tasks in flight are cancelled — unless it is paused already, and
// returns the channel closed when it resumes. In a run of fixed length it
// returns nil and changes nothing. It may be called once the load has
// started: from a task, an outcome's observer, or after Hooks.Start.
func (e *Engine[U]) Pause(reason string) <-chan struct{} {
	if e.hold == nil {
		return nil
	}
	return e.hold.pause(reason)
}

// Run sends the load until Duration has passed or ctx ends, gives the
// tasks in flight Grace to finish, cancels the rest (their context's
// cause is ErrStopped), and closes the last window. Tasks run under ctx.
// It returns once every task and the clock are done.
func (e *Engine[U]) Run(ctx context.Context) {
	c := e.cfg
	taskCtx, stopTasks := context.WithCancelCause(ctx)
	defer stopTasks(nil)
	startCtx, stopStarts := context.WithCancel(taskCtx)
	defer stopStarts()
	e.stopStarts = stopStarts
	if c.Endless {
		e.hold = newHold(e, taskCtx)
	}

	e.t0 = time.Now()
	e.segStart = e.t0
	e.stopAt = e.t0.Add(c.Duration)
	if e.hooks.Start != nil {
		e.hooks.Start(e.t0)
	}
	var wg sync.WaitGroup
	if c.Open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.runOpen(startCtx, taskCtx, &wg)
		}()
	} else {
		e.runClosed(startCtx, taskCtx, &wg)
	}

	clockDone := make(chan struct{})
	finished := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(loadDone)
	}()
	go e.clock(startCtx.Done(), finished, clockDone)

	// End of starts: the duration, or a stop.
	endStarts := time.NewTimer(time.Until(e.stopAt))
	select {
	case <-endStarts.C:
	case <-startCtx.Done():
	}
	endStarts.Stop()
	e.loadEnd = time.Now()
	if e.loadEnd.After(e.stopAt) {
		e.loadEnd = e.stopAt // a timer fires a little late; the load was on for Duration
	}
	stopStarts()
	if e.hold != nil {
		e.hold.stop() // no probe after the load
	}
	// Grace for in-flight tasks, then cancel them.
	graceTm := time.NewTimer(c.Grace)
	select {
	case <-loadDone:
	case <-graceTm.C:
		stopTasks(ErrStopped)
		select {
		case <-loadDone:
		case <-time.After(c.Grace):
			e.logf("loadtest: %d tasks still running %s after cancellation: they ignore their context", e.InFlight(), c.Grace)
		}
	}
	graceTm.Stop()
	close(finished)
	<-clockDone
	e.drainPool(ctx)
}

// EndStarts ends the load's starts now, as the end of Duration does: no
// task starts after it, the tasks in flight get the Grace. In the open
// model no start due after it is made or counted as dropped. It may be
// called once the load has started, from a task say; it reports whether
// this call ended them, later calls doing nothing.
func (e *Engine[U]) EndStarts() bool {
	first := false
	e.endOnce.Do(func() {
		first = true
		e.ended.Store(max(1, int64(time.Since(e.t0))))
		e.stopStarts()
	})
	return first
}

// endedAt is when EndStarts ended the starts, from t0, or the longest
// duration when it did not.
func (e *Engine[U]) endedAt() time.Duration {
	if at := e.ended.Load(); at > 0 {
		return time.Duration(at)
	}
	return math.MaxInt64
}

// Final returns the run's last segment, from the last cut to the end of
// the load, once Run has returned.
func (e *Engine[U]) Final() *Segment {
	return e.cutSegment(e.loadEnd, e.rec.Cut())
}

// sleep waits d or until ctx is done; false means ctx is done.
func sleep(ctx context.Context, tm *time.Timer, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm.Reset(d)
	select {
	case <-ctx.Done():
		tm.Stop()
		return false
	case <-tm.C:
		return true
	}
}

// spawnEvery is the time between two users' starts in the closed model.
func (e *Engine[U]) spawnEvery() time.Duration {
	return time.Duration(float64(time.Second) / e.cfg.SpawnRate)
}

// runClosed runs the closed model: Users goroutines, started at SpawnRate
// or along the Stages, each looping task → think time while it is on,
// until starts stop.
func (e *Engine[U]) runClosed(startCtx, taskCtx context.Context, wg *sync.WaitGroup) {
	spawnEvery := e.spawnEvery()
	for id := range e.cfg.Users {
		spans := []span{{time.Duration(id) * spawnEvery, e.stopAt.Sub(e.t0)}}
		if e.cfg.Stages != nil {
			spans = userSpans(e.cfg.Stages, id)
		}
		if len(spans) == 0 || !e.t0.Add(spans[0].from).Before(e.stopAt) {
			break // the users after it start no earlier
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := time.NewTimer(time.Hour)
			defer tm.Stop()
			if !sleep(startCtx, tm, time.Until(e.t0.Add(spans[0].from))) {
				return
			}
			u := e.drv.NewUser(id)
			e.active.Add(1)
			defer e.active.Add(-1)
			if !e.drv.Setup(taskCtx, u) {
				return
			}
			defer e.drv.Teardown(taskCtx, u)
			for i, sp := range spans {
				if i > 0 {
					// Off since the last span ended: on again at the next.
					e.active.Add(-1)
					ok := sleep(startCtx, tm, time.Until(e.t0.Add(sp.from)))
					e.active.Add(1)
					if !ok {
						return
					}
				}
				if !e.runUser(startCtx, taskCtx, tm, id, u, e.t0.Add(sp.to)) {
					return
				}
			}
		}()
	}
}

// runUser runs u's tasks, each followed by its think time, while the
// time is before until; false means the run is over for u.
func (e *Engine[U]) runUser(startCtx, taskCtx context.Context, tm *time.Timer, id int, u U, until time.Time) bool {
	until = minTime(until, e.stopAt)
	for now := time.Now(); startCtx.Err() == nil && now.Before(until); {
		if e.hooks.Backoff.Wait(startCtx, tm, until) {
			now = time.Now()
			continue // the target asked to slow down: check the time again
		}
		if e.hold != nil && !e.hold.wait(startCtx, tm, id) {
			return false
		}
		took, end := e.drv.Exec(e.taskContext(taskCtx), u, time.Time{})
		now = end
		think, ok := e.drv.Think(u, took)
		if !ok {
			continue
		}
		if !end.Add(think).Before(e.stopAt) {
			return false // the next start would fall after the end
		}
		if !sleep(startCtx, tm, think) {
			return false
		}
		now = time.Now()
	}
	return startCtx.Err() == nil && until.Before(e.stopAt)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// taskContext is the context a task starts with: taskCtx, or in a run
// without end the hold's, which a pause cancels.
func (e *Engine[U]) taskContext(taskCtx context.Context) context.Context {
	if e.hold != nil {
		return e.hold.taskContext()
	}
	return taskCtx
}

// dueTimer is an Arrivals that can say when a given start is due.
type dueTimer interface {
	Due(hits uint64) time.Duration
}

// pooled is a user of the open model's pool.
type pooled[U any] struct {
	u       U
	started bool // Setup has passed
}

// runOpen runs the open model: one scheduler starting tasks at the
// arrivals' times, each handed to a worker goroutine, at most MaxInFlight
// at once. A start its worker begins more than LateTolerance+Coalesce
// after its schedule is late, or waited when it is so for a wait for a
// slot (heldFor); starts never made before the end are dropped. All are
// counted, never hidden.
func (e *Engine[U]) runOpen(startCtx, taskCtx context.Context, wg *sync.WaitGroup) {
	c := e.cfg
	slots := make(chan struct{}, c.MaxInFlight)
	pool := make(chan *pooled[U], c.MaxInFlight)
	var nextID int
	getUser := func() *pooled[U] {
		select {
		case u := <-pool:
			return u
		default:
		}
		u := &pooled[U]{u: e.drv.NewUser(nextID)}
		nextID++
		e.openUsers = append(e.openUsers, u) // only the scheduler appends
		return u
	}
	// Workers are reused from start to start rather than started afresh:
	// a new goroutine grows a new stack for every request, a sixth of the
	// generator's CPU at 1000 starts/s. An idle worker waits on starts;
	// when none is idle a new one is started, so at most MaxInFlight run.
	starts := make(chan openStart[U])
	defer close(starts)
	run := func(st openStart[U]) {
		lag := time.Since(st.at)
		e.recordLag(lag-st.slotTime, lag)
		defer func() {
			e.inFlight.Add(-1)
			<-slots
		}()
		u := st.u
		if !u.started {
			if !e.drv.Setup(taskCtx, u.u) {
				return // a user that cannot start is not pooled
			}
			u.started = true
		}
		e.drv.Exec(e.taskContext(taskCtx), u.u, st.from)
		pool <- u
	}
	pacer := c.Arrivals
	due, canDue := pacer.(dueTimer)
	duration := e.stopAt.Sub(e.t0)
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	var hits uint64
	defer func() {
		if canDue {
			// Up to the end of starts: a run stopped early (aborted,
			// interrupted) did not drop the starts it never reached.
			end := min(duration, time.Since(e.t0), e.endedAt())
			for h := hits; due.Due(h) < end; h++ {
				e.dropped.Add(1)
			}
		}
	}()
	// The scheduler sleeps until the next start is due, but wakes at most
	// once per Coalesce: starts that fall due in between are made together
	// at the next wake-up. Each wake-up costs the process a context
	// switch, the largest part of its CPU at a high rate.
	var lastWake time.Duration  // from t0, when the first start is made
	var sleptFrom time.Duration // when the last sleep began, from t0
	wokeAt := e.t0              // and when it ended; a start due at t0 is as one due at a wake-up
	var waited bool             // a start since then waited for a slot
	var slotFreed time.Time     // when the last wait for a slot ended
	for {
		elapsed := time.Since(e.t0)
		wait, stop := pacer.Pace(elapsed, hits)
		if stop {
			return
		}
		var sched time.Duration
		if canDue {
			sched = due.Due(hits)
		} else {
			sched = elapsed + wait
		}
		if sched >= duration {
			return
		}
		if wait > 0 {
			wait = max(wait, lastWake+c.Coalesce-elapsed)
			// The sleep ends with the run's stop (abort, interrupt), not
			// with the end of starts: a start due just before the end
			// whose timer wakes a little after it is still made.
			sleptFrom = elapsed
			if !sleep(taskCtx, tm, wait) {
				return
			}
			wokeAt = time.Now()
			lastWake = wokeAt.Sub(e.t0)
			waited = false
		}
		if sched >= e.endedAt() {
			return // EndStarts: starts end there
		}
		if e.hooks.Backoff.Skip(e.t0.Add(sched)) {
			hits++ // the target asked to slow down: skipped, counted, not late
			continue
		}
		if e.hold != nil && e.hold.skip() {
			hits++ // the load is paused: not made, not late, not dropped
			continue
		}
		at := e.t0.Add(sched)
		select {
		case slots <- struct{}{}:
		default: // all slots taken: wait for one, but not past the end of starts
			waited = true
			select {
			case slots <- struct{}{}:
				slotFreed = time.Now()
			case <-startCtx.Done():
				return
			}
		}
		st := openStart[U]{at: at, from: startFrom(at, wokeAt, sched, sleptFrom, waited), slotTime: heldFor(at, slotFreed)}
		e.scheduled.Add(1)
		hits++
		st.u = getUser()
		e.inFlight.Add(1)
		select {
		case starts <- st: // an idle worker takes it
		default:
			wg.Add(1)
			go func() {
				defer wg.Done()
				run(st)
				for st := range starts {
					run(st)
				}
			}()
		}
	}
}

// openStart is one start of the open model, handed to a worker.
type openStart[U any] struct {
	u        *pooled[U]
	at       time.Time     // its schedule
	from     time.Time     // latency counts from here; zero: from the task's own start
	slotTime time.Duration // of its lag, the target's: see heldFor
}

// heldFor returns the part of the lag of a start due at at that is the
// target's: how far beyond its schedule the scheduler's last wait for a
// slot ended, at slotFreed. Every slot was taken by a task in flight, so
// until one was freed the start could not be made, whatever the
// generator did: the wait shows in the start's latency (startFrom), a
// start late for it counts as waited, not late, and it is no sign of a
// starved generator. From then on the delay is the generator's: its own
// work and stalls since the slot was freed, and the hand-over to a
// worker. A scheduler behind a long backlog of starts is thus charged
// only for the time since its last wait, however far behind the target
// has put it.
func heldFor(at, slotFreed time.Time) time.Duration {
	return max(0, slotFreed.Sub(at))
}

// startFrom returns where the latency of an open-model start due at at
// (sched from t0) counts from, as the scheduler makes it: zero, for when
// its task begins (Exec times it from its own start), if it fell due
// while the scheduler slept (from sleptFrom to the wake-up at wokeAt; the
// run's start is as a wake-up) and no start since the wake-up waited for
// a slot. The timer's overshoot, the coalescing and the hand-over to a
// worker are the generator's delay, not the target's, and are reported
// as start lag; what the worker does before the task (the lag's record, a
// new user's OnStart, which has a row of its own) is in neither. Once a start since the wake-up waited
// for a slot (every one taken by tasks the target had not answered), the
// starts that fell due in the sleep count from the wake-up, so that the
// wait shows in their latency; and a start that fell due after the
// wake-up (the scheduler was behind) counts from its schedule: a slow
// target's delay is never hidden (no coordinated omission).
func startFrom(at, wokeAt time.Time, sched, sleptFrom time.Duration, waited bool) time.Time {
	switch {
	case sched < sleptFrom || at.After(wokeAt):
		return at
	case waited:
		return wokeAt
	}
	return time.Time{}
}

// recordLag records the lag of one open-model start behind its schedule,
// from the worker that began it: the generator's part of it, gen, in the
// lag histogram, the largest lag and the Lag hook; and, when all of it
// (total, with any wait for a slot) is beyond the late tolerance, the
// start as late if gen alone is, as waited if not.
func (e *Engine[U]) recordLag(gen, total time.Duration) {
	if tol := e.cfg.LateTolerance + e.cfg.Coalesce; gen > tol {
		e.late.Add(1)
	} else if total > tol {
		e.waited.Add(1)
	}
	e.lagMu.Lock()                           // the workers record; a window's close merges and resets
	e.winLag.RecordValue(result.Micros(gen)) // merged into lag as the window closes
	e.lagMu.Unlock()
	if e.hooks.Lag != nil {
		e.hooks.Lag(gen)
	}
	for {
		m := e.maxLag.Load()
		if int64(gen) <= m || e.maxLag.CompareAndSwap(m, int64(gen)) {
			break
		}
	}
}

// drainPool runs Teardown for each user of the open model's pool that
// started, once all tasks are done, within the grace period.
func (e *Engine[U]) drainPool(ctx context.Context) {
	if len(e.openUsers) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), e.cfg.Grace)
	defer cancel()
	for _, u := range e.openUsers {
		if u.started && ctx.Err() == nil {
			e.drv.Teardown(ctx, u.u)
		}
	}
}

// schedule holds the counters of the open model's schedule keeping.
type schedule struct {
	scheduled, late, dropped atomic.Int64
	waited                   atomic.Int64            // starts late for a wait for a slot: the target's doing
	maxLag                   atomic.Int64            // since the segment's start
	lagMu                    sync.Mutex              // guards lag
	lag                      *hdrhistogram.Histogram // start lag behind schedule, µs, since the segment's start
	winLag                   *hdrhistogram.Histogram // and since the window's, merged into lag when it closes
}
