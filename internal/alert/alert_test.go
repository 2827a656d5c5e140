package alert

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// hook is a loopback webhook that records the messages it accepted and
// answers fail with its status first, once each.
type hook struct {
	srv *httptest.Server

	mu    sync.Mutex
	got   []Message
	tries int
	fail  []int // statuses to answer, in order, before accepting
}

func newHook(t *testing.T) *hook {
	h := &hook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.tries++
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		if len(h.fail) > 0 {
			code := h.fail[0]
			h.fail = h.fail[1:]
			w.WriteHeader(code)
			return
		}
		var m Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.got = append(h.got, m)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// take returns the messages accepted since the last take.
func (h *hook) take() []Message {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.got
	h.got = nil
	return got
}

func (h *hook) attempts() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.tries
}

func (h *hook) failNext(codes ...int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fail = append(h.fail, codes...)
}

// secret is the path of the test webhooks: it must appear in no error.
const secret = "/services/T000/B000/SECRET"

var t0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func info(t *testing.T, test string) pipeline.Info {
	return pipeline.Info{Test: test, Env: "production", Logf: t.Logf}
}

func newPart(t *testing.T, h *hook, test string, cfg Config) *Part {
	t.Helper()
	cfg.URL = h.srv.URL + secret
	cfg.RunID = "run1"
	p, err := New(info(t, test), cfg)
	require.NoError(t, err, "New")
	p.retry = time.Millisecond
	return p
}

// segment i of TestOrders: an hour from t0 + i hours, compared by the
// gate (rows regressed as given), with findings.
func segment(i int, status result.Status, regressed []string, found ...result.Finding) *pipeline.Segment {
	rep := &gate.Report{Rows: []gate.Row{
		{Task: "GET /orders", Comparison: gate.Comparison{Metric: gate.P95, Verdict: gate.Same}},
		{Task: "POST /orders", Comparison: gate.Comparison{Metric: gate.P95, Verdict: gate.Same}},
	}}
	for _, task := range regressed {
		for j := range rep.Rows {
			if rep.Rows[j].Task == task {
				rep.Rows[j].Verdict = gate.Regressed
				rep.Rows[j].Base, rep.Rows[j].Cur, rep.Rows[j].Delta = 10000, 15000, 0.5
			}
		}
	}
	return &pipeline.Segment{
		Run: &result.Run{
			Meta:     result.Meta{Test: "TestOrders", Status: status, Start: t0.Add(time.Duration(i) * time.Hour), Elapsed: time.Hour},
			Findings: found,
		},
		Index: i, Name: fmt.Sprintf("TestOrders_%d", i), Gate: rep,
	}
}

// brief is a message as "status kind task metric severity segment".
func brief(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, strings.Join([]string{m.Status, m.Kind, m.Task, m.Metric, m.Severity, m.Segment}, " "))
	}
	return out
}

// assertNoWarnings checks that seg has no verdicts at all.
func assertNoVerdicts(t *testing.T, seg *pipeline.Segment) {
	t.Helper()
	assert.Empty(t, seg.Verdicts, "Write(segment %d) verdicts", seg.Index)
}

// TestFiringThenResolved: a regression over three segments fires once;
// the first clean segment resolves it, with how long it lasted; nothing
// more after.
func TestFiringThenResolved(t *testing.T) {
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	for i := range 3 {
		seg := segment(i, result.Complete, []string{"GET /orders"})
		p.Write(seg)
		assertNoVerdicts(t, seg)
	}
	got := h.take()
	require.Equal(t, []string{"firing regression GET /orders p95 fail TestOrders_0"}, brief(got), "after 3 segments with the regression")
	m := got[0]
	assert.Equal(t, "run1", m.RunID)
	assert.Equal(t, "production", m.Env)
	assert.Equal(t, "TestOrders", m.Test)
	assert.Equal(t, "2026-03-01T00:00:00Z", m.StartedAt)
	assert.Empty(t, m.ResolvedAt)
	assert.Contains(t, m.Details, "GET /orders: p95 rose +50.0%")
	assert.Equal(t, "FIRING [fail] regression: TestOrders GET /orders p95 (env production): "+m.Details, m.Text)

	p.Write(segment(3, result.Complete, nil))
	p.Write(segment(4, result.Complete, nil))
	got = h.take()
	require.Equal(t, []string{"resolved regression GET /orders p95 fail TestOrders_3"}, brief(got), "after two clean segments")
	m = got[0]
	assert.Equal(t, "2026-03-01T00:00:00Z", m.StartedAt)
	assert.Equal(t, "2026-03-01T03:00:00Z", m.ResolvedAt)
	assert.Equal(t, "RESOLVED regression: TestOrders GET /orders p95 (env production) cleared after 3h0m0s (first seen in segment TestOrders_0; clean in segment TestOrders_3)", m.Text)

	// It comes back: a new firing.
	p.Write(segment(5, result.Complete, []string{"GET /orders"}))
	assert.Equal(t, []string{"firing regression GET /orders p95 fail TestOrders_5"}, brief(h.take()), "back at segment 5")
}

