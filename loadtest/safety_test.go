package loadtest

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/faultserver"
	"github.com/steadyload/steadyload/internal/secret"
	"github.com/steadyload/steadyload/loadtest/result"
)

// runSafeIn runs sc against real loopback servers with the guard rails
// installed, on a flag set of its own holding args, its results in out.
func runSafeIn(t *testing.T, tb testing.TB, out string, sc Scenario, args ...string) *result.Run {
	t.Helper()
	fs := newFlagSet()
	fl, sf := newFlags(fs), newSafetyFlags(fs)
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out}, args...)))
	return resultOf(runWith(tb, sc, runOptions{flags: fl, parts: parts{safety: sf}}))
}

// runGuarded is runSafeIn with a capturing TB and a temporary folder.
func runGuarded(t *testing.T, sc Scenario, args ...string) (*result.Run, *captureTB, string) {
	t.Helper()
	out := t.TempDir()
	tb := newCaptureTB(t)
	res := runSafeIn(t, tb, out, sc, args...)
	return res, tb, out
}

// runGuardedFake is runGuarded in a synctest bubble, against sc's own
// (fake) transport: time is fake, so a run of minutes takes none.
func runGuardedFake(t *testing.T, sc Scenario, args ...string) (*result.Run, *captureTB) {
	t.Helper()
	return runFakeParts(t, sc, func(fs *flag.FlagSet) parts { return parts{safety: newSafetyFlags(fs)} }, args...)
}

// runFakeParts runs sc in a synctest bubble against its fake transport,
// with the parts made by with on a flag set of its own holding args, its
// results in a temporary folder.
func runFakeParts(t *testing.T, sc Scenario, with func(*flag.FlagSet) parts, args ...string) (*result.Run, *captureTB) {
	t.Helper()
	out := t.TempDir()
	var res *result.Run
	var tb *captureTB
	synctest.Test(t, func(t *testing.T) {
		fs := newFlagSet()
		fl, ps := newFlags(fs), with(fs)
		require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out}, args...)))
		tb = newCaptureTB(t)
		res = resultOf(runWith(tb, sc, runOptions{flags: fl, parts: ps}))
	})
	return res, tb
}

// failPattern answers every request at once, HTTP 500 for request n
// (counted from 0) when fail(n), else 200.
func failPattern(fail func(n int64) bool) http.RoundTripper {
	var count atomic.Int64
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		status := http.StatusOK
		if fail(count.Add(1) - 1) {
			status = http.StatusInternalServerError
		}
		return &http.Response{StatusCode: status, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
	})
}

// thirtyPercent fails 3 requests in every 10, spread out so that any 10
// (and any 20) requests in a row hold exactly 30 % failures.
func thirtyPercent(n int64) bool { return n%10 == 0 || n%10 == 3 || n%10 == 6 }

// guardNotes returns the log lines in which the guard says it could not
// judge the target.
func guardNotes(tb *captureTB) []string {
	var notes []string
	for _, l := range strings.Split(tb.logText(), "\n") {
		if strings.Contains(l, "abort guard:") {
			notes = append(notes, l)
		}
	}
	return notes
}

func startFault(t *testing.T, cfg faultserver.Config) *faultserver.Server {
	t.Helper()
	s, err := faultserver.Start(cfg)
	require.NoError(t, err, "faultserver.Start")
	t.Cleanup(func() { s.Close() })
	return s
}

// readMeta reads a test's meta file from dir.
func readMeta(t *testing.T, dir, test string) result.Meta {
	t.Helper()
	path := result.MetaFile(dir, test)
	f, err := os.Open(path)
	require.NoError(t, err, "meta file")
	defer f.Close()
	m, err := result.ReadMeta(path, f)
	require.NoError(t, err, "meta file")
	return m
}

