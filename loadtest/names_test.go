package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/loadtest/result"
)

// classedError names its own failure class.
type classedError struct{ class string }

func (e classedError) Error() string        { return "lost in the queue" }
func (e classedError) FailureClass() string { return e.class }

func TestClassifyOwnClass(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"its own class", classedError{"queue_lost"}, "queue_lost"},
		{"wrapped", fmt.Errorf("consume: %w", classedError{"grpc_NOT_FOUND"}), "grpc_NOT_FOUND"},
		{"its own class wins over what it wraps", fmt.Errorf("%w: %w", classedError{"grpc_UNAVAILABLE"}, syscall.ECONNREFUSED), "grpc_UNAVAILABLE"},
		{"an empty class is no class", fmt.Errorf("%w: %w", classedError{""}, syscall.ECONNREFUSED), ClassRefused},
		{"a panic is a panic", fmt.Errorf("%w: %w", &PanicError{Value: 1}, classedError{"x"}), ClassPanic},
		{"plain errors as before", &StatusError{Code: 503}, ClassHTTP},
		{"nil", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Classify(tc.err), "Classify(%v)", tc.err)
		})
	}
}

// TestNamesEndToEnd: a task that makes two named requests and records a
// measurement of its own has a row for each, as well as its own, with
// their counts and failures, in the result and in the files it was
// written to, which read back exactly; a threshold may name such a row.
func TestNamesEndToEnd(t *testing.T) {
	var carts atomic.Int64
	srv, _ := countingServer(t, 0, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		switch {
		case r.URL.Path == "/cart" && carts.Add(1)%10 == 0: // one in ten: the abort guard stops a run past 20 %
			w.WriteHeader(http.StatusServiceUnavailable)
		case r.URL.Path == "/cart":
			w.WriteHeader(http.StatusCreated)
		default:
			w.Write([]byte("item"))
		}
	})
	var tasks, cartFails, queueFails atomic.Int64
	checkout := func(ctx context.Context, u *User) error {
		defer tasks.Add(1)
		if _, err := u.Do(ctx, Request{Path: fmt.Sprintf("/items/%d", u.Rand.IntN(100)), Name: "GET /items/{id}"}); err != nil {
			return err
		}
		_, err := u.Do(ctx, Request{Method: http.MethodPost, Path: "/cart", Body: []byte("1"), Expect: []int{http.StatusCreated}, Name: "POST /cart"})
		if err != nil {
			cartFails.Add(1)
		}
		var qerr error
		if u.Rand.IntN(4) == 0 {
			qerr = classedError{"queue_lost"}
			queueFails.Add(1)
		}
		u.Record("queue delay", 3*time.Millisecond, qerr)
		return err
	}
	sc := Scenario{
		// The closed model, which has no schedule to miss on a busy machine.
		Host: srv.URL, Users: 3, SpawnRate: 30, Wait: Constant(30 * time.Millisecond),
		Duration: 2 * time.Second, Seed: 7, MaxFailureRatio: -1,
		Tasks:      []Task{{Name: "checkout", Do: checkout}},
		Thresholds: []string{"POST /cart: failures < 50%", "queue delay: p99 < 1s", "queue delay: failures < 1%"},
	}
	out := t.TempDir()
	fs := newFlagSet()
	fl, ps := newFlags(fs), parts{limits: newLimitFlags(fs)}
	require.NoError(t, fs.Parse([]string{"-loadtest.out=" + out}))
	tb := newCaptureTB(t)
	res := resultOf(runWith(tb, sc, runOptions{flags: fl, parts: ps}))
	require.NotNil(t, res)
	require.Len(t, tb.errs, 1, "the run's failures: the threshold missed")
	assert.Contains(t, tb.errs[0], `threshold "queue delay: failures < 1%" missed: failures of task "queue delay" was`)
	n := tasks.Load()
	require.Greater(t, n, int64(10), "tasks run")

	want := []struct {
		key         string
		requests    int64
		failures    int64
		class       string
		contentSize int64
	}{
		{"POST /cart", n, cartFails.Load(), ClassHTTP, 0},
		{"GET /items/{id}", n, 0, "", 4 * n},
		{"checkout", n, cartFails.Load(), ClassHTTP, 4 * n},
		{"queue delay", n, queueFails.Load(), "queue_lost", 0},
	}
	require.Len(t, res.Tasks, len(want), "rows")
	for i, w := range want {
		tk := res.Tasks[i]
		assert.Equal(t, w.key, tk.Key(), "row %d", i)
		assert.Equal(t, w.requests, tk.Requests, "%s: requests", w.key)
		assert.Equal(t, w.failures, tk.Failures, "%s: failures", w.key)
		assert.Equal(t, w.contentSize, tk.ContentBytes, "%s: bytes", w.key)
		if w.failures > 0 {
			var classes []string
			for _, f := range res.Failures {
				if f.Type == tk.Type && f.Name == tk.Name {
					classes = append(classes, f.Class)
				}
			}
			assert.Equal(t, []string{w.class}, classes, "%s: failure classes", w.key)
		}
	}
	assert.Greater(t, cartFails.Load(), int64(0), "some carts failed")
	assert.Greater(t, queueFails.Load(), int64(0), "some queue measurements failed")
	if q := task(res, "queue delay"); assert.NotNil(t, q) {
		assert.InDelta(t, 3000, q.Latency.ValueAtQuantile(50), 3, "queue delay: p50 µs, as recorded")
	}
	assert.Equal(t, 4*n, res.Total.Requests, "the aggregate sums every row")

	var named int64
	for _, w := range res.Windows {
		if w.Name == "queue delay" {
			named += w.Requests
		}
	}
	assert.Equal(t, n, named, "queue delay: its windows' requests")

	back, err := runfiles.Read(out, result.FileBase(t.Name()))
	require.NoError(t, err, "the results folder reads back")
	require.Len(t, back.Tasks, len(res.Tasks))
	for i, tk := range back.Tasks {
		assert.Equal(t, res.Tasks[i].Key(), tk.Key(), "read back: row %d", i)
		assert.Equal(t, res.Tasks[i].Requests, tk.Requests, "read back: %s: requests", tk.Key())
		assert.Equal(t, res.Tasks[i].Failures, tk.Failures, "read back: %s: failures", tk.Key())
	}
	held := strings.Join(tb.logs, "\n")
	assert.Contains(t, held, "thresholds held: POST /cart: failures < 50%")
	assert.Contains(t, held, "queue delay: p99 < 1s: 3 ms")
}