// TestMessageJSON: the field names of the documented format.
func TestMessageJSON(t *testing.T) {
	b, err := json.Marshal(Message{Status: Resolved, ResolvedAt: "x"})
	require.NoError(t, err)
	var fields map[string]any
	require.NoError(t, json.Unmarshal(b, &fields))
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	assert.ElementsMatch(t, []string{"text", "status", "test", "task", "metric", "kind", "severity", "segment", "run_id", "env", "started_at", "resolved_at", "details"}, names)
	b, err = json.Marshal(Message{Status: Firing})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "resolved_at", "a firing message has no resolved_at")
}

// TestKindsAndSeverity: each key fires on its own, with its severity.
func TestKindsAndSeverity(t *testing.T) {
	leak := result.Finding{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: "latency of GET /orders grew +35%", Fail: true}
	drift := result.Finding{Kind: "drift", Task: "GET /orders", Metric: "p95", Text: "p95 crept +12% over 8 runs"}
	signal := result.Finding{Kind: "signal", Metric: "go_goroutines", Text: "go_goroutines rose"}
	tests := []struct {
		name string
		seg  *pipeline.Segment
		want []string
	}{
		{"a regression", segment(0, result.Complete, []string{"GET /orders"}),
			[]string{"firing regression GET /orders p95 fail TestOrders_0"}},
		{"the same task and metric, another kind: fires separately", segment(1, result.Complete, []string{"GET /orders"}, drift),
			[]string{"firing drift GET /orders p95 warn TestOrders_1"}},
		{"a failing leak, a warning signal", segment(2, result.Complete, []string{"GET /orders"}, drift, leak, signal),
			[]string{"firing leak GET /orders window p50 fail TestOrders_2", "firing signal  go_goroutines warn TestOrders_2"}},
		{"an abort: every other key kept, none resolved", segment(3, result.Aborted, nil),
			[]string{"firing abort   fail TestOrders_3"}},
		{"all clear", segment(4, result.Complete, nil),
			[]string{"resolved abort   fail TestOrders_4", "resolved drift GET /orders p95 warn TestOrders_4",
				"resolved leak GET /orders window p50 fail TestOrders_4", "resolved regression GET /orders p95 fail TestOrders_4",
				"resolved signal  go_goroutines warn TestOrders_4"}},
	}
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	for _, tt := range tests {
		p.Write(tt.seg)
		assertNoVerdicts(t, tt.seg)
		assert.Equal(t, tt.want, brief(h.take()), "%s: Write(segment %d)", tt.name, tt.seg.Index)
	}
}

