package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/steadyload/steadyload/loadtest/result"
)

// childEnv names the output folder of TestInterruptChild, run only as a
// child process of TestInterruptedBySignal.
const childEnv = "STEADYLOAD_INTERRUPT_CHILD"

// TestInterruptChild is the load TestInterruptedBySignal interrupts: a
// minute of load through the public Run, signals handled as in any test.
func TestInterruptChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Skip("the child process of TestInterruptedBySignal")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	Run(t, Scenario{
		Host: srv.URL, Users: 2, SpawnRate: 100, Wait: Constant(20 * time.Millisecond),
		Duration: time.Minute, Window: 200 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)},
	})
}

// TestInterruptedBySignal re-runs this test binary as a child running a
// minute of load, interrupts it with a real SIGINT or SIGTERM once it has
// measured something, and checks that the load stopped at once, that what
// was measured is written and marked interrupted, and that the test failed
// saying so.
func TestInterruptedBySignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestInterruptChild$", "-test.v", "-test.count=1", "-loadtest.out="+out)
			cmd.Env = append(os.Environ(), childEnv+"="+out)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			var log bytes.Buffer
			progress := make(chan struct{})
			readDone := make(chan struct{})
			go func() {
				defer close(readDone)
				sc := bufio.NewScanner(stdout)
				seen := false
				for sc.Scan() {
					log.WriteString(sc.Text() + "\n")
					if !seen && strings.Contains(sc.Text(), "loadtest: [") { // a window closed
						seen = true
						close(progress)
					}
				}
			}()
			select {
			case <-progress:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				<-readDone
				t.Fatalf("the child showed no progress:\n%s", log.String())
			}
			sent := time.Now()
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { <-readDone; waited <- cmd.Wait() }()
			select {
			case err = <-waited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the child did not stop after %s:\n%s", sig, log.String())
			}
			t.Logf("child stopped %s after %s", time.Since(sent).Round(time.Millisecond), sig)
			if err == nil {
				t.Errorf("the child passed; want an interrupted run to fail the test")
			}
			if !strings.Contains(log.String(), "run interrupted: interrupted by a signal; results written are partial") {
				t.Errorf("child output lacks the interruption:\n%s", log.String())
			}
			m := readMeta(t, out, "TestInterruptChild")
			if m.Status != result.Interrupted || m.Reason != "interrupted by a signal" {
				t.Errorf("meta: status %q, reason %q; want interrupted by a signal", m.Status, m.Reason)
			}
			if m.Elapsed <= 0 || m.Elapsed >= time.Minute {
				t.Errorf("meta: elapsed %s; want the part of the minute before the signal", m.Elapsed)
			}
			stats, _, _ := result.Files(out, "TestInterruptChild")
			b, err := os.ReadFile(stats)
			if err != nil || !strings.Contains(string(b), ",Aggregated,") {
				t.Errorf("stats file: %v; want the measured part written", err)
			}
		})
	}
}

// TestInterruptedByContext: a test context cancelled mid-run stops the
// load; the run is written and marked interrupted.
func TestInterruptedByContext(t *testing.T) {
	srv := startFaultOK(t)
	ctx, cancel := context.WithCancel(t.Context())
	tb := newCaptureTB(t)
	tb.ctx = ctx
	time.AfterFunc(700*time.Millisecond, cancel)
	out := t.TempDir()
	start := time.Now()
	res := runSafeIn(t, tb, out, Scenario{Host: srv, Rate: 20, Duration: time.Minute, Window: 200 * time.Millisecond, Tasks: []Task{getTask("GET /x", "/x", 1)}, MaxLateRatio: 0.5})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %s after a cancel at 700ms", took)
	}
	if res.Meta.Status != result.Interrupted || readMeta(t, out, t.Name()).Status != result.Interrupted {
		t.Errorf("status %q; want interrupted in the result and the meta file", res.Meta.Status)
	}
	if !strings.Contains(tb.messages(), "run interrupted: the test's context was cancelled") {
		t.Errorf("message = %q", tb.messages())
	}
}

// movingDeadlineTB has a far deadline when Run checks it and a near one
// when the load starts: the run meets go test's -timeout mid-way, as
// after a slow stand-in start.
type movingDeadlineTB struct {
	*captureTB
	calls atomic.Int32
	near  time.Time
}

func (m *movingDeadlineTB) Deadline() (time.Time, bool) {
	if m.calls.Add(1) == 1 {
		return time.Now().Add(time.Hour), true
	}
	return m.near, true
}

// TestInterruptedByTimeout: nearing go test's -timeout stops the load
// before it, and the run is written and marked interrupted.
func TestInterruptedByTimeout(t *testing.T) {
	srv := startFaultOK(t)
	tb := &movingDeadlineTB{captureTB: newCaptureTB(t), near: time.Now().Add(deadlineMargin + 700*time.Millisecond)}
	out := t.TempDir()
	start := time.Now()
	res := runSafeIn(t, tb, out, Scenario{Host: srv, Rate: 20, Duration: time.Minute, Window: 200 * time.Millisecond, Tasks: []Task{getTask("GET /x", "/x", 1)}, MaxLateRatio: 0.5})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %s; want it stopped about 700ms in", took)
	}
	if res.Meta.Status != result.Interrupted || !strings.Contains(res.Meta.Reason, "before go test's -timeout") {
		t.Errorf("status %q, reason %q; want interrupted before the timeout", res.Meta.Status, res.Meta.Reason)
	}
	if m := readMeta(t, out, t.Name()); m.Status != result.Interrupted || res.Total.Requests == 0 {
		t.Errorf("meta status %q with %d requests; want interrupted, with what was measured", m.Status, res.Total.Requests)
	}
}

func startFaultOK(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv.URL
}
