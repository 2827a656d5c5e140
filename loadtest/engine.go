package loadtest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/tracing"
)

// pick returns the index of a task drawn by weight.
func (r *runner) pick(u *User) int {
	w := r.plan.weights
	if len(w) == 1 {
		return 0
	}
	x := u.Rand.IntN(w[len(w)-1])
	return sort.SearchInts(w, x+1)
}

// exec runs task ti for user u and records its outcome. Latency counts from
// sched, the start the schedule asked for (the open model), so a late start
// shows in the latency instead of hiding it (no coordinated omission). It
// returns how long the task took and when it ended.
func (r *runner) exec(ctx context.Context, u *User, ti int, sched time.Time) (took time.Duration, end time.Time, class string) {
	task := &r.plan.Tasks[ti]
	timeout := task.Timeout
	if timeout == 0 {
		timeout = r.plan.Timeout
	}
	u.beginTask()
	start := time.Now()
	tctx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	if sched.IsZero() {
		sched = start
	}
	var span tracing.Task
	if r.tracer != nil {
		tctx, span = r.tracer.StartTask(tctx, ti)
		if id := span.TraceID(); id != ([16]byte{}) {
			u.traceID = id // the exemplars name the trace that was exported
		}
	}
	err := r.call(func() error { return task.Do(tctx, u) })
	end = time.Now()
	cancel()
	class = r.recordOutcome(ctx, ti, u, end, end.Sub(sched), err)
	if r.tracer != nil {
		span.End(end.Sub(sched), class)
	}
	return end.Sub(start), end, class
}

// recordOutcome classifies err and records the outcome of task ti, run by u.
func (r *runner) recordOutcome(ctx context.Context, ti int, u *User, end time.Time, latency time.Duration, err error) string {
	if errors.Is(err, ErrStop) {
		r.stopLoad(err) // not counted: the load ends as at the end of Duration (stop.go)
		return ClassStopped
	}
	o := outcome{latency: latency, end: end, bytes: u.bytes, status: u.status, traceID: u.traceID}
	if err != nil {
		o.class = Classify(err)
		if ctx.Err() != nil && (o.class == ClassStopped || o.class == ClassTimeout || o.class == ClassOther) {
			o.class, err = ClassStopped, context.Cause(ctx)
		}
		o.msg = r.scrub(normalizeError(describe(err)))
	}
	r.rec.record(ti, &o)
	if len(r.outcomes) > 0 {
		out := pipeline.Outcome{Task: ti, End: end, Latency: latency, Class: o.class, Status: o.status, TraceID: o.traceID}
		for _, w := range r.outcomes {
			w.Outcome(out)
		}
	}
	return o.class
}

// newUser makes user number id, ready for its first task.
func (r *runner) newUser(id int) *User {
	id = r.plan.shard.UserID(id) // its number in the whole run
	return &User{ID: id, Rand: r.userRand(id), Header: make(map[string][]string), r: r}
}

// setup runs OnStart for u, recording it as the setup row; false means the
// user could not start.
func (r *runner) setup(ctx context.Context, u *User) bool {
	if r.plan.OnStart == nil {
		return true
	}
	sctx, cancel := context.WithTimeout(ctx, r.plan.Timeout)
	defer cancel()
	u.beginTask()
	start := time.Now()
	err := r.call(func() error { return r.plan.OnStart(sctx, u) })
	end := time.Now()
	r.recordOutcome(ctx, r.setupIndex, u, end, end.Sub(start), err)
	return err == nil
}

