package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/steadyload/steadyload/internal/pipeline"
)

// How a paused run probes its target: the first probe after ProbeFirst,
// then at doubling intervals up to ProbeMax, never more often than the
// scenario's own load; ProbeConfirm probes in a row must pass, the ones
// after the first at the shortest interval, before the load resumes. So a
// target back from an outage of any length gets its load again within
// ProbeMax plus two short intervals, well within a minute.
const (
	ProbeFirst   = 5 * time.Second
	ProbeMax     = 40 * time.Second
	ProbeConfirm = 3
)

// hold is the pause of a run without end. When the abort guard finds the
// target unhealthy, all load stops at once — no task starts, the tasks in
// flight are cancelled — and one probe, a run of the first task, tests the
// target now and then; once probes pass, the load resumes, ramped as at
// the start. Each pause and each recovery is announced; each segment says
// how long its load was paused.
type hold[U any] struct {
	e *Engine[U]

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
	prober      *U // the probes' own user, set up once it passes Setup

	pausedTotal time.Duration // in finished outages
	outages     int           // begun since the run's start
	segPaused   time.Duration // pausedTotal at the current segment's start, plus its part of an outage then running
	segOutages  int           // outages at the current segment's start
}

// newHold makes the hold of e, its tasks' context a child of taskCtx.
func newHold[U any](e *Engine[U], taskCtx context.Context) *hold[U] {
	h := &hold[U]{e: e, parent: taskCtx}
	h.epoch, h.cancelEpoch = context.WithCancelCause(taskCtx)
	h.probing, h.stopProbing = context.WithCancel(taskCtx)
	return h
}

// stop ends the probing, once the load has stopped, waits for it, and
// runs the probes' user's OnStop.
func (h *hold[U]) stop() {
	h.stopProbing()
	h.probes.Wait()
	if h.prober != nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(h.parent), h.e.cfg.Grace)
		defer cancel()
		h.e.drv.Teardown(ctx, *h.prober)
	}
}

// taskContext is the context a task starts with: cancelled when the load
// pauses.
func (h *hold[U]) taskContext() context.Context {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch
}

// skip reports whether an open-model start falls in a pause.
func (h *hold[U]) skip() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.paused
}

// wait holds closed-model user id while the load is paused, and after a
// resumption staggers the users as at the start; false means ctx ended.
func (h *hold[U]) wait(ctx context.Context, tm *time.Timer, id int) bool {
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
	return sleep(ctx, tm, time.Duration(id)*h.e.spawnEvery())
}

// pause stops the load for reason, unless it is paused already, and
// returns the channel closed when it resumes.
func (h *hold[U]) pause(reason string) <-chan struct{} {
	h.mu.Lock()
	if h.paused {
		defer h.mu.Unlock()
		return h.resumed
	}
	now := time.Now()
	h.paused, h.since = true, now
	h.outages++
	h.resumed = make(chan struct{})
	h.cancelEpoch(ErrPaused)
	resumed := h.resumed
	h.mu.Unlock()

	h.e.logf("loadtest: %s", reason)
	h.e.announce(pipeline.Event{Kind: pipeline.Paused, At: now, Text: reason})
	h.probes.Add(1)
	go func() {
		defer h.probes.Done()
		h.probe()
	}()
	return resumed
}

// probe tests the target until ProbeConfirm probes in a row pass, then
// resumes the load. It ends with the load. The probes run as a user of
// their own, numbered past the load's users, that has passed the
// scenario's OnStart as any user does: a probe that cannot start its
// user fails.
func (h *hold[U]) probe() {
	e := h.e
	ctx := h.probing
	tm := time.NewTimer(time.Hour)
	defer tm.Stop()
	interval := max(ProbeFirst, e.cfg.ProbeEvery)
	first := interval
	passed := 0
	for {
		if !sleep(ctx, tm, interval) {
			return
		}
		e.announce(pipeline.Event{Kind: pipeline.Probing, At: time.Now(), Text: fmt.Sprintf("probing the target with %q", e.cfg.ProbeName)})
		ok := false
		if u := h.probeUser(ctx); u != nil {
			ok = e.drv.Probe(ctx, *u)
		}
		if ok {
			if passed++; passed == ProbeConfirm {
				h.resume()
				return
			}
			interval = first
			continue
		}
		passed = 0
		interval = min(2*interval, max(ProbeMax, first))
	}
}

// probeUser returns the probes' user, setting it up on first use; nil
// while its OnStart fails.
func (h *hold[U]) probeUser(ctx context.Context) *U {
	if h.prober != nil {
		return h.prober
	}
	e := h.e
	u := e.drv.NewUser(e.cfg.concurrency()) // past every id the load gives out
	if !e.drv.Setup(ctx, u) {
		return nil
	}
	h.prober = &u
	return h.prober
}

// resume ends the outage: tasks start again.
func (h *hold[U]) resume() {
	h.mu.Lock()
	now := time.Now()
	outage := now.Sub(h.since)
	h.pausedTotal += outage
	h.paused = false
	h.epoch, h.cancelEpoch = context.WithCancelCause(h.parent)
	close(h.resumed)
	h.mu.Unlock()

	text := fmt.Sprintf("target recovered: the load resumed after an outage of %s", outage.Round(time.Second))
	h.e.logf("loadtest: %s", text)
	h.e.announce(pipeline.Event{Kind: pipeline.Resumed, At: now, Text: text, Outage: outage})
}

// cut returns how long the load was paused within the segment that ends
// at end, and how many outages began in it.
func (h *hold[U]) cut(end time.Time) (paused time.Duration, outages int) {
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

// announce tells the event hook of ev.
func (e *Engine[U]) announce(ev pipeline.Event) {
	if e.hooks.Event != nil {
		e.hooks.Event(ev)
	}
}
