package loadtest

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTaskPanicIsAFailure: a task, OnStart or OnStop that panics does not
// kill the test binary: the panic is a failure of class "panic", its stack
// is logged once per site, and the run writes its results.
func TestTaskPanicIsAFailure(t *testing.T) {
	tests := []struct {
		name       string
		open       bool
		every      int // the task panics on every every-th call
		onStart    bool
		wantTask   string
		wantPanics int64
		sites      int // panic sites: the task or OnStart, and OnStop for users that started
	}{
		{name: "open model, every 4th task", open: true, every: 4, wantTask: "GET /a", wantPanics: 5, sites: 2},
		{name: "closed model, every task", every: 1, wantTask: "GET /a", wantPanics: -1, sites: 2},
		{name: "OnStart", onStart: true, wantTask: "OnStart", wantPanics: 2, sites: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := &fakeTarget{delay: 10 * time.Millisecond}
			sc := fakeScenario(t, target)
			sc.Duration = 2 * time.Second
			if tt.open {
				sc.Rate = 10
			} else {
				sc.Users, sc.SpawnRate, sc.Wait = 2, 10, Constant(190*time.Millisecond)
			}
			var calls atomic.Int64
			sc.Tasks[0].Do = func(ctx context.Context, u *User) error {
				if n := calls.Add(1); tt.every > 0 && n%int64(tt.every) == 0 {
					var m map[string]int
					m["boom"]++ // a nil map write: a runtime panic
				}
				_, err := u.Get(ctx, "/a")
				return err
			}
			if tt.onStart {
				sc.Tasks[0].Do = func(ctx context.Context, u *User) error { _, err := u.Get(ctx, "/a"); return err }
				sc.OnStart = func(context.Context, *User) error { panic("no login") }
			}
			sc.OnStop = func(context.Context, *User) error { panic("no logout") }
			res, tb, _ := runFake(t, sc)
			require.NotNil(t, res, "Run returned no result: %s", tb.messages())
			tk := task(res, tt.wantTask)
			require.NotNil(t, tk, "row for %q in the result", tt.wantTask)
			var panics int64
			for _, f := range res.Failures {
				if f.Name == tk.Name && f.Class == ClassPanic {
					panics += f.Occurrences
				}
			}
			want := tt.wantPanics
			if want < 0 {
				want = tk.Requests // every request of the task
				assert.GreaterOrEqual(t, want, int64(5), "requests of %q", tt.wantTask)
				assert.Zero(t, target.total.Load(), "requests of %q that reached the target", tt.wantTask)
			}
			assert.Equal(t, want, panics, "failures of class panic for %q (failures %+v)", tt.wantTask, res.Failures)
			logs := tb.logText()
			// Each site panics many times; its stack is logged once.
			assert.Equal(t, tt.sites, strings.Count(logs, "panicked at loadtest/panic_test.go:"), "panic stacks logged; want once per site:\n%s", logs)
			assert.Contains(t, logs, "goroutine ", "log; want the panic's stack")
			assert.Contains(t, tb.messages(), "(panic)", "messages; want the run failed for its panicking tasks")
			assert.Contains(t, logs, "results written to", "log; want the results written after the panics")
		})
	}
}
