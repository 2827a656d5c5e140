package tracing

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/steadyload/steadyload/loadtest/result"
)

// reason is why a task's trace was exported.
type reason int

const (
	reasonFailed   reason = iota // the task failed
	reasonSlow                   // at least Config.Slow, or above the task's running p99
	reasonExemplar               // the recorder chose it as an exemplar of its window
	reasonRatio                  // drawn at Config.Ratio
	nReasons
	reasonNone reason = -1 // not kept (yet)
)

// The caps that bound tracing's memory.
const (
	// heldPerWindow is how many of a task's slowest traces that no rule
	// kept are held per window, waiting to be named exemplars: at least
	// the recorder's exemplars per window (3), with room for ties and
	// for tasks that end on a window's edge.
	heldPerWindow = 8
	// maxSlowPerWindow caps the traces kept per task and window for
	// being above the running p99, so that a window slower than all
	// before it does not export every task.
	maxSlowPerWindow = 100
	// maxOpen caps the tasks in progress whose spans are buffered.
	maxOpen = 1 << 14
	// maxSpans caps the spans buffered per task, its root included.
	maxSpans = 64
	// minP99Samples is how many successes a task needs before its
	// running p99 keeps anything; p99Every is how often, in successes,
	// the p99 is read again from the task's histogram.
	minP99Samples = 100
	p99Every      = 64
)

// tail is the span processor that samples at the end of a task: it
// buffers each task's spans until the task ends, then passes them on to
// next (the exporter's batch processor) or holds or drops them.
type tail struct {
	next              sdktrace.SpanProcessor
	ratio             float64
	slow              time.Duration
	maxOpen, maxSpans int

	mu     sync.Mutex
	rand   *rand.Rand
	open   map[trace.TraceID]*trail   // tasks in progress
	wanted map[trace.TraceID]struct{} // exemplars of the last window still in progress
	tasks  []taskTail                 // by task index
	st     stats
	closed bool
}

var _ sdktrace.SpanProcessor = (*tail)(nil)

// trail is the spans of a task in progress, in the order they ended.
type trail struct{ spans []sdktrace.ReadOnlySpan }

// taskTail is what the sampling knows of one task.
type taskTail struct {
	hist      *hdrhistogram.Histogram // latencies of its successes, µs
	p99       int64                   // µs; 0 until minP99Samples
	sinceP99  int
	slowKept  int     // kept above p99 in the current window
	cur, prev heldSet // held in the current and the previous window
}

// heldSet is a task's slowest traces of a window that no rule kept,
// slowest first.
type heldSet struct {
	n int
	t [heldPerWindow]heldTrace
}

type heldTrace struct {
	id      trace.TraceID
	latency time.Duration
	spans   []sdktrace.ReadOnlySpan
}

// stats counts what the sampling did.
type stats struct {
	tasks     int           // tasks ended
	kept      [nReasons]int // tasks kept, by reason
	keptSpans int           // spans passed to the exporter
	overflow  int           // spans not recorded: no task in progress, or beyond the caps
}

func (s stats) keptTasks() int {
	n := 0
	for _, k := range s.kept {
		n += k
	}
	return n
}

func newTail(next sdktrace.SpanProcessor, tasks int, ratio float64, slow time.Duration, seed uint64) *tail {
	if seed == 0 {
		seed = rand.Uint64()
	}
	t := &tail{
		next: next, ratio: ratio, slow: slow, maxOpen: maxOpen, maxSpans: maxSpans,
		rand:   rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		open:   make(map[trace.TraceID]*trail),
		wanted: make(map[trace.TraceID]struct{}),
		tasks:  make([]taskTail, tasks),
	}
	for i := range t.tasks {
		t.tasks[i].hist = result.NewWindowHistogram()
	}
	return t
}

// begin starts buffering the spans of trace id, a task that started.
func (t *tail) begin(id trace.TraceID) {
	t.mu.Lock()
	if !t.closed && len(t.open) < t.maxOpen {
		t.open[id] = &trail{}
	}
	t.mu.Unlock()
}

// OnStart is part of sdktrace.SpanProcessor.
func (t *tail) OnStart(context.Context, sdktrace.ReadWriteSpan) {}

// OnEnd buffers s with its task's spans. The root, which ends last, is
// always kept; a span that ends after its task is dropped.
func (t *tail) OnEnd(s sdktrace.ReadOnlySpan) {
	id := s.SpanContext().TraceID()
	t.mu.Lock()
	tr := t.open[id]
	if tr == nil || len(tr.spans) >= t.maxSpans-1 && s.Parent().IsValid() {
		t.st.overflow++
	} else {
		tr.spans = append(tr.spans, s)
	}
	t.mu.Unlock()
}