// TestCeiling: a load above the ceiling refuses to start, before any
// request, unless the high load is allowed.
func TestCeiling(t *testing.T) {
	srv := startFault(t, faultserver.Config{})
	ok := []Task{getTask("GET /x", "/x", 1)}
	tests := []struct {
		name string
		sc   Scenario
		args []string
		want string // in the message; empty: the run goes ahead
	}{
		{"rate above", Scenario{Rate: 60, Tasks: ok}, nil, "rate 60/s is above the ceiling of 50/s: pass -loadtest.allow-high-load"},
		{"rate flag above", Scenario{Rate: 5, Tasks: ok}, []string{"-loadtest.rate=51"}, "above the ceiling of 50/s"},
		{"users above", Scenario{Users: 51, Wait: Constant(time.Second), Tasks: ok}, nil, "51 users is above the ceiling of 50: pass -loadtest.allow-high-load"},
		{"lower ceiling", Scenario{Rate: 10, Tasks: ok}, []string{"-loadtest.max-rate=5"}, "rate 10/s is above the ceiling of 5/s"},
		{"lower user ceiling", Scenario{Users: 3, Wait: Constant(time.Second), Tasks: ok}, []string{"-loadtest.max-users=2"}, "3 users is above the ceiling of 2"},
		{"bad ceiling", Scenario{Rate: 1, Tasks: ok}, []string{"-loadtest.max-rate=0", "-loadtest.max-users=-1"}, "-loadtest.max-rate=0: must be positive"},
		{"allowed", Scenario{Rate: 60, Tasks: ok}, []string{"-loadtest.allow-high-load"}, ""},
		{"at the ceiling", Scenario{Rate: 50, Tasks: ok}, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests()
			tt.sc.Host, tt.sc.Duration = srv.URL(), 200*time.Millisecond
			tt.sc.Guard.MinRequests, tt.sc.MaxLateRatio = 1, 0.5
			res, tb, _ := runGuarded(t, tt.sc, tt.args...)
			msg := tb.messages()
			sent := srv.Requests() - before
			if tt.want == "" {
				assert.Empty(t, msg, "messages; want a normal run")
				assert.NotNil(t, res, "Run's result; want a normal run")
				assert.NotZero(t, sent, "requests sent; want a normal run")
				return
			}
			assert.Contains(t, msg, tt.want, "messages")
			assert.Contains(t, msg, "no request sent", "messages; want them to say no request was sent")
			assert.Nil(t, res, "Run's result; want no run")
			assert.Zero(t, sent, "requests the server saw; want no run")
		})
	}
}

// TestGuardSettings: bad guard, back-off and auth settings fail before any
// request, each named.
func TestGuardSettings(t *testing.T) {
	srv := startFault(t, faultserver.Config{})
	ok := []Task{getTask("GET /x", "/x", 1)}
	tests := []struct {
		name string
		sc   Scenario
		args []string
		want []string
	}{
		{"flags", Scenario{Rate: 1, Tasks: ok}, []string{"-loadtest.abort-failure-ratio=1.5", "-loadtest.abort-p95=-1s", "-loadtest.abort-span=0s", "-loadtest.abort-min-requests=0", "-loadtest.max-backoff=0s"},
			[]string{"-loadtest.abort-failure-ratio=1.5", "-loadtest.abort-p95=-1s", "-loadtest.abort-span=0s", "-loadtest.abort-min-requests=0", "-loadtest.max-backoff=0s"}},
		{"fields", Scenario{Rate: 1, Tasks: ok, Guard: Guard{MaxP95: -time.Second}, MaxBackoff: -1}, nil,
			[]string{"Guard.MaxP95 -1s is negative", "MaxBackoff -1ns is negative"}},
		{"auth without source", Scenario{Rate: 1, Tasks: ok}, []string{"-loadtest.auth-header=X-Api-Key"}, []string{`auth header "X-Api-Key" has no source`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests()
			tt.sc.Host = srv.URL()
			_, tb, _ := runGuarded(t, tt.sc, tt.args...)
			msg := tb.messages()
			for _, w := range append(tt.want, "no request sent") {
				assert.Contains(t, msg, w, "messages")
			}
			assert.Zero(t, srv.Requests()-before, "requests the server saw")
		})
	}
}

