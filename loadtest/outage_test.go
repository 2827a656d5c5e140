package loadtest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/alert"
	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/internal/pipeline"
)

// outageTarget answers 200 after 10 ms, except from down for length
// (counted from its first request), when it fails as mode says: "refused"
// (nothing listens), "500" (every answer an error) or "hang" (no answer
// until the request is cancelled). It counts the requests that reach it
// while down.
type outageTarget struct {
	mode         string
	down, length time.Duration

	mu     sync.Mutex
	first  time.Time
	inDown int
}

func (o *outageTarget) RoundTrip(req *http.Request) (*http.Response, error) {
	o.mu.Lock()
	now := time.Now()
	if o.first.IsZero() {
		o.first = now
	}
	at := now.Sub(o.first)
	isDown := at >= o.down && at < o.down+o.length
	if isDown {
		o.inDown++
	}
	o.mu.Unlock()
	if isDown {
		switch o.mode {
		case "refused":
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
		case "500":
			return &http.Response{StatusCode: 500, Body: io.NopCloser(strings.NewReader("down")), Request: req, Header: http.Header{}}, nil
		case "hang":
			<-req.Context().Done()
			return nil, req.Context().Err()
		}
	}
	select {
	case <-time.After(10 * time.Millisecond):
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req, Header: http.Header{}}, nil
}

// eventLog keeps the run's events.
type eventLog struct {
	mu     sync.Mutex
	events []pipeline.Event
}

func (l *eventLog) Event(e pipeline.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *eventLog) of(kind pipeline.EventKind) []pipeline.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []pipeline.Event
	for _, e := range l.events {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// webhookLog is a transport that keeps the webhook's messages.
type webhookLog struct {
	mu   sync.Mutex
	msgs []alert.Message
}

func (w *webhookLog) RoundTrip(req *http.Request) (*http.Response, error) {
	var m alert.Message
	if err := json.NewDecoder(req.Body).Decode(&m); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.msgs = append(w.msgs, m)
	w.mu.Unlock()
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req, Header: http.Header{}}, nil
}

func (w *webhookLog) status(s string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if m.Status == s {
			n++
		}
	}
	return n
}

