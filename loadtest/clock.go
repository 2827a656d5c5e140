package loadtest

import (
	"context"
	"time"
)

// A schedClock puts the open model's scheduler to sleep between starts,
// until the run's context it was made for is done.
type schedClock interface {
	// sleep waits d or until the context is done; false means it is done.
	sleep(d time.Duration) bool
	// close releases the clock.
	close()
}

// goClock sleeps on a time.Timer: the clock where no better one is
// available, and in tests, where time is synctest's.
type goClock struct {
	ctx context.Context
	tm  *time.Timer
}

func newGoClock(ctx context.Context) *goClock {
	return &goClock{ctx: ctx, tm: time.NewTimer(time.Hour)}
}

func (c *goClock) sleep(d time.Duration) bool { return sleep(c.ctx, c.tm, d) }

func (c *goClock) close() { c.tm.Stop() }
