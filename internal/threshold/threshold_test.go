package threshold

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// task is a row with n requests, failed of them failures, and the
// successes' latencies spread evenly from 1 ms to maxMS.
func task(typ, name string, n, failed int64, maxMS int64) *result.Task {
	t := &result.Task{Type: typ, Name: name, Requests: n, Failures: failed, Latency: result.NewHistogram()}
	ok := n - failed
	for i := int64(1); i <= ok; i++ {
		if err := t.Latency.RecordValue(1000 + (maxMS-1)*1000*(i-1)/max(ok-1, 1)); err != nil {
			panic(err)
		}
	}
	return t
}

// segment is a complete segment of 10 s with a task "GET /a" of 100
// requests (1 failed, latencies 1 to 100 ms), a task "POST /b" with no
// request, and their aggregate.
func segment() *pipeline.Segment {
	a := task("GET", "/a", 100, 1, 100)
	total := task("", result.AggregateName, 100, 1, 100)
	return &pipeline.Segment{Run: &result.Run{
		Meta:  result.Meta{Status: result.Complete, Elapsed: 10 * time.Second},
		Tasks: []*result.Task{a, {Type: "POST", Name: "/b", Latency: result.NewHistogram()}},
		Total: total,
	}}
}

func newPart(t *testing.T, exprs ...string) (*Part, *[]string) {
	t.Helper()
	ts, err := ParseList(exprs)
	require.NoError(t, err)
	var logged []string
	info := pipeline.Info{Tasks: []string{"GET /a", "POST /b"}, Logf: func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) }}
	p, err := New(info, Config{Thresholds: ts, Source: "Scenario.Thresholds"})
	require.NoError(t, err)
	return p, &logged
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name string
		expr string
		meta func(m *result.Meta)
		want []pipeline.Verdict // nil: held
	}{
		{"p95 held", "p95 < 100ms", nil, nil},
		{"p95 missed", "p95 < 90ms", nil,
			[]pipeline.Verdict{{Fail: true, Text: `threshold "p95 < 90ms" missed: p95 of all tasks was 95 ms (99 successful requests)`}}},
		{"a task's max missed", "GET /a: max <= 99ms", nil,
			[]pipeline.Verdict{{Fail: true, Text: `threshold "GET /a: max <= 99ms" missed: max of task "GET /a" was 100 ms (99 successful requests)`}}},
		{"mean held", "GET /a: mean < 51ms", nil, nil},
		{"failures held", "failures < 1.5%", nil, nil},
		{"failures missed", "failures < 0.5%", nil,
			[]pipeline.Verdict{{Fail: true, Text: `threshold "failures < 0.5%" missed: failures of all tasks was 1% (1 of 100 requests)`}}},
		{"rate held", "rate >= 10/s", nil, nil},
		{"rate missed", "GET /a: rate > 9.5/s", func(m *result.Meta) { m.Elapsed = 20 * time.Second },
			[]pipeline.Verdict{{Fail: true, Text: `threshold "GET /a: rate > 9.5/s" missed: rate of task "GET /a" was 5/s (100 requests in 20s)`}}},
		{"no request, rate judged", "POST /b: rate > 1/s", nil,
			[]pipeline.Verdict{{Fail: true, Text: `threshold "POST /b: rate > 1/s" missed: rate of task "POST /b" was 0/s (0 requests in 10s)`}}},
		{"no request, failures not judged", "POST /b: failures < 1%", nil,
			[]pipeline.Verdict{{Text: `threshold "POST /b: failures < 1%" not judged: task "POST /b" has no request in this segment`}}},
		{"no success, latency not judged", "POST /b: p99 < 1s", nil,
			[]pipeline.Verdict{{Text: `threshold "POST /b: p99 < 1s" not judged: task "POST /b" has no successful request in this segment`}}},
		{"starved: latency warns", "p95 < 90ms", func(m *result.Meta) { m.Starved = 2 },
			[]pipeline.Verdict{{Text: `threshold "p95 < 90ms" missed: p95 of all tasks was 95 ms (99 successful requests) (not judged: the generator was starved or suspended in 2 window(s) of this segment, its figures are not the target's)`}}},
		{"starved: failures still fail", "failures < 0.5%", func(m *result.Meta) { m.Starved = 2 },
			[]pipeline.Verdict{{Fail: true, Text: `threshold "failures < 0.5%" missed: failures of all tasks was 1% (1 of 100 requests)`}}},
		{"interrupted: warns", "failures < 0.5%", func(m *result.Meta) { m.Status = result.Interrupted },
			[]pipeline.Verdict{{Text: `threshold "failures < 0.5%" missed: failures of all tasks was 1% (1 of 100 requests) (the segment is interrupted: not judged)`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, logged := newPart(t, tt.expr)
			seg := segment()
			if tt.meta != nil {
				tt.meta(&seg.Meta)
			}
			p.Evaluate(seg)
			assert.Equal(t, tt.want, seg.Verdicts, "Evaluate(%q)", tt.expr)
			if tt.want == nil {
				require.Len(t, *logged, 1)
				assert.Contains(t, (*logged)[0], "loadtest: thresholds held: "+tt.expr+": ")
			}
		})
	}
}

// TestEvaluateAll: every threshold is judged, in order, whatever the
// ones before it said.
func TestEvaluateAll(t *testing.T) {
	p, logged := newPart(t, "p95 < 90ms", "p50 < 1s", "failures < 0.1%")
	seg := segment()
	p.Evaluate(seg)
	require.Len(t, seg.Verdicts, 2)
	assert.Contains(t, seg.Verdicts[0].Text, `"p95 < 90ms" missed`)
	assert.Contains(t, seg.Verdicts[1].Text, `"failures < 0.1%" missed`)
	assert.True(t, seg.Failed())
	assert.Equal(t, []string{"loadtest: thresholds held: p50 < 1s: 50.5 ms (99 successful requests)"}, *logged)
}

// TestUnknownRow: a threshold may name a name recorded inside the
// tasks, which no list holds before the run; one whose key has no row in
// the segment fails it, with the rows there are.
func TestUnknownRow(t *testing.T) {
	p, logged := newPart(t, "GET /x: p95 < 1s", "p95 < 1s", "get /a: max < 1s", "GET /a: p95 < 1s")
	seg := segment()
	p.Evaluate(seg)
	require.Len(t, seg.Verdicts, 2)
	assert.Equal(t, `threshold "GET /x: p95 < 1s": no task or name "GET /x" in this run (its rows: "GET /a", "POST /b")`, seg.Verdicts[0].Text)
	assert.Equal(t, `threshold "get /a: max < 1s": no task or name "get /a" in this run (its rows: "GET /a", "POST /b")`, seg.Verdicts[1].Text)
	assert.True(t, seg.Failed())
	assert.Len(t, *logged, 1, "the thresholds held")

	seg.Run.Tasks = append(seg.Run.Tasks, task("GET", "/x", 10, 0, 5))
	seg.Verdicts = nil
	p.Evaluate(seg)
	require.Len(t, seg.Verdicts, 1, "a name's row, once recorded, is judged")
	assert.Contains(t, seg.Verdicts[0].Text, `"get /a: max < 1s"`)
}
