package loadtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

// TestErrStop: a task returning ErrStop ends the load as the end of the
// Duration does, in fake time: the task is not counted, no start is
// dropped, the run is complete, and the log says why once, even when
// several tasks return it at once.
func TestErrStop(t *testing.T) {
	errOut := fmt.Errorf("feed accounts.csv ran out after 20 rows: %w", ErrStop)
	tests := []struct {
		name    string
		sc      func(target *fakeTarget) Scenario
		elapsed time.Duration // the load's length, exact in fake time
		reqs    int64         // tasks recorded
		sched   int64         // open model: starts made
	}{{
		// 10 starts/s: starts 1 to 20 succeed, the 21st, at 2 s, stops.
		name: "open model",
		sc: func(target *fakeTarget) Scenario {
			var n atomic.Int64
			sc := fakeScenario(t, target)
			sc.Rate = 10
			sc.Tasks = []Task{{Name: "GET /a", Do: func(ctx context.Context, u *User) error {
				if n.Add(1) > 20 {
					return errOut
				}
				_, err := u.Get(ctx, "/a")
				return err
			}}}
			return sc
		},
		elapsed: 2 * time.Second, reqs: 20, sched: 21,
	}, {
		// 4 users, a task every second: tasks at 0, 1 and 2 s succeed;
		// at 3 s all four users return ErrStop together.
		name: "closed model, four users at once",
		sc: func(target *fakeTarget) Scenario {
			// The barrier's channel is made inside the fake-time bubble,
			// by the first task, so that waiting on it blocks durably.
			var once sync.Once
			var together chan struct{}
			var arrived atomic.Int64
			sc := fakeScenario(t, target)
			sc.Users, sc.SpawnRate, sc.Wait = 4, 1000, ConstantPacing(time.Second)
			sc.Tasks = []Task{{Name: "GET /a", Do: func(ctx context.Context, u *User) error {
				once.Do(func() { together = make(chan struct{}) })
				if u.Data == 3 {
					if arrived.Add(1) == 4 {
						close(together)
					}
					<-together
					return errOut
				}
				u.Data = tasksDone(u.Data) + 1
				_, err := u.Get(ctx, "/a")
				return err
			}}}
			return sc
		},
		elapsed: 3*time.Second + 3*time.Millisecond, reqs: 12,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &fakeTarget{}
			sc := tt.sc(target)
			sc.Duration = time.Minute
			res, tb, _ := runFake(t, sc)
			require.NotNil(t, res, "result; fatal: %v", tb.fatals)
			assert.Empty(t, tb.errs, "test errors")
			assert.Equal(t, result.Complete, res.Meta.Status, "status")
			assert.Equal(t, tt.elapsed, res.Meta.Elapsed, "the load's length")
			assert.Equal(t, tt.reqs, res.Total.Requests, "tasks recorded: not those that returned ErrStop")
			assert.Zero(t, res.Total.Failures, "failures")
			assert.Equal(t, tt.sched, res.Meta.Scheduled, "starts made")
			assert.Zero(t, res.Meta.Dropped, "starts dropped")
			var said []string
			for _, l := range tb.logs {
				if strings.Contains(l, "ran out") {
					said = append(said, l)
				}
			}
			assert.Equal(t, []string{"loadtest: feed accounts.csv ran out after 20 rows: load stopped; no task starts after it, and the run is judged as a complete one"}, said, "log lines saying why the load stopped")
		})
	}
}

// tasksDone is the user's count of tasks so far, 0 before the first.
func tasksDone(data any) int {
	n, _ := data.(int)
	return n
}
