package loadtest

import (
	"compress/gzip"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver on loopback: it decodes
// each export and keeps the trace ids of the root spans it got.
type otlpReceiver struct {
	mu     sync.Mutex
	traces map[string]bool
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	b, err := io.ReadAll(body)
	var msg coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(b, &msg)
	}
	if err != nil || req.URL.Path != "/v1/traces" {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	for _, rs := range msg.ResourceSpans {
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				o.traces[hexID(s.TraceId)] = true
			}
		}
	}
	o.mu.Unlock()
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func hexID(b []byte) string {
	const digits = "0123456789abcdef"
	s := make([]byte, 0, 2*len(b))
	for _, c := range b {
		s = append(s, digits[c>>4], digits[c&15])
	}
	return string(s)
}

// TestTracesWired: with -loadtest.otlp, every failed request's trace
// reaches the collector, under the trace id the target received in its
// traceparent, and the exemplars the run writes name exported traces.
func TestTracesWired(t *testing.T) {
	recv := &otlpReceiver{traces: map[string]bool{}}
	collector := httptest.NewServer(recv)
	defer collector.Close()
	var n atomic.Int64
	var mu sync.Mutex
	var failedTraces []string
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		tp := strings.Split(req.Header.Get("traceparent"), "-")
		if n.Add(1)%10 == 0 {
			mu.Lock()
			if len(tp) == 4 {
				failedTraces = append(failedTraces, tp[1])
			}
			mu.Unlock()
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		time.Sleep(2 * time.Millisecond)
		io.WriteString(w, "ok")
	}))
	defer target.Close()

	out := t.TempDir()
	fs := newFlagSet()
	fl, tf, rf := newFlags(fs), newTraceFlags(fs), newReportFlags(fs)
	require.NoError(t, fs.Parse([]string{"-loadtest.out=" + out, "-loadtest.otlp=" + collector.URL, "-loadtest.max-failure-ratio=-1"}))
	tb := newCaptureTB(t)
	seg := runWith(tb, Scenario{
		Host: target.URL, Rate: 50, Duration: 2 * time.Second, Window: 500 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)}, LateTolerance: 100 * time.Millisecond, MaxLateRatio: 0.5,
	}, runOptions{flags: fl, parts: parts{traces: tf, report: rf}})
	require.NotNil(t, seg, tb.messages())
	assert.Empty(t, tb.messages())

	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, failedTraces, "failures the target answered")
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, id := range failedTraces {
		assert.True(t, recv.traces[id], "the trace of a failed request, %s, was exported", id)
	}
	assert.Less(t, len(recv.traces), int(n.Load()), "traces exported: not every request's")

	f, err := os.Open(filepath.Join(out, seg.Name+"_exemplars.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.Greater(t, len(rows), 1, "exemplars")
	for _, row := range rows[1:] {
		id := row[len(row)-1]
		assert.True(t, recv.traces[id], "exemplar %s's trace was exported", id)
	}
}
