package loadtest

import (
	"testing"
	"time"
)

// TestFDClockFallback breaks the timerfd under a clock in use: the sleep
// in progress and later ones go on with a time.Timer, whole.
func TestFDClockFallback(t *testing.T) {
	ctx := t.Context()
	c, ok := newSchedClock(ctx).(*fdClock)
	if !ok {
		t.Fatalf("newSchedClock is a %T on Linux; want *fdClock", newSchedClock(ctx))
	}
	defer c.close()
	if !c.sleep(time.Millisecond) {
		t.Fatal("sleep(1ms) = false")
	}
	c.f.Close()
	for _, d := range []time.Duration{3 * time.Millisecond, time.Millisecond} {
		start := time.Now()
		if !c.sleep(d) {
			t.Fatalf("sleep(%s) on a broken timerfd = false; want the time.Timer's true", d)
		}
		if took := time.Since(start); took < d {
			t.Errorf("sleep(%s) on a broken timerfd returned after %s", d, took)
		}
	}
	if c.fallback == nil {
		t.Error("no fallback clock after the timerfd broke")
	}
}