// finish decides, as task ended, whether the spans of trace id are
// exported now, held until its window closes, or dropped.
func (t *tail) finish(id trace.TraceID, task int, latency time.Duration, failed bool) {
	t.mu.Lock()
	tr := t.open[id]
	delete(t.open, id)
	t.st.tasks++
	if tr == nil {
		t.mu.Unlock()
		return
	}
	var out []sdktrace.ReadOnlySpan
	if r := t.decide(id, task, latency, failed); r != reasonNone {
		out = tr.spans
		t.st.kept[r]++
		t.st.keptSpans += len(out)
	} else {
		t.tasks[task].cur.offer(heldTrace{id: id, latency: latency, spans: tr.spans})
	}
	t.mu.Unlock()
	t.export(out)
}

// decide returns why a task's trace is kept now, or reasonNone.
func (t *tail) decide(id trace.TraceID, task int, latency time.Duration, failed bool) reason {
	if failed {
		return reasonFailed
	}
	tt := &t.tasks[task]
	us := min(max(latency.Microseconds(), result.MinLatency), result.MaxLatency)
	tt.hist.RecordValue(us)
	if tt.sinceP99++; tt.sinceP99 >= p99Every && tt.hist.TotalCount() >= minP99Samples {
		tt.p99, tt.sinceP99 = tt.hist.ValueAtQuantile(99), 0
	}
	if _, ok := t.wanted[id]; ok {
		delete(t.wanted, id)
		return reasonExemplar
	}
	if t.slow > 0 && latency >= t.slow {
		return reasonSlow
	}
	if tt.p99 > 0 && us > tt.p99 && tt.slowKept < maxSlowPerWindow {
		tt.slowKept++
		return reasonSlow
	}
	if t.ratio > 0 && t.rand.Float64() < t.ratio {
		return reasonRatio
	}
	return reasonNone
}

// window exports the held traces among ids, the exemplars of the window
// that just closed, and remembers those still in progress; then the
// window's held traces become the previous window's, and the previous
// window's are dropped. An exemplar recorded in a window ended in it or
// in the one before, so both are searched.
func (t *tail) window(ids []trace.TraceID) {
	var out []sdktrace.ReadOnlySpan
	t.mu.Lock()
	clear(t.wanted)
	for _, id := range ids {
		found := false
		for i := range t.tasks {
			tt := &t.tasks[i]
			spans, ok := tt.cur.take(id)
			if !ok {
				spans, ok = tt.prev.take(id)
			}
			if ok {
				out = append(out, spans...)
				t.st.kept[reasonExemplar]++
				t.st.keptSpans += len(spans)
				found = true
				break
			}
		}
		if _, open := t.open[id]; !found && open {
			t.wanted[id] = struct{}{}
		}
	}
	for i := range t.tasks {
		tt := &t.tasks[i]
		tt.prev, tt.cur, tt.slowKept = tt.cur, heldSet{}, 0
	}
	t.mu.Unlock()
	t.export(out)
}

func (t *tail) export(spans []sdktrace.ReadOnlySpan) {
	for _, s := range spans {
		t.next.OnEnd(s)
	}
}

func (t *tail) stats() stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

// Shutdown drops what is buffered and held, and shuts the exporter down.
func (t *tail) Shutdown(ctx context.Context) error {
	t.mu.Lock()
	t.closed = true
	clear(t.open)
	clear(t.wanted)
	for i := range t.tasks {
		t.tasks[i].cur, t.tasks[i].prev = heldSet{}, heldSet{}
	}
	t.mu.Unlock()
	return t.next.Shutdown(ctx)
}

// ForceFlush exports what is queued for export.
func (t *tail) ForceFlush(ctx context.Context) error { return t.next.ForceFlush(ctx) }

// offer holds h if it is among the set's slowest.
func (s *heldSet) offer(h heldTrace) {
	n := s.n
	if n == len(s.t) && h.latency <= s.t[n-1].latency {
		return
	}
	if n < len(s.t) {
		n++
		s.n = n
	}
	i := n - 1
	for ; i > 0 && s.t[i-1].latency < h.latency; i-- {
		s.t[i] = s.t[i-1]
	}
	s.t[i] = h
}

// take removes the trace id from the set and returns its spans.
func (s *heldSet) take(id trace.TraceID) ([]sdktrace.ReadOnlySpan, bool) {
	for i := range s.n {
		if s.t[i].id == id {
			spans := s.t[i].spans
			copy(s.t[i:s.n], s.t[i+1:s.n])
			s.n--
			s.t[s.n] = heldTrace{}
			return spans, true
		}
	}
	return nil, false
}