// TestExplainedDetails: a message's details carry what moved with its
// finding, the regression row's and the leak's each their own; a finding
// nothing moved with, or whose explanation is another's, carries its text
// alone.
func TestExplainedDetails(t *testing.T) {
	const (
		dbMoved   = "moved with it: db latency (ρ = +0.93, p < 0.0001, 28 windows; 2ms → 31ms, +1450%); slowest requests of the windows that moved most: trace 4bf92f3577b34da6a3ce929d0e0e4736"
		heapMoved = "moved with it: process_resident_memory_bytes (ρ = +0.81, p = 0.0002, 28 windows; 80M → 140M, +75%)"
	)
	leak := result.Finding{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: "latency of GET /orders grew +35%", Fail: true}
	drift := result.Finding{Kind: "drift", Task: "GET /orders", Metric: "p95", Text: "p95 crept +12% over 8 runs"}
	seg := segment(0, result.Complete, []string{"GET /orders", "POST /orders"}, leak, drift)
	seg.Explanations = []pipeline.Explanation{
		{Kind: "regression", Task: "GET /orders", Metric: "p95", Text: dbMoved},
		{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: heapMoved},
		{Kind: "leak", Task: "POST /orders", Metric: "p95", Text: "moved with it: another finding's signal"}, // no such finding: on no message
	}
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	p.Write(seg)
	assertNoVerdicts(t, seg)
	got := h.take()
	require.Equal(t, []string{
		"firing drift GET /orders p95 warn TestOrders_0",
		"firing leak GET /orders window p50 fail TestOrders_0",
		"firing regression GET /orders p95 fail TestOrders_0",
		"firing regression POST /orders p95 fail TestOrders_0",
	}, brief(got), "Write(segment 0)")
	details := map[string]string{}
	for _, m := range got {
		details[m.Kind+" "+m.Task] = m.Details
		assert.True(t, strings.HasSuffix(m.Text, ": "+m.Details), "%s %s: text %q does not end with its details", m.Kind, m.Task, m.Text)
	}
	getRegression := seg.Gate.Rows[0].Message()
	assert.Equal(t, getRegression+"; "+dbMoved, details["regression GET /orders"], "the regression's details")
	assert.Equal(t, leak.Text+"; "+heapMoved, details["leak GET /orders"], "the leak's details")
	assert.Equal(t, drift.Text, details["drift GET /orders"], "the drift's details: nothing moved with it")
	assert.Equal(t, seg.Gate.Rows[1].Message(), details["regression POST /orders"], "the other regression's details: nothing moved with it")
	for k, d := range details {
		assert.NotContains(t, d, "another finding's signal", "%s: details", k)
	}
}

// TestDuplicateFindings: two findings of one key in a segment are one
// alert, with the most severe one's severity and text.
func TestDuplicateFindings(t *testing.T) {
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	warn := result.Finding{Kind: "step", Task: "GET /orders", Metric: "p95", Text: "a small step"}
	fail := result.Finding{Kind: "step", Task: "GET /orders", Metric: "p95", Text: "a big step", Fail: true}
	p.Write(segment(0, result.Complete, nil, warn, fail, warn))
	got := h.take()
	require.Len(t, got, 1)
	assert.Equal(t, "fail", got[0].Severity)
	assert.Equal(t, "a big step", got[0].Details)
}

// TestNotClean: a segment cut short resolves nothing, and a regression
// needs a segment the gate compared.
func TestNotClean(t *testing.T) {
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	leak := result.Finding{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: "grew"}
	p.Write(segment(0, result.Complete, []string{"GET /orders"}, leak))
	assert.Len(t, h.take(), 2, "the regression and the leak fire")

	p.Write(segment(1, result.Interrupted, nil))
	assert.Empty(t, brief(h.take()), "an interrupted segment resolves nothing")

	noGate := segment(2, result.Complete, nil)
	noGate.Gate = &gate.Report{Note: "NO BASELINE"}
	p.Write(noGate)
	assert.Equal(t, []string{"resolved leak GET /orders window p50 warn TestOrders_2"}, brief(h.take()),
		"a segment the gate did not compare resolves the leak only")

	p.Write(segment(3, result.Complete, nil))
	assert.Equal(t, []string{"resolved regression GET /orders p95 fail TestOrders_3"}, brief(h.take()))
}

// TestStateFile: a restarted run announces nothing it announced, and
// resolves it when it clears; tests sharing the file keep their rows.
func TestStateFile(t *testing.T) {
	h := newHook(t)
	state := filepath.Join(t.TempDir(), "alerts", "state.csv")
	p := newPart(t, h, "TestOrders", Config{StateFile: state})
	p.Write(segment(0, result.Complete, []string{"GET /orders"}))
	assert.Len(t, h.take(), 1, "the first run fires")

	other := newPart(t, h, "TestOther", Config{StateFile: state})
	seg := segment(0, result.Complete, nil, result.Finding{Kind: "leak", Task: "GET /", Metric: "window p50", Text: "grew"})
	seg.Meta.Test, seg.Name = "TestOther", "TestOther_0"
	other.Write(seg)
	assert.Len(t, h.take(), 1, "another test sharing the file fires its own")

	restarted := newPart(t, h, "TestOrders", Config{StateFile: state})
	for i := 1; i <= 2; i++ {
		seg := segment(i, result.Complete, []string{"GET /orders"})
		restarted.Write(seg)
		assertNoVerdicts(t, seg)
	}
	assert.Empty(t, brief(h.take()), "the restarted run does not announce again")

	data, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.Equal(t, `Test,Env,Kind,Task,Metric,Severity,Segment,Started,Sent,Resolved,Details
TestOrders,production,regression,GET /orders,p95,fail,TestOrders_0,2026-03-01T00:00:00Z,true,,"GET /orders: p95 rose +50.0% (10.0ms → 15.0ms; 100% CI +0.0% .. +0.0%, p=0.0000; tolerance +0%; 0 requests vs 0 in 0 baseline run(s))"
TestOther,production,leak,GET /,window p50,warn,TestOther_0,2026-03-01T00:00:00Z,true,,grew
`, string(data), "the state file")

	restarted.Write(segment(3, result.Complete, nil))
	got := h.take()
	require.Equal(t, []string{"resolved regression GET /orders p95 fail TestOrders_3"}, brief(got))
	assert.Equal(t, "2026-03-01T00:00:00Z", got[0].StartedAt, "the start survives the restart")

	again := newPart(t, h, "TestOrders", Config{StateFile: state})
	assert.Empty(t, again.entries, "nothing left of TestOrders once resolved")
	assert.Len(t, newPart(t, h, "TestOther", Config{StateFile: state}).entries, 1, "TestOther's row kept")
}

