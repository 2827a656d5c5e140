package loadtest

import (
	"context"
	"testing"
	"time"
)

// clocks are the scheduler's clocks on this platform.
func clocks(t *testing.T) map[string]func(ctx context.Context) schedClock {
	t.Helper()
	return map[string]func(ctx context.Context) schedClock{
		"platform": newSchedClock,
		"go":       func(ctx context.Context) schedClock { return newGoClock(ctx) },
	}
}

func TestSchedClockSleeps(t *testing.T) {
	for name, newClock := range clocks(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			c := newClock(ctx)
			defer c.close()
			// Twice each, so that a clock used again after it fired
			// still sleeps the whole time.
			for _, d := range []time.Duration{-time.Millisecond, 0, time.Microsecond, 2 * time.Millisecond, 2 * time.Millisecond, 7 * time.Millisecond} {
				start := time.Now()
				if !c.sleep(d) {
					t.Fatalf("sleep(%s) = false with the context live", d)
				}
				if took := time.Since(start); took < d {
					t.Errorf("sleep(%s) returned after %s", d, took)
				}
			}
		})
	}
}

func TestSchedClockStops(t *testing.T) {
	for name, newClock := range clocks(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			c := newClock(ctx)
			defer c.close()
			time.AfterFunc(5*time.Millisecond, cancel)
			// Only the context's end can end this sleep; the test's
			// timeout catches a clock that misses it.
			if c.sleep(time.Hour) {
				t.Fatal("sleep(1h) = true; want false once the context ended")
			}
			for _, d := range []time.Duration{0, time.Hour} {
				if c.sleep(d) {
					t.Errorf("sleep(%s) after the context ended = true; want false", d)
				}
			}
		})
	}
}

func TestSchedClockStoppedBefore(t *testing.T) {
	for name, newClock := range clocks(t) {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			c := newClock(ctx)
			defer c.close()
			if c.sleep(time.Hour) {
				t.Fatal("sleep(1h) on an ended context = true; want false")
			}
		})
	}
}
