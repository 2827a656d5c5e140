package loadtest

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/steadyload/steadyload/loadtest/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/internal/faultserver"
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
	return runWith(tb, sc, runOptions{flags: fl, features: []func(*runner) error{safetyInstaller(sf)}})
}

// runGuarded is runSafeIn with a capturing TB and a temporary folder.
func runGuarded(t *testing.T, sc Scenario, args ...string) (*result.Run, *captureTB, string) {
	t.Helper()
	out := t.TempDir()
	tb := newCaptureTB(t)
	res := runSafeIn(t, tb, out, sc, args...)
	return res, tb, out
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

// TestAbortGuardTooLittleData: a run too thin for a verdict is never a
// silent pass.
func TestAbortGuardTooLittleData(t *testing.T) {
	srv := startFault(t, faultserver.Config{})
	_, tb, _ := runGuarded(t, Scenario{
		Host: srv.URL(), Rate: 4, Duration: time.Second, Window: 500 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)},
	})
	msg := tb.messages()
	if !strings.Contains(msg, "abort guard: too little data for a verdict: 4 requests finished in the whole run and it needs 20") {
		t.Errorf("message = %q; want the guard to say it had too little data", msg)
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

// TestRetryAfter: both forms of Retry-After, and what is not one.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"120", 2 * time.Minute, true},
		{"99999999999", 24 * time.Hour, true},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sunday, 01-Mar-26 12:00:07 GMT", 7 * time.Second, true}, // RFC 850
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		d, ok := retryAfter(tt.in, now)
		if d != tt.want || ok != tt.ok {
			t.Errorf("retryAfter(%q) = (%s, %v); want (%s, %v)", tt.in, d, ok, tt.want, tt.ok)
		}
	}
}

// TestBackoffNote: the pause follows Retry-After, doubles without it,
// is capped, and resets after a good answer.
func TestBackoffNote(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := &backoff{max: 5 * time.Second}
	steps := []struct {
		code int
		ra   string
		want time.Duration // pause at t0 after this answer
	}{
		{200, "", 0},
		{503, "", 500 * time.Millisecond},
		{503, "", time.Second},
		{429, "", 2 * time.Second},
		{429, "4", 4 * time.Second},
		{429, "3600", 5 * time.Second}, // capped
		{200, "", 5 * time.Second},     // a good answer does not cut a pause short…
		{503, "", 5 * time.Second},     // …but restarts the doubling (0.5 s < the pause already set)
	}
	for i, s := range steps {
		b.note(s.code, s.ra, t0)
		if got := b.pause(t0); got != s.want {
			t.Errorf("step %d: note(%d, %q); pause = %s; want %s", i, s.code, s.ra, got, s.want)
		}
	}
	if b.throttled != 6 {
		t.Errorf("throttled = %d; want 6", b.throttled)
	}
	if b.streak != 1 {
		t.Errorf("streak = %d after the last answer; want 1 (the good answer before it restarts the doubling)", b.streak)
	}
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

func TestExplain(t *testing.T) {
	for _, c := range []string{ClassHTTP, ClassTimeout, ClassRefused, ClassReset, ClassTLS, ClassDNS, ClassCheck, ClassStopped, ClassOther} {
		if e := explain(c, "the message", "h:1"); e == "" || (c != ClassRefused && c != ClassStopped && !strings.Contains(e, "the message")) {
			t.Errorf("explain(%q) = %q", c, e)
		}
	}
}