// TestStateFileErrors: a state file that cannot be read is an error of
// New, with its file and line.
func TestStateFileErrors(t *testing.T) {
	dir := t.TempDir()
	head := "Test,Env,Kind,Task,Metric,Severity,Segment,Started,Sent,Resolved,Details\n"
	row := "TestOrders,production,regression,GET /orders,p95,fail,s0,2026-03-01T00:00:00Z,%s,%s,x\n"
	tests := []struct{ name, content, want string }{
		{"bad header", "Test,Env\n", "state.csv:1: header is"},
		{"bad Sent", head + fmt.Sprintf(row, "yes", ""), `state.csv:2: Sent: "yes": want true or false`},
		{"bad Resolved", head + fmt.Sprintf(row, "true", "later"), `state.csv:2: Resolved: "later": not an RFC 3339 time`},
		{"cut short", head + strings.TrimSuffix(fmt.Sprintf(row, "true", ""), "\n"), "state.csv:2: the last line has no line ending"},
		{"CR LF", strings.ReplaceAll(head, "\n", "\r\n"), "state.csv:1: line ends with CR LF"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "state.csv")
		require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o644))
		_, err := New(info(t, "TestOrders"), Config{URL: "http://127.0.0.1:9/hook", StateFile: path})
		if assert.Error(t, err, "%s: New", tt.name) {
			assert.Contains(t, err.Error(), tt.want, "%s: New", tt.name)
			assert.Contains(t, err.Error(), path+":", "%s: the error names the file", tt.name)
		}
	}
	blocked := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o644))
	_, err := New(info(t, "TestOrders"), Config{URL: "http://127.0.0.1:9/hook", StateFile: filepath.Join(blocked, "state.csv")})
	assert.ErrorContains(t, err, "is a file, not a directory", "a state folder that cannot be written")
}

// TestURL: only an http(s) URL with a host; errors never repeat the URL.
func TestURL(t *testing.T) {
	tests := []struct{ url, want string }{
		{"", "no webhook URL"},
		{"ftp://hooks.example" + secret, `scheme "ftp"`},
		{"hooks.example" + secret, `scheme ""`},
		{"https://" + secret, "no host"},
		{"http://[::1" + secret, "does not parse"},
	}
	for _, tt := range tests {
		_, err := New(info(t, "TestOrders"), Config{URL: tt.url})
		if assert.Error(t, err, "New(URL %q)", tt.url) {
			assert.Contains(t, err.Error(), tt.want, "New(URL %q)", tt.url)
			assert.NotContains(t, err.Error(), "SECRET", "New(URL %q) repeats the URL", tt.url)
		}
	}
	_, err := New(info(t, "TestOrders"), Config{URL: "https://hooks.example" + secret, Timeout: -time.Second})
	assert.ErrorContains(t, err, "negative")
	for _, u := range []string{"http://127.0.0.1:9/hook", "https://hooks.example" + secret} {
		_, err := New(info(t, "TestOrders"), Config{URL: u})
		assert.NoError(t, err, "New(URL %q)", u)
	}
}

