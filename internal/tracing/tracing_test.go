package tracing_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/tracing"
	"github.com/steadyload/steadyload/loadtest/result"
)

// secretToken is the run's secret header's credential; it must never be
// recorded.
const secretToken = "s3cret-token-0123456789"

// harnessTraceparent is the header the harness sets before a request is
// sent; tracing replaces it within a task.
const harnessTraceparent = "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"

// Task indexes of testInfo.
const (
	taskOK = iota
	taskFail
	taskLocal
)

func testInfo(t *testing.T) pipeline.Info {
	return pipeline.Info{
		Test: t.Name(), Env: "staging", Window: time.Second,
		Tasks: []string{"GET /ok", "GET /fail", "compute"},
		Logf:  t.Logf,
	}
}

func scrub(s string) string { return strings.ReplaceAll(s, secretToken, "[REDACTED]") }

// target is the system under test: it answers /fail with 500 and
// anything else with 200, and records the headers each request carried.
type target struct {
	*httptest.Server
	mu   sync.Mutex
	seen []seenRequest
}

type seenRequest struct {
	uri, traceparent, auth string
}

func newTarget(t *testing.T) *target {
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tg.mu.Lock()
		tg.seen = append(tg.seen, seenRequest{r.URL.RequestURI(), r.Header.Get("Traceparent"), r.Header.Get("Authorization")})
		tg.mu.Unlock()
		if r.URL.Path == "/fail" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		io.WriteString(w, "hello")
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) requests() []seenRequest {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]seenRequest(nil), tg.seen...)
}

// newTracer makes a Tracer exporting to rc, closed at the test's end.
func newTracer(t *testing.T, rc *receiver, cfg tracing.Config) *tracing.Tracer {
	t.Helper()
	if rc != nil {
		cfg.Endpoint = rc.URL
	}
	tr, err := tracing.New(testInfo(t), cfg)
	require.NoError(t, err)
	require.True(t, tr.Enabled())
	t.Cleanup(func() { tr.Close(context.Background()) })
	return tr
}

// runTask runs task as the harness does: a root span, then a request to
// url made with its context and the harness's own headers, the body read
// and closed; the task fails on a status of 400 or more or an error.
func runTask(t *testing.T, tr *tracing.Tracer, client *http.Client, task int, url string, latency time.Duration) [16]byte {
	t.Helper()
	ctx, k := tr.StartTask(context.Background(), task)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header["Traceparent"] = []string{harnessTraceparent}
	req.Header.Set("Authorization", "Bearer "+secretToken)
	class := ""
	resp, err := client.Do(req)
	switch {
	case err != nil:
		class = "transport"
	default:
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			class = "http"
		}
	}
	k.End(latency, class)
	return k.TraceID()
}

// localTask runs a task that makes no request: its trace is its root.
func localTask(tr *tracing.Tracer, task int, latency time.Duration, class string) [16]byte {
	_, k := tr.StartTask(context.Background(), task)
	k.End(latency, class)
	return k.TraceID()
}

func closeTracer(t *testing.T, tr *tracing.Tracer) {
	t.Helper()
	require.NoError(t, tr.Close(context.Background()))
}

