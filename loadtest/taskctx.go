package loadtest

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// taskContext is the context a task runs with: the run's context, with the
// task's timeout as its deadline. It behaves as context.WithTimeout's
// would, but makes the machinery of one (a runtime timer, a channel, a
// registration with the run's context) only when something asks for Done
// or derives a context from it. The harness's own transport does not: it
// sets the deadline on the connection and hears of the run's end through a
// registration the connection makes once (h1Conn.watch). Per request that
// saves a timer, two registrations and nine allocations.
//
// One difference can be seen: asked first after both its deadline and its
// run's end have passed, Err reports the run's end, whichever came first.
type taskContext struct {
	parent   context.Context // the run's context for tasks
	deadline time.Time

	mu   sync.Mutex
	made atomic.Pointer[madeContext] // set once, under mu
	err  error                       // the first non-nil Err of the unmade context, under mu
	// end was called (under mu) and Err was set by it, not by the
	// deadline or the run.
	ended, endedItself bool
}

// madeContext is the context.WithDeadline a taskContext stands for, once
// something needed it.
type madeContext struct {
	ctx    context.Context
	cancel context.CancelFunc
}

// newTaskContext returns a task's context, done at deadline or when
// parent is.
func newTaskContext(parent context.Context, deadline time.Time) *taskContext {
	return &taskContext{parent: parent, deadline: deadline}
}

// Deadline implements context.Context.
func (c *taskContext) Deadline() (time.Time, bool) { return c.deadline, true }

// Done implements context.Context.
func (c *taskContext) Done() <-chan struct{} { return c.make().Done() }

// Err implements context.Context.
func (c *taskContext) Err() error {
	if m := c.made.Load(); m != nil {
		return m.ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errLocked()
}

// errLocked is Err of the unmade context. Once not nil it stays.
func (c *taskContext) errLocked() error {
	if c.err != nil {
		return c.err
	}
	if err := c.parent.Err(); err != nil {
		c.err = err
	} else if !time.Now().Before(c.deadline) {
		c.err = context.DeadlineExceeded
	}
	return c.err
}

// Value implements context.Context. Once c has ended it answers from the
// made context, so that context.Cause keeps the cause of c's own end.
func (c *taskContext) Value(key any) any {
	m := c.made.Load()
	if m == nil {
		c.mu.Lock()
		ended := c.ended
		c.mu.Unlock()
		if !ended {
			return c.parent.Value(key)
		}
		c.make()
		m = c.made.Load()
	}
	return m.ctx.Value(key)
}

// make returns the context.WithDeadline c stands for, making it on first
// use, in the state c has reached.
func (c *taskContext) make() context.Context {
	if m := c.made.Load(); m != nil {
		return m.ctx
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m := c.made.Load(); m != nil {
		return m.ctx
	}
	var ctx context.Context
	var cancel context.CancelFunc
	switch err := c.errLocked(); {
	case err == nil:
		ctx, cancel = context.WithDeadline(c.parent, c.deadline)
	case c.endedItself:
		ctx, cancel = context.WithCancel(context.WithoutCancel(c.parent))
		cancel()
	case err == context.DeadlineExceeded:
		ctx, cancel = context.WithDeadline(context.WithoutCancel(c.parent), c.deadline)
	default: // the run's end
		ctx, cancel = context.WithCancel(c.parent)
	}
	c.made.Store(&madeContext{ctx, cancel})
	return ctx
}

// unmade reports whether nothing has asked for c's Done yet: while it
// holds, the deadline and the run's end are all there is to watch.
func (c *taskContext) unmade() bool { return c.made.Load() == nil }

// end ends c, as the cancel of context.WithTimeout does: Err is
// context.Canceled from now on, unless c had already ended otherwise.
func (c *taskContext) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	c.ended = true
	if m := c.made.Load(); m != nil {
		m.cancel()
		return
	}
	if c.errLocked() == nil {
		c.err, c.endedItself = context.Canceled, true
	}
}
