package loadtest

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadyload/steadyload/internal/faultserver"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestFaultsSurvived runs a short load against a target failing in each
// way the harness must survive. In each: the run ends on time, failures
// are classified and counted, the four result files are written, no
// goroutine or connection is left behind, and the message says what the
// target did.
func TestFaultsSurvived(t *testing.T) {
	const (
		duration = 1500 * time.Millisecond
		grace    = 500 * time.Millisecond
	)
	tests := []struct {
		name   string
		cfg    faultserver.Config // the server's setup; unused with host
		host   string             // a target without a server
		during func(*faultserver.Server)
		sc     Scenario
		args   []string
		class  string   // the failures' class
		want   []string // in the message
	}{
		{name: "refused from the start", host: "closed", class: ClassRefused,
			want: []string{"aborted to protect the target", "connection refused: nothing listens at 127.0.0.1:"}},
		{name: "server dies mid-run", during: func(s *faultserver.Server) { time.Sleep(600 * time.Millisecond); s.Kill() }, class: ClassRefused,
			want: []string{"aborted to protect the target", "connection refused"}},
		{name: "connection resets", cfg: faultserver.Config{Fault: faultserver.Reset}, class: ClassReset,
			want: []string{"aborted to protect the target", "connections reset or answers cut short"}},
		{name: "connection closed", cfg: faultserver.Config{Fault: faultserver.Close}, class: ClassReset,
			want: []string{"aborted to protect the target", "EOF"}},
		{name: "never answers, task timeout", cfg: faultserver.Config{Fault: faultserver.Hang}, sc: Scenario{Timeout: 200 * time.Millisecond}, class: ClassTimeout,
			want: []string{"aborted to protect the target", "requests timed out", "did not answer in time"}},
		{name: "never answers, run ends at duration+grace", cfg: faultserver.Config{Fault: faultserver.Hang}, sc: Scenario{Timeout: time.Hour},
			args: []string{"-loadtest.abort=false"}, class: ClassStopped,
			want: []string{"what happened", "accepted them but never answered"}},
		{name: "slow body", cfg: faultserver.Config{Fault: faultserver.SlowBody, SlowBody: 5 * time.Second}, sc: Scenario{Timeout: 300 * time.Millisecond}, class: ClassTimeout,
			want: []string{"aborted to protect the target", "requests timed out"}},
		{name: "garbage", cfg: faultserver.Config{Fault: faultserver.Garbage}, class: ClassOther,
			want: []string{"aborted to protect the target", "malformed HTTP"}},
		{name: "truncated", cfg: faultserver.Config{Fault: faultserver.Truncated}, class: ClassReset,
			want: []string{"aborted to protect the target", "unexpected EOF"}},
		{name: "TLS handshake failure", cfg: faultserver.Config{TLS: true}, class: ClassTLS,
			want: []string{"aborted to protect the target", "TLS handshake with 127.0.0.1:", "certificate"}},
		{name: "DNS failure", host: "http://no-such-host.invalid", class: ClassDNS,
			want: []string{"aborted to protect the target", "the host name of no-such-host.invalid does not resolve"}},
		{name: "5xx burst", during: func(s *faultserver.Server) {
			time.Sleep(400 * time.Millisecond)
			s.Set(faultserver.Status500)
			time.Sleep(400 * time.Millisecond)
			s.Set(faultserver.None)
		}, class: ClassHTTP, want: []string{"HTTP 500"}},
		{name: "per-task timeout", cfg: faultserver.Config{Latency: 300 * time.Millisecond},
			sc: Scenario{Tasks: []Task{{Name: "GET /x", Timeout: 100 * time.Millisecond, Do: getTask("", "/x", 1).Do}}}, class: ClassTimeout,
			want: []string{"aborted to protect the target", "requests timed out (GET: "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			var srv *faultserver.Server
			host := tt.host
			if host == "" || host == "closed" {
				if host == "closed" {
					var err error
					host, err = faultserver.ClosedURL()
					require.NoError(t, err, "faultserver.ClosedURL")
				} else {
					var err error
					srv, err = faultserver.Start(tt.cfg)
					require.NoError(t, err, "faultserver.Start")
					defer srv.Close()
					host = srv.URL()
				}
			}
			sc := tt.sc
			sc.Host, sc.Rate, sc.Duration, sc.Grace, sc.Window = host, 30, duration, grace, 500*time.Millisecond
			sc.MaxLateRatio = 0.5 // a busy machine's late starts are not what this tests
			if sc.Tasks == nil {
				sc.Tasks = []Task{getTask("GET /x", "/x", 1)}
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				if tt.during != nil && srv != nil {
					tt.during(srv)
				}
			}()
			start := time.Now()
			res, tb, out := runGuarded(t, sc, tt.args...)
			took := time.Since(start)
			<-done

			// A bound on the run's end, not a speed check: the grace is
			// the promise; the slack covers a busy machine.
			assert.LessOrEqual(t, took, duration+grace+3*time.Second, "run took; want it over by duration + grace (%s) and a little", duration+grace)
			require.NotNil(t, res, "no result; messages: %s", tb.messages())
			var n int64
			for _, f := range res.Failures {
				if f.Class == tt.class {
					n += f.Occurrences
				}
			}
			assert.NotZero(t, n, "failures of class %q; failures: %+v", tt.class, res.Failures)
			msg := tb.messages()
			for _, w := range tt.want {
				assert.Contains(t, msg, w, "messages")
			}
			stats, history, failures := result.Files(out, t.Name())
			for _, f := range []string{stats, history, failures, result.MetaFile(out, t.Name())} {
				if fi, err := os.Stat(f); assert.NoError(t, err, "result file") {
					assert.NotZero(t, fi.Size(), "result file %s: size", f)
				}
			}
			assert.Equal(t, res.Meta.Status, readMeta(t, out, t.Name()).Status, "meta file status")
			if srv != nil {
				for deadline := time.Now().Add(5 * time.Second); srv.OpenConns() > 0; time.Sleep(10 * time.Millisecond) {
					if time.Now().After(deadline) {
						assert.Zero(t, srv.OpenConns(), "connections to the target still open 5s after the run")
						break
					}
				}
				srv.Close()
			}
		})
	}
}