func TestTraceOfATask(t *testing.T) {
	rc, tg := newReceiver(t), newTarget(t)
	tr := newTracer(t, rc, tracing.Config{Ratio: -1, RunID: "run42", Version: "0.1.0", Scrub: scrub})
	client := &http.Client{Transport: tr.Transport(tg.Client().Transport)}
	failing := runTask(t, tr, client, taskFail, tg.URL+"/fail?token="+secretToken+"&"+secretToken, 250*time.Millisecond)

	// A transport error whose text holds the secret.
	broken := &http.Client{Transport: tr.Transport(roundTripFunc(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("refused with " + secretToken)
	}))}
	brokenID := runTask(t, tr, broken, taskOK, tg.URL+"/ok", time.Millisecond)

	// A request outside any task passes untouched, and is not traced.
	req, err := http.NewRequest(http.MethodGet, tg.URL+"/outside", nil)
	require.NoError(t, err)
	req.Header["Traceparent"] = []string{harnessTraceparent}
	resp, err := client.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	closeTracer(t, tr)

	traces := rc.traces()
	require.Len(t, traces, 2, "traces received")
	spans := traces[failing]
	require.Len(t, spans, 2, "spans of the failed task %x", failing)
	root, child := spans[0], spans[1]
	if len(root.ParentSpanId) != 0 {
		root, child = child, root
	}

	// The root: the task, failed.
	assert.Empty(t, root.ParentSpanId, "root's parent")
	assert.Equal(t, "task GET /fail", root.Name)
	assert.Equal(t, tracepb.Span_SPAN_KIND_INTERNAL, root.Kind)
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, root.Status.GetCode())
	assert.Equal(t, "http", root.Status.GetMessage())
	assert.Equal(t, map[string]any{
		"steadyload.task": "GET /fail", "steadyload.failure.class": "http", "steadyload.latency": 0.25,
	}, root.attrs())

	// The request: a client span, child of the root.
	assert.Equal(t, "GET", child.Name)
	assert.Equal(t, tracepb.Span_SPAN_KIND_CLIENT, child.Kind)
	assert.Equal(t, root.SpanId, child.ParentSpanId, "request span's parent")
	assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, child.Status.GetCode())
	assert.Equal(t, map[string]any{
		"http.request.method":       "GET",
		"http.response.status_code": int64(500),
		"error.type":                "500",
		"url.full":                  tg.URL + "/fail?token=REDACTED&REDACTED",
		"server.address":            "127.0.0.1",
		"server.port":               int64(tg.Listener.Addr().(*net.TCPAddr).Port),
	}, child.attrs())
	assert.LessOrEqual(t, root.StartTimeUnixNano, child.StartTimeUnixNano, "request starts within the task")
	assert.GreaterOrEqual(t, root.EndTimeUnixNano, child.EndTimeUnixNano, "request ends within the task")

	// The target saw the request span's context, so its spans join the
	// trace; the secret header reached it, and the harness's own
	// traceparent did not.
	seen := tg.requests()
	require.Len(t, seen, 2)
	assert.Equal(t, "00-"+hex.EncodeToString(failing[:])+"-"+hex.EncodeToString(child.SpanId), seen[0].traceparent[:52])
	assert.Equal(t, byte(1), hexByte(t, seen[0].traceparent[53:])&1, "sampled flag of %s", seen[0].traceparent)
	assert.Equal(t, "Bearer "+secretToken, seen[0].auth)
	assert.Equal(t, "/outside", seen[1].uri)
	assert.Equal(t, harnessTraceparent, seen[1].traceparent, "a request outside a task keeps its header")

	// The transport error: recorded on the request span, scrubbed.
	spans = traces[brokenID]
	require.Len(t, spans, 2, "spans of the task whose transport failed")
	for _, s := range spans {
		assert.Equal(t, tracepb.Status_STATUS_CODE_ERROR, s.Status.GetCode(), "status of %s", s.Name)
		if s.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			assert.Equal(t, "refused with [REDACTED]", s.Status.GetMessage())
			assert.Equal(t, "*errors.errorString", s.attrs()["error.type"])
		}
	}

	// The resource says who sent it; nothing anywhere holds a header's value.
	res := root.resource
	assert.Equal(t, "steadyload", res["service.name"])
	assert.Equal(t, "0.1.0", res["service.version"])
	assert.Equal(t, t.Name(), res["steadyload.test"])
	assert.Equal(t, "run42", res["steadyload.run.id"])
	assert.Equal(t, "staging", res["deployment.environment.name"])
	for _, s := range rc.allSpans() {
		for _, m := range []map[string]any{s.attrs(), s.resource} {
			for k, v := range m {
				text := fmt.Sprint(v)
				assert.NotContains(t, text, secretToken, "attribute %s of %s", k, s.Name)
				assert.NotContains(t, text, "Bearer", "attribute %s of %s", k, s.Name)
				assert.NotContains(t, text, harnessTraceparent[3:35], "attribute %s of %s", k, s.Name)
				assert.NotContains(t, k, "header", "attribute %s of %s", k, s.Name)
				assert.NotContains(t, text, "steadyload/", "attribute %s of %s: the User-Agent", k, s.Name)
			}
		}
		assert.NotContains(t, s.Status.GetMessage(), secretToken, "status of %s", s.Name)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func hexByte(t *testing.T, s string) byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	require.Len(t, b, 1)
	return b[0]
}