// TestOutage: a run without end at 10/s in 1-minute segments meets an
// outage of its target — refused connections for 3 minutes, errors for
// 2, requests hanging for 2 — and rides it out: the load pauses within a
// guard span, the target sees only probes while down, the load resumes
// within a minute of the recovery, the webhook hears one pause and one
// recovery, no baseline is recorded from a segment with the outage, and
// the run goes on to its end.
func TestOutage(t *testing.T) {
	tests := []struct {
		mode   string
		length time.Duration
		detect time.Duration // from the outage's start to the pause, at most
	}{
		{"refused", 3 * time.Minute, 10 * time.Second},
		{"500", 2 * time.Minute, 10 * time.Second},
		{"hang", 2 * time.Minute, 2*time.Second + 10*time.Second}, // the task timeout, then a span
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			out, root := t.TempDir(), t.TempDir()
			target := &outageTarget{mode: tt.mode, down: 2 * time.Minute, length: tt.length}
			events, hook := &eventLog{}, &webhookLog{}
			log := &segmentLog{}
			var tb *captureTB
			synctest.Test(t, func(t *testing.T) {
				fs := newFlagSet()
				fl, sf, bf, af, hf := newFlags(fs), newSafetyFlags(fs), newBaselineFlags(fs), newAlertFlags(fs), newHistoryFlags(fs)
				af.client = &http.Client{Transport: hook}
				require.NoError(t, fs.Parse([]string{
					"-loadtest.out=" + out, "-loadtest.baseline=" + root, "-loadtest.update", "-loadtest.baseline-runs=20",
					"-loadtest.duration=0", "-loadtest.segment=1m", "-loadtest.window=10s", "-loadtest.webhook=http://hooks.test/x",
					"-loadtest.history", "-loadtest.history-dir=" + root,
				}))
				tb = newCaptureTB(t)
				tb.quiet = true
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				tb.ctx = ctx
				time.AfterFunc(9*time.Minute+5*time.Second, cancel)
				// Every user logs in first; a task without a session fails.
				// The probes must log in too, or the run never resumes.
				sc := Scenario{
					Host: "http://orders.test", Transport: target, Rate: 10, Timeout: 2 * time.Second, Seed: 3,
					OnStart: func(ctx context.Context, u *User) error { u.Data = "session"; return nil },
					Tasks: []Task{{Name: "GET /orders", Do: func(ctx context.Context, u *User) error {
						if u.Data == nil {
							return errors.New("no session")
						}
						_, err := u.Get(ctx, "/orders")
						return err
					}}},
				}
				runWith(tb, sc, runOptions{flags: fl, parts: parts{safety: sf, baseline: bf, alert: af, history: hf}, sinks: []pipeline.Sink{log}, events: []pipeline.EventSink{events}})
			})

			paused, resumed := events.of(pipeline.Paused), events.of(pipeline.Resumed)
			require.Len(t, paused, 1, "pauses: %v", events.events)
			require.Len(t, resumed, 1, "resumptions")
			start := log.segs[0].start
			downAt, upAt := start.Add(2*time.Minute), start.Add(2*time.Minute+tt.length)
			assert.LessOrEqual(t, paused[0].At.Sub(downAt), tt.detect, "from the outage to the pause")
			assert.Positive(t, paused[0].At.Sub(downAt), "paused after the outage began")
			assert.LessOrEqual(t, resumed[0].At.Sub(upAt), time.Minute, "from the recovery to the resumption")
			assert.Positive(t, resumed[0].At.Sub(upAt), "resumed after the recovery")

			// While down: what came before the pause, then probes only.
			before := int(float64(paused[0].At.Sub(downAt)) / float64(100*time.Millisecond))
			assert.LessOrEqual(t, target.inDown, before+1+int(tt.length/engine.ProbeFirst), "requests while down: %d before the pause, then probes", before)

			assert.Equal(t, 1, hook.status(alert.Paused), "paused messages")
			assert.Equal(t, 1, hook.status(alert.Recovered), "recovered messages")

			// The run went on: the last segments are full again, and it
			// ended when stopped, not by the guard.
			require.GreaterOrEqual(t, len(log.segs), 9, "segments")
			last := log.segs[len(log.segs)-2]
			assert.InDelta(t, 600, last.requests, 5, "the last full segment's requests: the load is back")
			assert.NotContains(t, tb.messages(), "aborted", "the run was never aborted")

			// Recorded: only the segments without an outage.
			runs, err := baseline.Load(baseline.Dir(root, "orders.test", t.Name()))
			require.NoError(t, err)
			outage := 0
			for _, s := range log.segs {
				if s.outages > 0 || s.paused > 0 {
					outage++
				}
			}
			assert.Positive(t, outage, "segments with the outage")
			for _, run := range runs {
				assert.Zero(t, run.Meta.Paused, "recorded run %s: paused", run.Name)
			}
			assert.Equal(t, len(log.segs)-1-outage, len(runs), "runs recorded: every complete segment without the outage")

			// The history holds the segments without the outage; the
			// outages history, the others.
			rows, err := history.ReadFile(history.Path(root, "orders.test", t.Name()))
			require.NoError(t, err)
			assert.Len(t, rows, 2*(len(log.segs)-1-outage), "history rows: task and aggregate of each segment without the outage")
			outs, err := history.ReadOutagesFile(history.OutagesPath(root, "orders.test", t.Name()))
			require.NoError(t, err)
			if assert.Len(t, outs, outage, "outages history rows") {
				var paused time.Duration
				for _, o := range outs {
					paused += o.Paused
				}
				assert.InDelta(t, resumed[0].Outage.Seconds(), paused.Seconds(), 1, "paused in the outages history: the outage's length")
			}
		})
	}
}