// TestAbortGuard: the target turns bad mid-run; the guard stops all load
// within one window of it, as the server's own count of bad requests
// proves, writes the results marked aborted and fails naming the figures.
func TestAbortGuard(t *testing.T) {
	const (
		rate   = 40.0
		window = time.Second
	)
	tests := []struct {
		name  string
		turn  func(*faultserver.Server)
		count func(*faultserver.Server) int64 // requests the server saw after turning bad
		guard Guard
		want  []string
	}{
		{"failures", func(s *faultserver.Server) { s.Set(faultserver.Status500) },
			func(s *faultserver.Server) int64 { return s.Count(faultserver.Status500) }, Guard{},
			[]string{"aborted to protect the target:", "requests failed (", "% > 20%)", "the target answered HTTP 500", "all load stopped"}},
		{"latency", func(s *faultserver.Server) {
			s.Set(faultserver.None)
			s.SetLatency(150 * time.Millisecond)
		},
			nil, Guard{MaxP95: 50 * time.Millisecond},
			[]string{"aborted to protect the target: p95 ", "> 50ms over"}},
		{"resets", func(s *faultserver.Server) { s.Set(faultserver.Reset) },
			func(s *faultserver.Server) int64 { return s.Count(faultserver.Reset) }, Guard{},
			[]string{"aborted to protect the target:", "connections reset or answers cut short"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFault(t, faultserver.Config{})
			var turned time.Time
			var before int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				time.Sleep(1500 * time.Millisecond)
				before = srv.Requests()
				turned = time.Now()
				tt.turn(srv)
			}()
			start := time.Now()
			res, tb, out := runGuarded(t, Scenario{
				Host: srv.URL(), Rate: rate, Duration: 20 * time.Second, Window: window, Grace: time.Second,
				Tasks: []Task{getTask("GET /x", "/x", 1)}, Guard: tt.guard,
				MaxLateRatio: 0.5, // a busy machine's late starts are not what this tests
			})
			<-done
			took := time.Since(start)
			after := srv.Requests() - before
			if tt.count != nil {
				after = tt.count(srv)
			}
			t.Logf("server saw %d requests after turning bad; run took %s", after, took.Round(time.Millisecond))
			// Within one window of turning bad: at most rate × window
			// requests (and the few in flight when the load stopped).
			assert.LessOrEqual(t, after, int64(rate*window.Seconds())+5, "requests the server saw after turning bad; want at most one window at %g/s", rate)
			assert.LessOrEqual(t, took, 10*time.Second, "run took; want it stopped soon after the target turned bad at %s", turned.Sub(start).Round(time.Millisecond))
			msg := tb.messages()
			t.Log(msg)
			for _, w := range tt.want {
				assert.Contains(t, msg, w, "messages")
			}
			require.NotNil(t, res, "Run's result; want status aborted")
			require.Equal(t, result.Aborted, res.Meta.Status, "result status (meta %+v)", res.Meta)
			m := readMeta(t, out, t.Name())
			assert.Equal(t, result.Aborted, m.Status, "meta file: status")
			assert.True(t, strings.HasPrefix(m.Reason, "aborted to protect the target:"), "meta file: reason %q; want the guard's", m.Reason)
			stats, _, _ := result.Files(out, t.Name())
			assert.FileExists(t, stats, "stats file")
		})
	}
}

// TestAbortGuardHealthyTarget: a healthy target is never aborted, and a
// run the guard judged passes.
func TestAbortGuardHealthyTarget(t *testing.T) {
	srv := startFault(t, faultserver.Config{Latency: 2 * time.Millisecond})
	res, tb, _ := runGuarded(t, Scenario{
		Host: srv.URL(), Rate: 40, Duration: 2 * time.Second, Window: 500 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)}, Guard: Guard{MaxP95: 500 * time.Millisecond},
		MaxLateRatio: 0.5,
	})
	assert.Empty(t, tb.messages(), "messages; want a passing run")
	assert.Equal(t, result.Complete, res.Meta.Status, "result status")
}

