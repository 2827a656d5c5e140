//go:build !linux

package loadtest

import "context"

// newSchedClock returns the scheduler's clock: a time.Timer, which is as
// precise as the platform's poller allows.
func newSchedClock(ctx context.Context) schedClock { return newGoClock(ctx) }
