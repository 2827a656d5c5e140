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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
			require.NoError(t, err)
			cmd.Stderr = cmd.Stdout
			require.NoError(t, cmd.Start(), "start the child")
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
			require.NoError(t, cmd.Process.Signal(sig))
			waited := make(chan error, 1)
			go func() { <-readDone; waited <- cmd.Wait() }()
			select {
			case err = <-waited:
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("the child did not stop after %s:\n%s", sig, log.String())
			}
			t.Logf("child stopped %s after %s", time.Since(sent).Round(time.Millisecond), sig)
			assert.Error(t, err, "the child's exit; want an interrupted run to fail the test")
			// A plain check: it prints the child's output as it ran.
			if !strings.Contains(log.String(), "run interrupted: interrupted by a signal; results written are partial") {
				t.Errorf("child output lacks the interruption:\n%s", log.String())
			}
			m := readMeta(t, out, "TestInterruptChild")
			assert.Equal(t, result.Interrupted, m.Status, "meta: status")
			assert.Equal(t, "interrupted by a signal", m.Reason, "meta: reason")
			assert.Positive(t, m.Elapsed, "meta: elapsed; want the part of the minute before the signal")
			assert.Less(t, m.Elapsed, time.Minute, "meta: elapsed; want the part of the minute before the signal")
			stats, _, _ := result.Files(out, "TestInterruptChild")
			b, err := os.ReadFile(stats)
			if assert.NoError(t, err, "stats file") {
				assert.Contains(t, string(b), ",Aggregated,", "stats file; want the measured part written")
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
	assert.LessOrEqual(t, time.Since(start), 10*time.Second, "run took; want it stopped soon after a cancel at 700ms")
	assert.Equal(t, result.Interrupted, res.Meta.Status, "result status")
	assert.Equal(t, result.Interrupted, readMeta(t, out, t.Name()).Status, "meta file status")
	assert.Contains(t, tb.messages(), "run interrupted: the test's context was cancelled", "messages")
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
	assert.LessOrEqual(t, time.Since(start), 10*time.Second, "run took; want it stopped about 700ms in")
	assert.Equal(t, result.Interrupted, res.Meta.Status, "result status")
	assert.Contains(t, res.Meta.Reason, "before go test's -timeout", "result reason")
	assert.Equal(t, result.Interrupted, readMeta(t, out, t.Name()).Status, "meta file status")
	assert.NotZero(t, res.Total.Requests, "requests; want what was measured before the stop")
}

func startFaultOK(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv.URL
}