// TestSampling runs a mix of tasks and checks which traces arrive: every
// failure, every task at least Config.Slow, those above the task's
// running p99 (up to the cap per window), and about Config.Ratio of the
// rest.
func TestSampling(t *testing.T) {
	rc, tg := newReceiver(t), newTarget(t)
	tr := newTracer(t, rc, tracing.Config{Ratio: 0.05, Seed: 7, Slow: 200 * time.Millisecond})
	client := &http.Client{Transport: tr.Transport(tg.Client().Transport)}

	var failed, slow, aboveP99, fast [][16]byte
	for i := range 2000 {
		fast = append(fast, localTask(tr, taskLocal, time.Millisecond, ""))
		if i%50 == 0 {
			failed = append(failed, runTask(t, tr, client, taskFail, tg.URL+"/fail", time.Millisecond))
		}
	}
	for range 3 {
		aboveP99 = append(aboveP99, localTask(tr, taskLocal, 50*time.Millisecond, ""))
	}
	for range 5 {
		slow = append(slow, runTask(t, tr, client, taskOK, tg.URL+"/ok", 300*time.Millisecond))
	}
	closeTracer(t, tr)

	traces := rc.traces()
	for _, c := range []struct {
		name  string
		ids   [][16]byte
		spans int
	}{
		{"failed", failed, 2},
		{"at least Config.Slow", slow, 2},
		{"above the running p99", aboveP99, 1},
	} {
		for _, id := range c.ids {
			assert.Len(t, traces[id], c.spans, "%s task %x: spans received", c.name, id)
		}
	}
	n := 0
	for _, id := range fast {
		if _, ok := traces[id]; ok {
			n++
		}
	}
	// 5% of 2000 is 100; the bounds are about 4 standard deviations.
	assert.True(t, n >= 60 && n <= 140, "fast successes exported: %d of %d; want about 100", n, len(fast))
	assert.Len(t, traces, len(failed)+len(slow)+len(aboveP99)+n, "traces received")
}

// TestP99Cap checks that a window slower than all before it exports at
// most 100 tasks per task above the running p99, and that the cap is per
// window.
func TestP99Cap(t *testing.T) {
	rc := newReceiver(t)
	tr := newTracer(t, rc, tracing.Config{Ratio: -1})
	for range 10000 {
		localTask(tr, taskLocal, time.Millisecond, "")
	}
	for range 150 {
		localTask(tr, taskLocal, 50*time.Millisecond, "")
	}
	tr.Window(nil)
	for range 20 {
		localTask(tr, taskLocal, time.Second, "")
	}
	closeTracer(t, tr)
	var slow, slower int
	for _, spans := range rc.traces() {
		switch spans[0].attrs()["steadyload.latency"] {
		case 0.05:
			slow++
		case 1.0:
			slower++
		}
	}
	assert.Equal(t, 100, slow, "traces kept above p99 in the first window")
	assert.Equal(t, 20, slower, "traces kept above p99 in the next window")
}