// TestAbortGuardTooLittleData: a run too thin for a verdict is not failed
// by the guard, which says so once; a target that failed every request of
// it still fails the test, through the failure ratio.
func TestAbortGuardTooLittleData(t *testing.T) {
	tests := []struct {
		name  string
		fault faultserver.Fault
		want  string // in the messages; empty: the test passes
	}{
		{"healthy", faultserver.None, ""},
		{"failing", faultserver.Status500, `task "GET /x": 4 of 4 requests failed (100.0% > 1%)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFault(t, faultserver.Config{Fault: tt.fault})
			res, tb, _ := runGuarded(t, Scenario{
				Host: srv.URL(), Rate: 4, Duration: time.Second, Window: 500 * time.Millisecond,
				Tasks: []Task{getTask("GET /x", "/x", 1)}, MaxLateRatio: 0.5,
			})
			if tt.want == "" {
				assert.Empty(t, tb.messages(), "messages; want the test to pass")
			} else {
				assert.Contains(t, tb.messages(), tt.want, "messages")
			}
			require.NotNil(t, res, "Run's result; want a complete run")
			require.Equal(t, result.Complete, res.Meta.Status, "result status (meta %+v)", res.Meta)
			const note = "loadtest: abort guard: could not judge the target: 4 requests finished in the whole run and a verdict needs 20 (-loadtest.abort-min-requests); the failure ratio check still applies"
			assert.Equal(t, []string{note}, guardNotes(tb), "guard notes")
		})
	}
}

// TestAbortGuardShortWindow: a short window does not keep the guard from
// judging a modest rate against a real server on loopback: 5 requests a
// second, 30 % of them failing, are stopped once 20 have finished.
func TestAbortGuardShortWindow(t *testing.T) {
	var count atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if thirtyPercent(count.Add(1) - 1) {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	start := time.Now()
	res, tb, _ := runGuarded(t, Scenario{
		Host: srv.URL, Rate: 5, Duration: 20 * time.Second, MaxLateRatio: 0.5,
		Tasks: []Task{getTask("GET /x", "/x", 1)},
	}, "-loadtest.window=200ms")
	took := time.Since(start)
	require.NotNil(t, res, "Run's result, messages %q; want status aborted", tb.messages())
	require.Equal(t, result.Aborted, res.Meta.Status, "result status (meta %+v), messages %q", res.Meta, tb.messages())
	assert.Contains(t, tb.messages(), "aborted to protect the target: 6 of 20 requests failed (30% > 20%) between ", "messages; want the guard's verdict on the last 20 requests")
	assert.LessOrEqual(t, count.Load(), int64(25), "requests the server saw in %s; want the load stopped once 20 had finished", took.Round(time.Millisecond))
	assert.LessOrEqual(t, took, 10*time.Second, "run took; want the load stopped once 20 had finished")
}

// TestAbortGuardOff: with the guard off the run goes the whole way and the
// message still says what the target did.
func TestAbortGuardOff(t *testing.T) {
	srv := startFault(t, faultserver.Config{Fault: faultserver.Status500})
	res, tb, _ := runGuarded(t, Scenario{
		Host: srv.URL(), Rate: 20, Duration: time.Second, Window: 200 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)},
	}, "-loadtest.abort=false")
	assert.Equal(t, result.Complete, res.Meta.Status, "result status")
	assert.Equal(t, int64(20), srv.Requests(), "requests the server saw")
	assert.Contains(t, tb.messages(), `what happened: 20 of 20 requests failed, most with "HTTP 500": the target answered HTTP 500`, "messages; want what happened")
}

// TestOutputLock: a second run of the same test into the same folder
// refuses to start while the first holds it; runs one after the other in
// one test are fine.
func TestOutputLock(t *testing.T) {
	srv := startFault(t, faultserver.Config{})
	sc := Scenario{Host: srv.URL(), Rate: 20, Duration: 200 * time.Millisecond, Tasks: []Task{getTask("GET /x", "/x", 1)}, Guard: Guard{MinRequests: 1}}
	out := t.TempDir()
	for i := range 2 {
		tb := newCaptureTB(t)
		runSafeIn(t, tb, out, sc)
		require.Empty(t, tb.messages(), "run %d", i)
	}
	// Another holder (another process, as far as this one can tell).
	unlock, err := atomicfile.Lock(filepath.Join(out, "."+result.FileBase("TestOutputLock/other")+".lock"))
	require.NoError(t, err, "atomicfile.Lock")
	defer unlock()
	t.Run("other", func(t *testing.T) {
		before := srv.Requests()
		tb := newCaptureTB(t)
		runSafeIn(t, tb, out, sc)
		assert.Contains(t, tb.messages(), "another run of TestOutputLock/other is writing to "+out, "messages; want them to name the other run")
		assert.Zero(t, srv.Requests()-before, "requests the server saw")
	})
}

// TestBackoffRealServer: against a throttling server, both models hold
// off as Retry-After asks — the server's own count proves it — and the
// run still ends on time with the pause capped.
func TestBackoffRealServer(t *testing.T) {
	tests := []struct {
		name     string
		sc       Scenario
		ra       string
		args     []string
		min, max int64
		log      string
	}{
		// 2 users, no think time, 2 s: without back-off, thousands.
		{"closed retry-after", Scenario{Users: 2, SpawnRate: 100, Wait: Constant(0)}, "1", nil, 2, 8, "users paused"},
		{"closed capped", Scenario{Users: 2, SpawnRate: 100, Wait: Constant(0)}, "3600", []string{"-loadtest.max-backoff=250ms"}, 6, 24, "cap 250ms"},
		{"closed no header", Scenario{Users: 2, SpawnRate: 100, Wait: Constant(0)}, "", nil, 3, 10, "users paused"},
		{"closed http date", Scenario{Users: 1, Wait: Constant(0)}, time.Now().Add(time.Hour).UTC().Format(http.TimeFormat), []string{"-loadtest.max-backoff=700ms"}, 2, 6, "cap 700ms"},
		// 40/s for 2 s is 80 starts; at most one per second gets through.
		{"open retry-after", Scenario{Rate: 40}, "1", nil, 2, 8, "starts skipped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startFault(t, faultserver.Config{Fault: faultserver.Throttle, RetryAfter: tt.ra})
			sc := tt.sc
			sc.Host, sc.Duration, sc.Grace = srv.URL(), 2*time.Second, 500*time.Millisecond
			sc.Tasks = []Task{getTask("GET /x", "/x", 1)}
			start := time.Now()
			res, tb, _ := runGuarded(t, sc, append([]string{"-loadtest.abort=false"}, tt.args...)...)
			took := time.Since(start)
			n := srv.Requests()
			assert.GreaterOrEqual(t, n, tt.min, "requests the server saw; want %d to %d", tt.min, tt.max)
			assert.LessOrEqual(t, n, tt.max, "requests the server saw; want %d to %d", tt.min, tt.max)
			assert.LessOrEqual(t, took, 5*time.Second, "run took; want about 2s: a back-off never outlasts the run")
			assert.Contains(t, tb.logText(), "the target asked to slow down", "log; want the back-off reported")
			assert.Contains(t, tb.logText(), tt.log, "log; want the back-off reported")
			assert.LessOrEqual(t, res.Meta.Late+res.Meta.Waited, int64(1), "late and waited starts; a back-off is neither the generator's fault nor a slot held")
			assert.NotContains(t, tb.messages(), "the load was not held", "messages; a back-off is not a failure to hold the rate")
			assert.Equal(t, res.Total.Requests, res.Total.Failures, "failures; want every 429 counted as a failure")
			assert.Contains(t, tb.messages(), "HTTP 429", "messages; want every 429 counted as a failure")
		})
	}
}

// TestAbortGuardThinLoads: a load too thin for a verdict passes against a
// healthy target, the guard saying once that it could not judge; a target
// failing every request still fails the test, through the failure ratio;
// and a short window does not keep the guard from judging a modest rate.
// Time is fake: the runs of minutes take none.
func TestAbortGuardThinLoads(t *testing.T) {
	healthy := func() http.RoundTripper { return &fakeTarget{delay: 20 * time.Millisecond} }
	broken := func() http.RoundTripper {
		return &fakeTarget{delay: 20 * time.Millisecond, status: http.StatusInternalServerError}
	}
	tests := []struct {
		name   string
		sc     Scenario
		target func() http.RoundTripper
		args   []string
		status result.Status
		want   []string // in the messages; none: the test passes
		notes  int      // log lines saying the guard could not judge
		most   int64    // requests at most, when the guard must stop the load
	}{
		{"one user every 5s for 45s", Scenario{Users: 1, Wait: Constant(5 * time.Second), Duration: 45 * time.Second},
			healthy, nil, result.Complete, nil, 1, 0},
		{"smoke run of 10s, a request every 2s", Scenario{Rate: 0.5, Duration: 10 * time.Second},
			healthy, nil, result.Complete, nil, 1, 0},
		{"a request a minute for 5m", Scenario{Rate: 1.0 / 60, Duration: 5 * time.Minute},
			healthy, nil, result.Complete, nil, 1, 0},
		{"a request a minute for 5m, all failing", Scenario{Rate: 1.0 / 60, Duration: 5 * time.Minute},
			broken, nil, "", []string{`task "GET /a": 5 of 5 requests failed (100.0% > 1%)`}, -1, 0},
		{"one user every 5s for 2m", Scenario{Users: 1, Wait: Constant(5 * time.Second), Duration: 2 * time.Minute},
			healthy, nil, result.Complete, nil, 0, 0},
		{"5/s, window 200ms, 30% failing", Scenario{Rate: 5, Duration: time.Minute},
			func() http.RoundTripper { return failPattern(thirtyPercent) }, []string{"-loadtest.window=200ms"}, result.Aborted,
			[]string{"aborted to protect the target: 6 of 20 requests failed (30% > 20%)", "the target answered HTTP 500"}, 0, 25},
		{"5/s, window 200ms, 10% failing", Scenario{Rate: 5, Duration: 10 * time.Second, MaxFailureRatio: 0.2},
			func() http.RoundTripper { return failPattern(func(n int64) bool { return n%10 == 0 }) }, []string{"-loadtest.window=200ms"}, result.Complete,
			nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := tt.sc
			sc.Host, sc.Transport, sc.Seed = "http://target.test", tt.target(), 1
			sc.Tasks = []Task{getTask("GET /a", "/a", 1)}
			res, tb := runGuardedFake(t, sc, tt.args...)
			require.NotNil(t, res, "no run: %s", tb.messages())
			msg := tb.messages()
			if len(tt.want) == 0 {
				assert.Empty(t, msg, "messages; want the test to pass")
			}
			for _, w := range tt.want {
				assert.Contains(t, msg, w, "messages")
			}
			if tt.status != "" {
				assert.Equal(t, tt.status, res.Meta.Status, "result status (%s)", res.Meta.Reason)
			}
			if tt.notes >= 0 {
				assert.Len(t, guardNotes(tb), tt.notes, "guard notes")
			}
			if tt.most > 0 {
				assert.LessOrEqual(t, res.Total.Requests, tt.most, "requests made; want the guard to stop the load")
			}
		})
	}
}

// headerServer records one header of every request it gets.
type headerServer struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	seen []string
}

func newHeaderServer(t *testing.T, name string, h http.HandlerFunc) *headerServer {
	s := &headerServer{name: name}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Header.Get(name))
		s.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *headerServer) values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// TestSecretNeverLeaks: a token from the environment or a file reaches the
// target on every request, never another host, and appears in no file
// written, no log line and no message — even when the target echoes it
// into an error the task returns, or 8 of its characters into a body that
// a check message quotes.
func TestSecretNeverLeaks(t *testing.T) {
	const token = "s3cr3t-T0KEN-value-42"
	tests := []struct {
		name   string
		header string // as the target sees it
		value  string
		args   func(t *testing.T) []string
	}{
		{"env", "Authorization", "Bearer " + token, func(t *testing.T) []string {
			t.Setenv("STEADYLOAD_TEST_TOKEN", "Bearer "+token)
			return []string{"-loadtest.auth-header-env=STEADYLOAD_TEST_TOKEN"}
		}},
		{"file", "X-Api-Key", token, func(t *testing.T) []string {
			path := filepath.Join(t.TempDir(), "key")
			os.WriteFile(path, []byte(token+"\n"), 0o600)
			return []string{"-loadtest.auth-file=" + path, "-loadtest.auth-header=X-Api-Key"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := newHeaderServer(t, tt.header, nil)
			target := newHeaderServer(t, tt.header, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/echo": // a careless server quoting the request back
					http.Error(w, "bad key "+r.Header.Get(tt.header), http.StatusInternalServerError)
				case "/whoami": // a careless server quoting part of it
					v := r.Header.Get(tt.header)
					fmt.Fprintf(w, `{"token":"%s…"}`, v[strings.LastIndexByte(v, ' ')+1:][:8])
				case "/away":
					http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
				default:
					io.WriteString(w, "ok")
				}
			})
			echo := Task{Name: "GET /echo", Do: func(ctx context.Context, u *User) error {
				resp, err := u.Get(ctx, "/echo")
				if err != nil && resp != nil {
					return fmt.Errorf("server said %q", resp.Body) // its own words, not the status
				}
				return err
			}}
			whoami := Task{Name: "GET /whoami", Do: func(ctx context.Context, u *User) error {
				_, err := u.Do(ctx, Request{Path: "/whoami", Check: func(r *Response) error {
					return fmt.Errorf("unexpected body %s", r.Body)
				}})
				return err
			}}
			res, tb, out := runGuarded(t, Scenario{
				Host: target.URL, Rate: 30, Duration: 600 * time.Millisecond, MaxFailureRatio: -1, MaxLateRatio: 0.5,
				Tasks: []Task{echo, whoami, getTask("GET /away", "/away", 1), getTask("GET /ok", "/ok", 1)},
			}, append(tt.args(t), "-loadtest.abort=false")...)
			require.NotNil(t, res, "no run: %s", tb.messages())
			seen := target.values()
			for i, v := range seen {
				require.Equal(t, tt.value, v, "target request %d: %s; want the secret", i, tt.header)
			}
			require.NotEmpty(t, seen, "requests the target saw")
			assert.Empty(t, other.values(), "requests another host saw")
			assert.NotContains(t, tb.logText()+"\n"+tb.messages(), token[:8], "the log and messages; want no part of the secret")
			found := false
			filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, _ := os.ReadFile(path)
				assert.NotContains(t, string(b), token[:8], "%s; want no part of the secret", path)
				found = found || strings.Contains(string(b), secret.Redacted)
				return nil
			})
			assert.True(t, found, "no file shows %s where the echoed secret was", secret.Redacted)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSecretErrors: a missing or malformed secret fails before any
// request, saying where it looked, never what it found.
func TestSecretErrors(t *testing.T) {
	const value = "hunter2-hunter2"
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	t.Setenv("STEADYLOAD_EMPTY", "")
	t.Setenv("STEADYLOAD_TWO_LINES", value+"\n"+value)
	tests := []struct {
		args []string
		sc   Auth
		want string
	}{
		{[]string{"-loadtest.auth-header-env=STEADYLOAD_UNSET_VAR"}, Auth{}, "environment variable STEADYLOAD_UNSET_VAR is not set"},
		{[]string{"-loadtest.auth-header-env=STEADYLOAD_EMPTY"}, Auth{}, "environment variable STEADYLOAD_EMPTY is empty"},
		{[]string{"-loadtest.auth-header-env=STEADYLOAD_TWO_LINES"}, Auth{}, "holds several lines"},
		{[]string{"-loadtest.auth-file=" + filepath.Join(dir, "missing")}, Auth{}, "read " + filepath.Join(dir, "missing") + ": no such file"},
		{[]string{"-loadtest.auth-file=" + write("blank", "\n")}, Auth{}, "is empty"},
		{[]string{"-loadtest.auth-file=" + write("lines", value+"\n"+value+"\n")}, Auth{}, "holds several lines"},
		{nil, Auth{Env: "STEADYLOAD_EMPTY", File: "x"}, "pick one"},
		{[]string{"-loadtest.auth-header=Bad Name", "-loadtest.auth-file=" + write("ok", value)}, Auth{}, `auth header name "Bad Name" is not a valid`},
	}
	srv := newHeaderServer(t, "Authorization", nil)
	for _, tt := range tests {
		_, tb, _ := runGuarded(t, Scenario{Host: srv.URL, Rate: 1, Tasks: []Task{getTask("GET /x", "/x", 1)}, Auth: tt.sc}, tt.args...)
		msg := tb.messages()
		assert.Contains(t, msg, tt.want, "args %q: messages", tt.args)
		assert.Contains(t, msg, "no request sent", "args %q: messages; want the failure before any request", tt.args)
		assert.NotContains(t, msg, "hunter2", "args %q: messages show the secret", tt.args)
	}
	assert.Empty(t, srv.values(), "requests the server saw")
}
