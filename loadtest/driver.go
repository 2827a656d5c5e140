package loadtest

import (
	"context"
	"errors"
	"sort"
	"time"

	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/record"
	"github.com/steadyload/steadyload/internal/tracing"
)

// The runner drives the engine's users: it makes them, runs the
// scenario's OnStart, tasks and OnStop for them, and records outcomes.
var _ engine.Driver[*User] = (*runner)(nil)

// NewUser makes user number id, ready for its first task.
func (r *runner) NewUser(id int) *User {
	id = r.plan.shard.UserID(id) // its number in the whole run
	return &User{ID: id, Rand: r.userRand(id), Header: make(map[string][]string), r: r}
}

// Setup runs OnStart for u, recording it as the setup row; false means the
// user could not start.
func (r *runner) Setup(ctx context.Context, u *User) bool {
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

// Teardown runs OnStop for u, bounded by the scenario's timeout.
func (r *runner) Teardown(ctx context.Context, u *User) {
	if r.plan.OnStop != nil {
		tctx, cancel := context.WithTimeout(ctx, r.plan.Timeout)
		defer cancel()
		r.call(func() error { return r.plan.OnStop(tctx, u) }) // its outcome is the user's business
	}
}

// Exec runs a task drawn by weight for u.
func (r *runner) Exec(ctx context.Context, u *User, origin time.Time) (took time.Duration, end time.Time) {
	took, end, _ = r.exec(ctx, u, r.pick(u), origin)
	return took, end
}

// Probe runs the first task for u.
func (r *runner) Probe(ctx context.Context, u *User) bool {
	_, _, class := r.exec(ctx, u, 0, time.Time{})
	return class == ""
}

// Think is the scenario's think time after a task that took took.
func (r *runner) Think(u *User, took time.Duration) (time.Duration, bool) {
	if r.plan.Wait == nil {
		return 0, false
	}
	return r.plan.Wait.Think(took, u.Rand), true
}

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
// sched, the origin the engine gives an open-model start (its schedule, or
// the scheduler's wake-up), so a start held back by the target shows in
// the latency instead of hiding it (no coordinated omission); when sched
// is zero (the delay before it was the generator's), from the moment the
// task's function is called, once its context is made. It returns how
// long the task took, when it ended, and its failure class.
func (r *runner) exec(ctx context.Context, u *User, ti int, sched time.Time) (took time.Duration, end time.Time, class string) {
	task := &r.plan.Tasks[ti]
	timeout := task.Timeout
	if timeout == 0 {
		timeout = r.plan.Timeout
	}
	u.beginTask()
	tctx, cancel := context.WithTimeout(ctx, timeout)
	var span tracing.Task
	if r.tracer != nil {
		tctx, span = r.tracer.StartTask(tctx, ti)
		if id := span.TraceID(); id != ([16]byte{}) {
			u.traceID = id // the exemplars name the trace that was exported
		}
	}
	// The task is timed from here: its context and span are the
	// harness's work, not the target's.
	start := time.Now()
	if sched.IsZero() {
		sched = start
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
	o := record.Outcome{Latency: latency, End: end, Bytes: u.bytes, Status: u.status, TraceID: u.traceID}
	if err != nil {
		o.Class = Classify(err)
		if ctx.Err() != nil && (o.Class == ClassStopped || o.Class == ClassTimeout || o.Class == ClassOther) {
			o.Class, err = ClassStopped, context.Cause(ctx)
		}
		o.Msg = r.scrub(record.NormalizeError(describe(err)))
	}
	r.rec.Record(ti, &o)
	if len(r.outcomes) > 0 {
		out := pipeline.Outcome{Task: ti, End: end, Latency: latency, Class: o.Class, Status: o.Status, TraceID: o.TraceID}
		for _, w := range r.outcomes {
			w.Outcome(out)
		}
	}
	return o.Class
}
