package loadtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/steadyload/steadyload/internal/pipeline"
)

// How a paused run probes its target: the first probe after probeFirst,
// then at doubling intervals up to probeMax, never more often than the
// scenario's own load; probeConfirm probes in a row must pass, the ones
// after the first at the shortest interval, before the load resumes. So a
// target back from an outage of any length gets its load again within
// probeMax plus two short intervals, well within a minute.
const (
	probeFirst   = 5 * time.Second
	probeMax     = 40 * time.Second
	probeConfirm = 3
)

// errPaused is the cause of the context of the tasks a pause cuts off.
var errPaused = errors.New("load paused: the target is unhealthy")

// hold is the pause of a run without end. When the abort guard finds the
// target unhealthy, all load stops at once — no task starts, the tasks in
// flight are cancelled — and one probe, a run of the first task, tests the
// target now and then; once probes pass, the load resumes, ramped as at
// the start. Each pause and each recovery is announced; each segment says
// how long its load was paused.
type hold struct {
	r *runner

	mu          sync.Mutex
	paused      bool
	since       time.Time     // when the current outage began
	resumed     chan struct{} // closed at the resumption that ends the current outage
	epoch       context.Context
	cancelEpoch context.CancelCauseFunc
	parent      context.Context // the run's task context

	probing     context.Context // the probes' context: ends with the load (stop)
	stopProbing context.CancelFunc
	probes      sync.WaitGroup
	prober      *User // the probes' own user, set up once it passes OnStart

	pausedTotal time.Duration // in finished outages
	outages     int           // begun since the run's start
	segPaused   time.Duration // pausedTotal at the current segment's start, plus its part of an outage then running
	segOutages  int           // outages at the current segment's start
}

// newHold makes the hold of r, its tasks' context a child of taskCtx.
func newHold(r *runner, taskCtx context.Context) *hold {
	h := &hold{r: r, parent: taskCtx}
	h.epoch, h.cancelEpoch = context.WithCancelCause(taskCtx)
	h.probing, h.stopProbing = context.WithCancel(taskCtx)
	return h
}

// stop ends the probing, once the load has stopped, waits for it, and
// runs the probes' user's OnStop.
func (h *hold) stop() {
	h.stopProbing()
	h.probes.Wait()
	if h.prober != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.parent), h.r.plan.Grace)
		defer cancel()
		h.r.teardown(ctx, h.prober)
	}
}

// taskContext is the context a task starts with: cancelled when the load
// pauses.
func (h *hold) taskContext() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch
}

// skip reports whether an open-model start falls in a pause.
func (h *hold) skip() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paused
}

// wait holds closed-model user id while the load is paused, and after a
// resumption staggers the users as at the start; false means ctx ended.
func (h *hold) wait(ctx context.Context, tm *time.Timer, id int) bool {
	h.mu.Lock()
	paused, resumed := h.paused, h.resumed
	h.mu.Unlock()
	if !paused {
		return true
	}
	select {
	case <-ctx.Done():
		return false
	case <-resumed:
	}
	return sleep(ctx, tm, time.Duration(id)*h.r.spawnEvery())
}

// pause stops the load for reason, unless it is paused already, and
// returns the channel closed when it resumes.
func (h *hold) pause(reason string) <-chan struct{} {
	h.mu.Lock()
	if h.paused {
		defer h.mu.Unlock()
		return h.resumed
	}
	now := time.Now()
	h.paused, h.since = true, now
	h.outages++
	h.resumed = make(chan struct{})
	h.cancelEpoch(errPaused)
	resumed := h.resumed
	h.mu.Unlock()

	h.r.tb.Logf("loadtest: %s", reason)
	h.r.announce(pipeline.Event{Kind: pipeline.Paused, At: now, Text: reason})
	h.probes.Add(1)
	go func() {
		defer h.probes.Done()
		h.probe()
	}()
	return resumed
}

// probe tests the target until probeConfirm probes in a row pass, then
// resumes the load. It ends with the load. The probes run as a user of
// their own, numbered past the load's users, that has passed the
// scenario's OnStart as any user does: a probe that cannot start its
// user fails.
func (h *hold) probe() {
	r := h.r
	ctx := h.probing
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	interval := max(probeFirst, r.nominalInterval())
	first := interval
	passed := 0
	for {
		if !sleep(ctx, tm, interval) {
			return
		}
		r.announce(pipeline.Event{Kind: pipeline.Probing, At: time.Now(), Text: fmt.Sprintf("probing the target with %q", r.plan.Tasks[0].Name)})
		class := "setup"
		if u := h.probeUser(ctx); u != nil {
			_, _, class = r.exec(ctx, u, 0, time.Time{})
		}
		if class == "" {
			if passed++; passed == probeConfirm {
				h.resume()
				return
			}
			interval = first
			continue
		}
		passed = 0
		interval = min(2*interval, max(probeMax, first))
	}
}

// probeUser returns the probes' user, setting it up on first use; nil
// while its OnStart fails.
func (h *hold) probeUser(ctx context.Context) *User {
	if h.prober != nil {
		return h.prober
	}
	r := h.r
	u := r.newUser(r.plan.concurrency()) // past every id the load gives out
	if !r.setup(ctx, u) {
		return nil
	}
	u.started = true
	h.prober = u
	return u
}

// resume ends the outage: tasks start again.
func (h *hold) resume() {
	h.mu.Lock()
	now := time.Now()
	outage := now.Sub(h.since)
	h.pausedTotal += outage
	h.paused = false
	h.epoch, h.cancelEpoch = context.WithCancelCause(h.parent)
	close(h.resumed)
	h.mu.Unlock()

	text := fmt.Sprintf("target recovered: the load resumed after an outage of %s", outage.Round(time.Second))
	h.r.tb.Logf("loadtest: %s", text)
	h.r.announce(pipeline.Event{Kind: pipeline.Resumed, At: now, Text: text, Outage: outage})
}

// cut returns how long the load was paused within the segment that ends
// at end, and how many outages began in it.
func (h *hold) cut(end time.Time) (paused time.Duration, outages int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	total := h.pausedTotal
	if h.paused {
		total += end.Sub(h.since)
	}
	paused, outages = total-h.segPaused, h.outages-h.segOutages
	h.segPaused, h.segOutages = total, h.outages
	return paused, outages
}

// spawnEvery is the time between two users' starts in the closed model.
func (r *runner) spawnEvery() time.Duration {
	return time.Duration(float64(time.Second) / r.plan.SpawnRate)
}

// nominalInterval is the time between two task starts of the scenario's
// own load: a probe is never more often.
func (r *runner) nominalInterval() time.Duration {
	p := r.plan
	if p.open {
		return time.Duration(float64(time.Second) / p.Rate)
	}
	var think time.Duration
	switch w := p.Wait.(type) {
	case between:
		think = (w.lo + w.hi) / 2
	case constant:
		think = w.d
	case pacing:
		think = w.d
	}
	return think / time.Duration(max(p.Users, 1))
}

// announce tells the event sinks of e.
func (r *runner) announce(e pipeline.Event) {
	for _, s := range r.events {
		s.Event(e)
	}
}
