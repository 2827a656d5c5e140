package loadtest

import (
	"context"
	"time"
)

// A schedClock puts the open model's scheduler to sleep between starts.
type schedClock interface {
	// sleep waits d or until ctx is done; false means ctx is done.
	sleep(ctx context.Context, d time.Duration) bool
	// close releases the clock.
	close()
}

// goClock sleeps on a time.Timer: the clock where no better one is
// available, and in tests, where time is synctest's.
type goClock struct{ tm *time.Timer }

func newGoClock() *goClock { return &goClock{tm: time.NewTimer(time.Hour)} }

func (c *goClock) sleep(ctx context.Context, d time.Duration) bool { return sleep(ctx, c.tm, d) }

func (c *goClock) close() { c.tm.Stop() }
