package loadtest

import (
	"context"
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
	if err := fs.Parse(append([]string{"-loadtest.out=" + out}, args...)); err != nil {
		t.Fatal(err)
	}
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
	out := t.TempDir()
	var res *result.Run
	var tb *captureTB
	synctest.Test(t, func(t *testing.T) {
		fs := newFlagSet()
		fl, sf := newFlags(fs), newSafetyFlags(fs)
		if err := fs.Parse(append([]string{"-loadtest.out=" + out}, args...)); err != nil {
			t.Fatal(err)
		}
		tb = newCaptureTB(t)
		res = resultOf(runWith(tb, sc, runOptions{flags: fl, parts: parts{safety: sf}}))
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
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// readMeta reads a test's meta file from dir.
func readMeta(t *testing.T, dir, test string) result.Meta {
	t.Helper()
	path := result.MetaFile(dir, test)
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("meta file: %v", err)
	}
	defer f.Close()
	m, err := result.ReadMeta(path, f)
	if err != nil {
		t.Fatalf("meta file: %v", err)
	}
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
				if msg != "" || res == nil || sent == 0 {
					t.Errorf("run: %d requests sent, message %q; want a normal run", sent, msg)
				}
				return
			}
			if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "no request sent") {
				t.Errorf("message = %q; want %q and that no request was sent", msg, tt.want)
			}
			if res != nil || sent != 0 {
				t.Errorf("Run returned %v and the server saw %d requests; want no run", res != nil, sent)
			}
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
				if !strings.Contains(msg, w) {
					t.Errorf("message = %q; want %q", msg, w)
				}
			}
			if n := srv.Requests() - before; n != 0 {
				t.Errorf("server saw %d requests; want none", n)
			}
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
			if limit := int64(rate*window.Seconds()) + 5; after > limit {
				t.Errorf("server saw %d requests after turning bad; want at most %d (one window at %g/s)", after, limit, rate)
			}
			if took > 10*time.Second {
				t.Errorf("run took %s; want it stopped soon after the target turned bad at %s", took, turned.Sub(start).Round(time.Millisecond))
			}
			msg := tb.messages()
			t.Log(msg)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message = %q; want %q", msg, w)
				}
			}
			if res == nil || res.Meta.Status != result.Aborted {
				t.Fatalf("result = %+v; want status aborted", res)
			}
			m := readMeta(t, out, t.Name())
			if m.Status != result.Aborted || !strings.HasPrefix(m.Reason, "aborted to protect the target:") {
				t.Errorf("meta file: status %q, reason %q; want aborted with the guard's reason", m.Status, m.Reason)
			}
			stats, _, _ := result.Files(out, t.Name())
			if _, err := os.Stat(stats); err != nil {
				t.Errorf("stats file: %v", err)
			}
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
	if msg := tb.messages(); msg != "" || res.Meta.Status != result.Complete {
		t.Errorf("status %s, message %q; want a complete, passing run", res.Meta.Status, msg)
	}
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
			if msg := tb.messages(); (tt.want == "") != (msg == "") || !strings.Contains(msg, tt.want) {
				t.Errorf("messages = %q; want %q", msg, tt.want)
			}
			if res == nil || res.Meta.Status != result.Complete {
				t.Fatalf("result = %+v; want a complete run", res)
			}
			const note = "loadtest: abort guard: could not judge the target: 4 requests finished in the whole run and a verdict needs 20 (-loadtest.abort-min-requests); the failure ratio check still applies"
			if notes := guardNotes(tb); len(notes) != 1 || notes[0] != note {
				t.Errorf("guard notes = %q; want one: %q", notes, note)
			}
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
	if res == nil || res.Meta.Status != result.Aborted {
		t.Fatalf("result = %+v, messages %q; want status aborted", res, tb.messages())
	}
	if msg := tb.messages(); !strings.Contains(msg, "aborted to protect the target: 6 of 20 requests failed (30% > 20%) between ") {
		t.Errorf("messages = %q; want the guard's verdict on the last 20 requests", msg)
	}
	if n := count.Load(); n > 25 || took > 10*time.Second {
		t.Errorf("server saw %d requests in %s; want the load stopped once 20 had finished", n, took.Round(time.Millisecond))
	}
}