// TestNameRefused: a measurement named after a task fails the run, said
// once however often it comes, and is not recorded; the task goes on.
func TestNameRefused(t *testing.T) {
	target := &fakeTarget{}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.MaxFailureRatio = 10, 2*time.Second, -1
	sc.Tasks = []Task{{Name: "GET /a", Do: func(ctx context.Context, u *User) error {
		_, err := u.Do(ctx, Request{Path: "/a", Name: "GET  /a"})
		u.Record("", time.Millisecond, nil)
		u.Record("ok", time.Millisecond, errors.New("boom"))
		return err
	}}}
	res, tb, _ := runFake(t, sc)
	require.NotNil(t, res)
	require.Len(t, tb.errs, 2, "one error per refused name: %q", tb.errs)
	assert.Contains(t, tb.errs[0]+tb.errs[1], `named "GET  /a", which is the name of a task`)
	assert.Contains(t, tb.errs[0]+tb.errs[1], `named "", which is the name of a task`)
	require.Len(t, res.Tasks, 2, "the task and the one name allowed")
	assert.Equal(t, int64(20), task(res, "GET /a").Requests, "the task's requests")
	if ok := task(res, "ok"); assert.NotNil(t, ok) {
		assert.Equal(t, int64(20), ok.Failures, "ok: failures")
	}
}
