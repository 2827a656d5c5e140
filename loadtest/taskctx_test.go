package loadtest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// ctxState is what can be seen of a context from outside.
type ctxState struct {
	Done  bool
	Err   error
	Cause error
}

func stateOf(ctx context.Context) ctxState {
	s := ctxState{Err: ctx.Err(), Cause: context.Cause(ctx)}
	select {
	case <-ctx.Done():
		s.Done = true
	default:
	}
	return s
}

// TestTaskContextAsWithTimeout runs the same story against a taskContext
// and against the context.WithTimeout it stands for, in fake time, and
// compares what each shows at every step.
func TestTaskContextAsWithTimeout(t *testing.T) {
	const timeout = 10 * time.Second
	cause := errors.New("run aborted")
	type key struct{}
	// A step acts on the run's context (cancel), the task's context
	// (end: the task is over; done: something asks for Done; derive: a
	// context is derived from it, then looked at) or the clock (sleep).
	tests := []struct {
		name  string
		steps []string
	}{
		{"untouched, past the deadline", []string{"sleep 5s", "sleep 5s", "sleep 1s", "done", "end"}},
		{"ended before the deadline", []string{"sleep 5s", "end", "sleep 10s", "done"}},
		{"ended after the deadline", []string{"sleep 11s", "end", "done"}},
		{"watched, past the deadline", []string{"done", "sleep 10s", "end"}},
		{"watched, ended", []string{"done", "sleep 1s", "end", "sleep 10s"}},
		{"run aborted", []string{"sleep 1s", "cancel", "done", "end"}},
		{"run aborted, watched", []string{"done", "cancel", "end"}},
		{"run aborted after the end", []string{"end", "cancel", "done"}},
		{"run aborted after the deadline", []string{"sleep 10s", "cancel", "end", "done"}},
		{"derived", []string{"derive", "sleep 10s", "derive", "end"}},
		{"derived after the end", []string{"end", "derive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				story := func(lazy bool) []string {
					run, abort := context.WithCancelCause(context.WithValue(context.Background(), key{}, "v"))
					defer abort(nil)
					var ctx context.Context
					var end func()
					if lazy {
						c := newTaskContext(run, time.Now().Add(timeout))
						ctx, end = c, c.end
					} else {
						c, cancel := context.WithTimeout(run, timeout)
						ctx, end = c, cancel
					}
					var seen []string
					start := time.Now()
					look := func(step string, c context.Context) {
						d, ok := c.Deadline()
						seen = append(seen, fmt.Sprintf("%s: %+v deadline +%s %v value %v", step, stateOf(c), d.Sub(start), ok, c.Value(key{})))
					}
					for _, step := range tc.steps {
						switch {
						case step == "cancel":
							abort(cause)
						case step == "end":
							end()
						case step == "done":
							ctx.Done()
						case step == "derive":
							child, cancel := context.WithCancel(ctx)
							fired := make(chan struct{})
							stop := context.AfterFunc(ctx, func() { close(fired) })
							synctest.Wait()
							look(step+" child", child)
							select {
							case <-fired:
								seen = append(seen, "after func ran")
							default:
							}
							cancel()
							stop()
						case strings.HasPrefix(step, "sleep "):
							d, err := time.ParseDuration(strings.TrimPrefix(step, "sleep "))
							if err != nil {
								t.Fatal(err)
							}
							time.Sleep(d)
						}
						synctest.Wait()
						look(step, ctx)
					}
					return seen
				}
				want, got := story(false), story(true)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					for i := range want {
						if i < len(got) && got[i] != want[i] {
							t.Errorf("step %d:\ntaskContext       %s\ncontext.WithTimeout %s", i, got[i], want[i])
						}
					}
				}
			})
		})
	}
}

// TestTaskContextOnConnection: a task's own context reaches a request on
// the direct path as a deadline on its connection and a watch of the run,
// without anything asking for its Done, and leaves nothing behind on the
// connection for the next request.
func TestTaskContextOnConnection(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, conns := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	// warm has u keep one idle connection, made by a request of its own:
	// a dial asks for its context's Done.
	warm := func(t *testing.T, u *User) {
		t.Helper()
		if _, err := u.Get(newTaskContext(t.Context(), time.Now().Add(time.Minute)), "/"); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("deadline", func(t *testing.T) {
		u, r := newTestUser(t, srv.URL, Scenario{}, true, nil)
		warm(t, u)
		tc := newTaskContext(t.Context(), time.Now().Add(50*time.Millisecond))
		_, err := u.Get(tc, "/hang")
		if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "GET: context deadline exceeded" {
			t.Errorf("error %v, want GET: context deadline exceeded", err)
		}
		if !tc.unmade() {
			t.Error("the request asked for its context's Done; want the deadline on the connection")
		}
		if n := idleConns(r); n != 0 {
			t.Errorf("%d idle connections after a timeout, want the connection closed", n)
		}
	})

	t.Run("run ends", func(t *testing.T) {
		u, r := newTestUser(t, srv.URL, Scenario{}, true, nil)
		warm(t, u)
		run, abort := context.WithCancelCause(t.Context())
		cause := errors.New("run aborted")
		time.AfterFunc(30*time.Millisecond, func() { abort(cause) })
		tc := newTaskContext(run, time.Now().Add(time.Hour))
		_, err := u.Get(tc, "/hang") // only the run's end can end it
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want the run's end, context canceled", err)
		}
		if !tc.unmade() {
			t.Error("the request asked for its context's Done; want the run watched by the connection")
		}
		if n := idleConns(r); n != 0 {
			t.Errorf("%d idle connections after the run ended, want the connection closed", n)
		}
		// A connection made after the end is told at once.
		_, err = u.Get(newTaskContext(run, time.Now().Add(time.Hour)), "/")
		if !errors.Is(err, context.Canceled) {
			t.Errorf("a request after the run ended: error %v, want context canceled", err)
		}
	})

	t.Run("next request", func(t *testing.T) {
		u, r := newTestUser(t, srv.URL, Scenario{}, true, nil)
		warm(t, u)
		before := conns.n.Load()
		// Each request leaves its deadline on the connection; the next,
		// whatever its context, must not meet it.
		ctxs := []func() context.Context{
			func() context.Context { return newTaskContext(t.Context(), time.Now().Add(20*time.Millisecond)) },
			t.Context,
			func() context.Context { return newTaskContext(t.Context(), time.Now().Add(20*time.Millisecond)) },
			func() context.Context {
				c := newTaskContext(t.Context(), time.Now().Add(20*time.Millisecond))
				c.Done()
				return c
			},
			func() context.Context { return newTaskContext(t.Context(), time.Now().Add(time.Minute)) },
		}
		for i, ctx := range ctxs {
			time.Sleep(30 * time.Millisecond) // past the last deadline
			if _, err := u.Get(ctx(), "/"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		if n := conns.n.Load() - before; n != 0 {
			t.Errorf("%d connections made, want all requests on the idle one", n)
		}
		if n := r.directPath().sent.Load(); n != uint64(len(ctxs)+1) {
			t.Errorf("%d requests on the direct path, want %d", n, len(ctxs)+1)
		}
	})
}

func idleConns(r *runner) int {
	t := r.directPath().t
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, cs := range t.idle {
		n += len(cs)
	}
	return n
}