// TestExemplars checks that the slowest tasks of a window, which no rule
// keeps, arrive when the window's rows name them as exemplars, and only
// then.
func TestExemplars(t *testing.T) {
	rc := newReceiver(t)
	tr := newTracer(t, rc, tracing.Config{Ratio: -1})
	tr.Start(context.Background(), time.Now())

	// Window 0: ten tasks of 1 to 10 ms.
	var ids [11][16]byte
	for ms := 1; ms <= 10; ms++ {
		ids[ms] = localTask(tr, taskLocal, time.Duration(ms)*time.Millisecond, "")
	}
	_, inProgress := tr.StartTask(context.Background(), taskLocal)
	unknown := [16]byte{0xff, 1}
	tr.Window(rows(ids[10], ids[9], ids[8], inProgress.TraceID(), unknown))
	inProgress.End(time.Millisecond, "") // fast, but named an exemplar before it ended

	// Window 1: the recorder named a task of window 0 (it ended on the edge).
	quick := localTask(tr, taskLocal, 20*time.Millisecond, "")
	tr.Window(rows(ids[6]))
	// Window 2: too late for a task of window 0.
	tr.Window(rows(ids[7], quick))
	tr.EndSegment(&pipeline.Segment{Last: true})

	got := map[[16]byte]bool{}
	for id := range rc.traces() {
		got[id] = true
	}
	want := map[[16]byte]bool{ids[10]: true, ids[9]: true, ids[8]: true, ids[6]: true, inProgress.TraceID(): true, quick: true}
	assert.Equal(t, want, got, "traces received")
}

// rows returns a window's rows naming ids as exemplars.
func rows(ids ...[16]byte) []result.Window {
	w := result.Window{Name: "compute"}
	for _, id := range ids {
		w.Exemplars = append(w.Exemplars, result.Exemplar{TraceID: hex.EncodeToString(id[:])})
	}
	return []result.Window{w, {Name: result.AggregateName}}
}

// TestEnvironment checks that the standard OTEL_EXPORTER_OTLP_*
// variables configure the export, and that Config.Endpoint overrides
// them.
func TestEnvironment(t *testing.T) {
	for _, c := range []struct {
		name     string
		env      func(url string) map[string]string
		endpoint func(url string) string
		path     string
	}{
		{
			name: "endpoint and headers",
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme"}
			},
			path: "/v1/traces",
		},
		{
			name: "traces endpoint",
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": url + "/custom/traces", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "X-Tenant=acme"}
			},
			path: "/custom/traces",
		},
		{
			name: "Config.Endpoint overrides the environment",
			env: func(string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme"}
			},
			endpoint: func(url string) string { return url + "/otlp" },
			path:     "/otlp/v1/traces",
		},
		{
			name: "gzip",
			env: func(url string) map[string]string {
				return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=acme", "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip"}
			},
			path: "/v1/traces",
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			rc := newReceiver(t)
			clearEnv(t)
			for k, v := range c.env(rc.URL) {
				t.Setenv(k, v)
			}
			t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=perf")
			cfg := tracing.Config{}
			if c.endpoint != nil {
				cfg.Endpoint = c.endpoint(rc.URL)
			}
			tr, err := tracing.New(testInfo(t), cfg)
			require.NoError(t, err)
			require.True(t, tr.Enabled())
			id := localTask(tr, taskFail, time.Millisecond, "check")
			require.NoError(t, tr.Close(context.Background()))

			traces := rc.traces()
			require.Len(t, traces[id], 1, "spans received")
			assert.Equal(t, "perf", traces[id][0].resource["team"])
			assert.Equal(t, "steadyload", traces[id][0].resource["service.name"])
			rc.mu.Lock()
			defer rc.mu.Unlock()
			assert.Equal(t, []string{c.path}, rc.paths)
			assert.Equal(t, "acme", rc.headers[0].Get("X-Tenant"))
		})
	}
}

