package findings

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

var sample = []result.Finding{
	{Kind: "signal", Metric: "go_goroutines", Text: "go_goroutines rose +80%", P: 0.001, From: 40, To: 72, Change: 0.8, N: 30},
	{Kind: "leak", Task: "GET /orders/{id}", Metric: "window p50", Text: "latency of GET /orders/{id} grew +35%, \"backlog\"", Fail: true,
		P: 0.0004, From: 41200, To: 55620, Change: 0.35, N: 28},
	{Kind: "drift", Task: "POST /orders", Metric: "p95", Text: "p95 crept", P: math.NaN(), From: 1.5, To: 2.25, Change: 0.5, N: 8},
	{Kind: "leak", Task: "GET /health", Metric: "window p50", Text: "latency of GET /health grew", From: 100, To: 150, Change: 0.5, N: 12},
}

const sampleCSV = `Kind,Task,Metric,Severity,P,From,To,Change,N,Text
drift,POST /orders,p95,warn,,1.5,2.25,0.5,8,p95 crept
leak,GET /health,window p50,warn,0,100,150,0.5,12,latency of GET /health grew
leak,GET /orders/{id},window p50,fail,0.0004,41200,55620,0.35,28,"latency of GET /orders/{id} grew +35%, ""backlog"""
signal,,go_goroutines,warn,0.001,40,72,0.8,30,go_goroutines rose +80%
`

// TestWriteCSV: sorted, the documented columns, shortest numbers, the
// input left in its order.
func TestWriteCSV(t *testing.T) {
	in := append([]result.Finding(nil), sample...)
	var b bytes.Buffer
	require.NoError(t, WriteCSV(&b, in))
	assert.Equal(t, sampleCSV, b.String(), "WriteCSV(sample)")
	assert.Equal(t, sample[0].Kind, in[0].Kind, "WriteCSV sorted its argument")

	b.Reset()
	require.NoError(t, WriteCSV(&b, nil))
	assert.Equal(t, strings.Join(Header, ",")+"\n", b.String(), "WriteCSV(nil): the header alone")
}

// TestReadCSV: what WriteCSV wrote reads back equal (NaN as NaN).
func TestReadCSV(t *testing.T) {
	got, err := ReadCSV("f.csv", strings.NewReader(sampleCSV))
	require.NoError(t, err)
	want := append([]result.Finding(nil), sample...)
	Sort(want)
	require.Len(t, got, len(want))
	for i := range want {
		assert.True(t, math.IsNaN(got[i].P) == math.IsNaN(want[i].P), "row %d: P = %g; want %g", i, got[i].P, want[i].P)
		if math.IsNaN(want[i].P) {
			got[i].P, want[i].P = 0, 0
		}
		assert.Equal(t, want[i], got[i], "row %d", i)
	}
}

func TestReadCSVErrors(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	tests := []struct{ name, in, want string }{
		{"bad header", "Kind,Task\n", "f.csv:1: header is"},
		{"bad severity", head + "leak,GET /,window p50,error,0.1,1,2,1,10,x\n", `f.csv:2: Severity: "error": want "fail" or "warn"`},
		{"bad number", head + "leak,GET /,window p50,warn,0.1,one,2,1,10,x\n", `f.csv:2: From: "one": not a finite number`},
		{"negative count", head + "leak,GET /,window p50,warn,0.1,1,2,1,-1,x\n", `f.csv:2: N: "-1": out of range`},
		{"no kind", head + ",GET /,window p50,warn,0.1,1,2,1,1,x\n", "f.csv:2: Kind: empty"},
		{"fields", head + "leak,GET /\n", "f.csv:2: wrong number of fields"},
		{"cut short", head + "leak,GET /,window p50,warn,0.1,1,2,1,1,x", "f.csv:2: the last line has no line ending"},
	}
	for _, tt := range tests {
		_, err := ReadCSV("f.csv", strings.NewReader(tt.in))
		if assert.Error(t, err, "%s: ReadCSV", tt.name) {
			assert.Contains(t, err.Error(), tt.want, "%s: ReadCSV error", tt.name)
		}
	}
}

// TestWrite: the sink writes the segment's file under its name, or the
// test's, and fails the segment when it cannot.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := New(pipeline.Info{Out: dir})
	seg := &pipeline.Segment{Run: &result.Run{Meta: result.Meta{Test: "TestOrders/steady", Start: time.Unix(0, 0)}, Findings: sample}}
	p.Write(seg)
	assert.Empty(t, seg.Verdicts)
	got, err := os.ReadFile(filepath.Join(dir, "TestOrders_steady_findings.csv"))
	require.NoError(t, err)
	assert.Equal(t, sampleCSV, string(got))

	seg.Name = "TestOrders_steady_20260101T000000Z"
	p.Write(seg)
	_, err = os.Stat(Path(dir, seg.Name))
	assert.NoError(t, err, "the segment's own file")

	blocked := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(blocked, nil, 0o644))
	seg = &pipeline.Segment{Run: &result.Run{Meta: result.Meta{Test: "TestX"}}}
	New(pipeline.Info{Out: blocked}).Write(seg)
	require.True(t, seg.Failed(), "a file that cannot be written fails the segment")
	assert.Contains(t, seg.Verdicts[0].Text, "findings not written")
}