// TestDeliveryFailure: a post that fails after its retries is a warning,
// never a failure, and the next segment posts it again; a 4xx is not
// retried; one never announced is not resolved.
func TestDeliveryFailure(t *testing.T) {
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	h.failNext(503, 502, 500)
	seg := segment(0, result.Complete, []string{"GET /orders"})
	p.Write(seg)
	assert.Empty(t, h.take(), "nothing accepted")
	assert.Equal(t, 3, h.attempts(), "three attempts")
	require.Len(t, seg.Verdicts, 1)
	assert.False(t, seg.Failed(), "a failed delivery fails nothing")
	w := seg.Verdicts[0].Text
	assert.Contains(t, w, "alert: firing regression of TestOrders GET /orders p95 not sent to "+h.srv.URL+": status 500 Internal Server Error; tried again at the next segment")
	assert.NotContains(t, w, "SECRET", "the warning names the webhook without its path")

	seg = segment(1, result.Complete, []string{"GET /orders"})
	p.Write(seg)
	assertNoVerdicts(t, seg)
	assert.Equal(t, []string{"firing regression GET /orders p95 fail TestOrders_1"}, brief(h.take()), "the next segment posts it")
	assert.Equal(t, 4, h.attempts())

	// A 404 is not retried; the next segment clears the regression
	// before it was ever announced: nothing to say.
	h.failNext(404)
	seg = segment(2, result.Complete, nil, result.Finding{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: "grew"})
	p.Write(seg)
	assert.Equal(t, []string{"resolved regression GET /orders p95 fail TestOrders_2"}, brief(h.take()))
	require.Len(t, seg.Verdicts, 1)
	assert.Contains(t, seg.Verdicts[0].Text, "firing leak of TestOrders GET /orders window p50 not sent to "+h.srv.URL+": status 404 Not Found")
	assert.Equal(t, 6, h.attempts(), "the 404 once, then the resolution")

	p.Write(segment(3, result.Complete, nil))
	assert.Empty(t, brief(h.take()), "a leak never announced is not resolved")

	// A resolution that fails is posted at the next segment.
	p.Write(segment(4, result.Complete, []string{"POST /orders"}))
	assert.Len(t, h.take(), 1)
	h.failNext(500, 500, 500)
	seg = segment(5, result.Complete, nil)
	p.Write(seg)
	assert.Len(t, seg.Verdicts, 1, "the resolution failed")
	p.Write(segment(6, result.Interrupted, nil))
	got := h.take()
	require.Equal(t, []string{"resolved regression POST /orders p95 fail TestOrders_6"}, brief(got), "posted at the next segment, even one cut short")
	assert.Equal(t, "2026-03-01T05:00:00Z", got[0].ResolvedAt, "resolved when it was found clean")
}

// TestNetworkError: a webhook that does not answer is retried, then a
// warning without the URL's path.
func TestNetworkError(t *testing.T) {
	h := newHook(t)
	p := newPart(t, h, "TestOrders", Config{})
	h.srv.Close()
	seg := segment(0, result.Complete, []string{"GET /orders"})
	p.Write(seg)
	require.Len(t, seg.Verdicts, 1)
	assert.False(t, seg.Failed())
	assert.Contains(t, seg.Verdicts[0].Text, "connect")
	assert.NotContains(t, seg.Verdicts[0].Text, "SECRET")
}

// blocking is a transport whose requests never get an answer, only their
// context's end.
type blocking struct{ calls int }

func (b *blocking) RoundTrip(r *http.Request) (*http.Response, error) {
	b.calls++
	if r.Body != nil {
		io.Copy(io.Discard, r.Body)
	}
	<-r.Context().Done()
	return nil, r.Context().Err()
}

// TestSlowWebhookBounded: a webhook that never answers holds a segment's
// end for Timeout, no longer, whatever is to be posted.
func TestSlowWebhookBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := &blocking{}
		p, err := New(info(t, "TestOrders"), Config{URL: "https://hooks.example" + secret, Timeout: 3 * time.Second, Client: &http.Client{Transport: tr}})
		require.NoError(t, err)
		seg := segment(0, result.Complete, []string{"GET /orders", "POST /orders"},
			result.Finding{Kind: "leak", Task: "GET /orders", Metric: "window p50", Text: "grew"})
		start := time.Now()
		p.Write(seg)
		assert.Equal(t, 3*time.Second, time.Since(start), "Write took")
		assert.Equal(t, 1, tr.calls, "posts begun")
		require.Len(t, seg.Verdicts, 2)
		assert.False(t, seg.Failed())
		assert.Equal(t, "alert: firing leak of TestOrders GET /orders window p50 not sent to https://hooks.example: no answer within 3s (1 attempt(s); out of time); tried again at the next segment", seg.Verdicts[0].Text)
		assert.Equal(t, "alert: 2 of 3 message(s) to https://hooks.example not sent within 3s; they are tried again at the next segment", seg.Verdicts[1].Text)
	})
}