// clearEnv unsets the variables that could turn tracing on.
func clearEnv(t *testing.T) {
	for _, k := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
		"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
		"OTEL_RESOURCE_ATTRIBUTES", "OTEL_SERVICE_NAME",
	} {
		t.Setenv(k, "")
	}
}

// TestOff checks that without an endpoint tracing does nothing, and
// costs no allocation on the hot path.
func TestOff(t *testing.T) {
	clearEnv(t)
	off, err := tracing.New(testInfo(t), tracing.Config{})
	require.NoError(t, err)
	for name, tr := range map[string]*tracing.Tracer{"off": off, "nil": nil} {
		assert.False(t, tr.Enabled(), "%s: Enabled()", name)
		base := http.DefaultTransport
		assert.Same(t, base, tr.Transport(base), "%s: Transport(base) is base", name)
		ctx := context.Background()
		allocs := testing.AllocsPerRun(100, func() {
			c, task := tr.StartTask(ctx, taskOK)
			if c != ctx || task.TraceID() != ([16]byte{}) {
				t.Fatalf("%s: StartTask changed the context or gave a trace id", name)
			}
			task.End(time.Millisecond, "http")
		})
		assert.Zero(t, allocs, "%s: allocations per task", name)
		tr.Window(rows([16]byte{1}))
		tr.EndSegment(&pipeline.Segment{Last: true})
		assert.NoError(t, tr.Close(ctx), "%s: Close", name)
	}
}

func TestInvalidEndpoint(t *testing.T) {
	for _, ep := range []string{"localhost:4318", "ftp://collector:21", "http://", "http://[::1"} {
		_, err := tracing.New(testInfo(t), tracing.Config{Endpoint: ep})
		assert.Error(t, err, "New(Endpoint: %q)", ep)
	}
}

// TestCloseBounded checks that a collector that does not answer holds
// Close no longer than its context allows, and that Stop turns the
// failure into a warning of the segment.
func TestCloseBounded(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) })
	tr, err := tracing.New(testInfo(t), tracing.Config{Endpoint: hung.URL})
	require.NoError(t, err)
	localTask(tr, taskFail, time.Millisecond, "check")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = tr.Close(ctx)
	assert.Less(t, time.Since(start), 3*time.Second, "Close took")
	assert.Error(t, err, "Close with a collector that does not answer")
	seg := &pipeline.Segment{Last: true}
	tr.EndSegment(seg) // idempotent: the same result
	require.Len(t, seg.Verdicts, 1)
	assert.False(t, seg.Verdicts[0].Fail, "a failed export is a warning")
	assert.Contains(t, seg.Verdicts[0].Text, "traces: ")
}

// TestConcurrentTasks runs tasks from many goroutines while windows
// close, as a run does; every failure arrives whole.
func TestConcurrentTasks(t *testing.T) {
	rc, tg := newReceiver(t), newTarget(t)
	tr := newTracer(t, rc, tracing.Config{Ratio: 0.1, Seed: 1})
	client := &http.Client{Transport: tr.Transport(tg.Client().Transport)}
	var mu sync.Mutex
	var failed [][16]byte
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if (g+i)%5 == 0 {
					id := runTask(t, tr, client, taskFail, tg.URL+"/fail", time.Millisecond)
					mu.Lock()
					failed = append(failed, id)
					mu.Unlock()
					continue
				}
				runTask(t, tr, client, taskOK, tg.URL+"/ok", time.Duration(i+1)*time.Millisecond)
			}
		})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			tr.Window(rows())
			time.Sleep(time.Millisecond)
		}
	}()
	wg.Wait()
	<-done
	closeTracer(t, tr)
	traces := rc.traces()
	for _, id := range failed {
		assert.Len(t, traces[id], 2, "spans of failed task %x", id)
	}
}

func TestInvalidEnvironment(t *testing.T) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
		t.Run(k, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(k, "collector:4318")
			_, err := tracing.New(testInfo(t), tracing.Config{})
			assert.ErrorContains(t, err, k)
		})
	}
}