// teardown runs OnStop for u, bounded by the scenario's timeout.
func (r *runner) teardown(ctx context.Context, u *User) {
	if r.plan.OnStop != nil {
		tctx, cancel := context.WithTimeout(ctx, r.plan.Timeout)
		defer cancel()
		r.call(func() error { return r.plan.OnStop(tctx, u) }) // its outcome is the user's business
	}
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

// runClosed runs the closed model: Users goroutines, started at SpawnRate,
// each looping task → think time until starts stop.
func (r *runner) runClosed(startCtx, taskCtx context.Context, wg *sync.WaitGroup) {
	p := r.plan
	spawnEvery := time.Duration(float64(time.Second) / p.SpawnRate)
	for id := range p.Users {
		at := r.t0.Add(time.Duration(id) * spawnEvery)
		if !at.Before(r.stopAt) {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			tm := time.NewTimer(time.Hour)
			defer tm.Stop()
			if !sleep(startCtx, tm, time.Until(at)) {
				return
			}
			u := r.newUser(id)
			r.active.Add(1)
			defer r.active.Add(-1)
			if !r.setup(taskCtx, u) {
				return
			}
			defer r.teardown(taskCtx, u)
			for now := time.Now(); startCtx.Err() == nil && now.Before(r.stopAt); {
				if r.backoff.Wait(startCtx, tm, r.stopAt) {
					now = time.Now()
					continue // the target asked to slow down: check the time again
				}
				if r.hold != nil && !r.hold.wait(startCtx, tm, id) {
					return
				}
				took, end, _ := r.exec(r.taskContext(taskCtx), u, r.pick(u), time.Time{})
				now = end
				if p.Wait == nil {
					continue
				}
				think := p.Wait.Think(took, u.Rand)
				if !end.Add(think).Before(r.stopAt) {
					return // the next start would fall after the end
				}
				if !sleep(startCtx, tm, think) {
					return
				}
				now = time.Now()
			}
		}()
	}
}

// taskContext is the context a task starts with: taskCtx, or in a run
// without end the hold's, which a pause cancels.
func (r *runner) taskContext(taskCtx context.Context) context.Context {
	if r.hold != nil {
		return r.hold.taskContext()
	}
	return taskCtx
}

// dueTimer is an arrivals that can say when a given start is due.
type dueTimer interface {
	Due(hits uint64) time.Duration
}

// runOpen runs the open model: one scheduler starting tasks at the pacer's
// times, each in its own goroutine, at most MaxInFlight at once. A start
// made more than LateTolerance after its schedule is late; starts never
// made before the end are dropped. Both are counted, never hidden.
func (r *runner) runOpen(startCtx, taskCtx context.Context, wg *sync.WaitGroup, pacer arrivals) {
	p := r.plan
	slots := make(chan struct{}, p.MaxInFlight)
	pool := make(chan *User, p.MaxInFlight)
	var nextID int
	getUser := func() *User {
		select {
		case u := <-pool:
			return u
		default:
		}
		u := r.newUser(nextID)
		nextID++
		r.openUsers = append(r.openUsers, u) // only the scheduler appends
		return u
	}
	// Workers are reused from start to start rather than started afresh:
	// a new goroutine grows a new stack for every request, a sixth of the
	// generator's CPU at 1000 starts/s. An idle worker waits on starts;
	// when none is idle a new one is started, so at most MaxInFlight run.
	starts := make(chan openStart)
	defer close(starts)
	run := func(st openStart) {
		defer func() {
			r.inFlight.Add(-1)
			<-slots
		}()
		u := st.u
		if !u.started {
			if !r.setup(taskCtx, u) {
				return // a user that cannot start is not pooled
			}
			u.started = true
		}
		r.exec(r.taskContext(taskCtx), u, r.pick(u), st.origin)
		pool <- u
	}
	due, canDue := pacer.(dueTimer)
	duration := r.stopAt.Sub(r.t0)
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	var hits uint64
	defer func() {
		if canDue {
			// Up to the end of starts: a run stopped early (aborted,
			// interrupted) did not drop the starts it never reached.
			end := min(duration, time.Since(r.t0), r.stoppedAt())
			for h := hits; due.Due(h) < end; h++ {
				r.dropped.Add(1)
			}
		}
	}()
	// The scheduler sleeps until the next start is due, but wakes at most
	// once per Coalesce: starts that fall due in between are made together
	// at the next wake-up. Each wake-up costs the process a context
	// switch, the largest part of its CPU at a high rate.
	var lastWake time.Duration  // from t0, when the first start is made
	var sleptFrom time.Duration // when the last sleep began, from t0
	var wokeAt time.Time        // and when it ended
	for {
		elapsed := time.Since(r.t0)
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
			wait = max(wait, lastWake+p.Coalesce-elapsed)
			// The sleep ends with the run's stop (abort, interrupt), not
			// with the end of starts: a start due just before the end
			// whose timer wakes a little after it is still made.
			sleptFrom = elapsed
			if !sleep(taskCtx, tm, wait) {
				return
			}
			wokeAt = time.Now()
			lastWake = wokeAt.Sub(r.t0)
		}
		if sched >= r.stoppedAt() {
			return // a task returned ErrStop: starts end there
		}
		if r.backoff.Skip(r.t0.Add(sched)) {
			hits++ // the target asked to slow down: skipped, counted, not late
			continue
		}
		if r.hold != nil && r.hold.skip() {
			hits++ // the load is paused: not made, not late, not dropped
			continue
		}
		at := r.t0.Add(sched)
		// Latency counts from the schedule, except for a start that fell
		// due while the scheduler slept: the timer's overshoot and the
		// coalescing are the generator's delay, not the target's, and are
		// reported as start lag. A start already behind schedule before
		// the sleep (all slots taken, say) counts from its schedule.
		origin := at
		if sched >= sleptFrom && wokeAt.After(at) {
			origin = wokeAt
		}
		select {
		case slots <- struct{}{}:
		default: // all slots taken: wait for one, but not past the end of starts
			select {
			case slots <- struct{}{}:
			case <-startCtx.Done():
				return
			}
		}
		lag := time.Since(at)
		r.scheduled.Add(1)
		if lag > p.LateTolerance+p.Coalesce {
			r.late.Add(1)
		}
		r.lagMu.Lock()                    // only this goroutine records; a segment's end reads and resets
		r.winLag.RecordValue(micros(lag)) // merged into lag as the window closes
		r.lagMu.Unlock()
		if r.lagObserver != nil {
			r.lagObserver.ObserveLag(lag)
		}
		for {
			m := r.maxLag.Load()
			if int64(lag) <= m || r.maxLag.CompareAndSwap(m, int64(lag)) {
				break
			}
		}
		hits++
		st := openStart{getUser(), origin}
		r.inFlight.Add(1)
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
type openStart struct {
	u      *User
	origin time.Time // latency counts from here
}

// counters of the open model's schedule keeping.
type schedule struct {
	scheduled, late, dropped atomic.Int64
	maxLag                   atomic.Int64            // since the segment's start
	lagMu                    sync.Mutex              // guards lag
	lag                      *hdrhistogram.Histogram // start lag behind schedule, µs, since the segment's start
	winLag                   *hdrhistogram.Histogram // and since the window's, merged into lag when it closes
}