// TestAbortGuardOff: with the guard off the run goes the whole way and the
// message still says what the target did.
func TestAbortGuardOff(t *testing.T) {
	srv := startFault(t, faultserver.Config{Fault: faultserver.Status500})
	res, tb, _ := runGuarded(t, Scenario{
		Host: srv.URL(), Rate: 20, Duration: time.Second, Window: 200 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)},
	}, "-loadtest.abort=false")
	if res.Meta.Status != result.Complete || srv.Requests() != 20 {
		t.Errorf("status %s, %d requests; want a complete run of 20", res.Meta.Status, srv.Requests())
	}
	msg := tb.messages()
	if !strings.Contains(msg, `what happened: 20 of 20 requests failed, most with "HTTP 500": the target answered HTTP 500`) {
		t.Errorf("message = %q; want what happened", msg)
	}
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
		if runSafeIn(t, tb, out, sc); tb.messages() != "" {
			t.Fatalf("run %d: %s", i, tb.messages())
		}
	}
	// Another holder (another process, as far as this one can tell).
	unlock, err := atomicfile.Lock(filepath.Join(out, "."+result.FileBase("TestOutputLock/other")+".lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	t.Run("other", func(t *testing.T) {
		before := srv.Requests()
		tb := newCaptureTB(t)
		runSafeIn(t, tb, out, sc)
		if msg := tb.messages(); !strings.Contains(msg, "another run of TestOutputLock/other is writing to "+out) {
			t.Errorf("message = %q; want it to name the other run", msg)
		}
		if n := srv.Requests() - before; n != 0 {
			t.Errorf("server saw %d requests; want none", n)
		}
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
			if n := srv.Requests(); n < tt.min || n > tt.max {
				t.Errorf("server saw %d requests; want %d to %d", n, tt.min, tt.max)
			}
			if took > 5*time.Second {
				t.Errorf("run took %s; want about 2s: a back-off never outlasts the run", took)
			}
			if !strings.Contains(tb.logText(), "the target asked to slow down") || !strings.Contains(tb.logText(), tt.log) {
				t.Errorf("log = %q; want the back-off reported with %q", tb.logText(), tt.log)
			}
			if res.Meta.Late > 1 || strings.Contains(tb.messages(), "could not hold") {
				t.Errorf("%d late starts, message %q; a back-off is not the generator's fault", res.Meta.Late, tb.messages())
			}
			if res.Total.Failures != res.Total.Requests || !strings.Contains(tb.messages(), "HTTP 429") {
				t.Errorf("%d of %d failed, message %q; want every 429 counted as a failure", res.Total.Failures, res.Total.Requests, tb.messages())
			}
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
			if res == nil {
				t.Fatalf("no run: %s", tb.messages())
			}
			msg := tb.messages()
			if len(tt.want) == 0 && msg != "" {
				t.Errorf("messages = %q; want the test to pass", msg)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("messages = %q; want %q", msg, w)
				}
			}
			if tt.status != "" && res.Meta.Status != tt.status {
				t.Errorf("status %s (%s); want %s", res.Meta.Status, res.Meta.Reason, tt.status)
			}
			if notes := guardNotes(tb); tt.notes >= 0 && len(notes) != tt.notes {
				t.Errorf("guard notes = %q; want %d", notes, tt.notes)
			}
			if tt.most > 0 && res.Total.Requests > tt.most {
				t.Errorf("%d requests made; want the guard to stop the load within %d", res.Total.Requests, tt.most)
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
			if res == nil {
				t.Fatalf("no run: %s", tb.messages())
			}
			seen := target.values()
			for i, v := range seen {
				if v != tt.value {
					t.Fatalf("target request %d carried %s %q; want the secret", i, tt.header, v)
				}
			}
			if len(seen) == 0 {
				t.Fatal("target saw no request")
			}
			if n := len(other.values()); n != 0 {
				t.Errorf("another host saw %d requests; want none", n)
			}
			text := tb.logText() + "\n" + tb.messages()
			if strings.Contains(text, token[:8]) {
				t.Errorf("the secret or a part of it is in the log or messages:\n%s", text)
			}
			found := false
			filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, _ := os.ReadFile(path)
				if strings.Contains(string(b), token[:8]) {
					t.Errorf("%s holds the secret or a part of it", path)
				}
				found = found || strings.Contains(string(b), secret.Redacted)
				return nil
			})
			if !found {
				t.Errorf("no file shows %s where the echoed secret was", secret.Redacted)
			}
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
		if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "no request sent") {
			t.Errorf("args %q: message = %q; want %q before any request", tt.args, msg, tt.want)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("args %q: message shows the secret: %q", tt.args, msg)
		}
	}
	if n := len(srv.values()); n != 0 {
		t.Errorf("server saw %d requests; want none", n)
	}
}
