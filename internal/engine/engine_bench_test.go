package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func BenchmarkPace(b *testing.B) {
	rate := ConstantRate{Freq: 2000}
	b.ReportAllocs()
	var hits uint64
	for b.Loop() {
		wait, _ := rate.Pace(time.Duration(hits)*500*time.Microsecond-time.Microsecond, hits)
		if wait <= 0 {
			b.Fatalf("Pace(%d) = %s; want a positive wait", hits, wait)
		}
		hits++
	}
}

// stopAfter is an Arrivals that starts n tasks as fast as it can, then stops.
type stopAfter uint64

func (n stopAfter) Pace(_ time.Duration, hits uint64) (time.Duration, bool) {
	return 0, hits >= uint64(n)
}

// nopDriver's users are numbers, and its tasks do nothing but count.
type nopDriver struct{ tasks atomic.Int64 }

func (*nopDriver) NewUser(id int) int                             { return id }
func (*nopDriver) Setup(context.Context, int) bool                { return true }
func (*nopDriver) Probe(context.Context, int) bool                { return true }
func (*nopDriver) Think(int, time.Duration) (time.Duration, bool) { return 0, false }
func (*nopDriver) Teardown(context.Context, int)                  {}
func (d *nopDriver) Exec(context.Context, int, time.Time) (time.Duration, time.Time) {
	d.tasks.Add(1)
	return 0, time.Now()
}

// BenchmarkScheduler is the open model's cost per start: the schedule
// bookkeeping, the in-flight slot, the pooled user and the task's
// goroutine, with a task that does nothing.
func BenchmarkScheduler(b *testing.B) {
	d := &nopDriver{}
	e := New[int](Config{Open: true, MaxInFlight: 64, Arrivals: stopAfter(b.N), LateTolerance: 10 * time.Millisecond, Coalesce: 10 * time.Millisecond}, d, nil, Hooks{})
	e.t0 = time.Now()
	e.stopAt = e.t0.Add(time.Hour)
	var wg sync.WaitGroup
	ctx := b.Context()
	b.ReportAllocs()
	b.ResetTimer()
	e.runOpen(ctx, ctx, &wg)
	wg.Wait()
	b.StopTimer()
	require.Equal(b, int64(b.N), e.scheduled.Load(), "starts scheduled")
	require.Equal(b, int64(b.N), d.tasks.Load(), "tasks run")
}
