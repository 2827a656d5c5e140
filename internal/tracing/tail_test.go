package tracing

import (
	"context"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// collect is the next processor of a tail under test: it keeps what it
// is given.
type collect struct {
	mu    sync.Mutex
	spans []sdktrace.ReadOnlySpan
}

func (c *collect) OnStart(context.Context, sdktrace.ReadWriteSpan) {}
func (c *collect) OnEnd(s sdktrace.ReadOnlySpan) {
	c.mu.Lock()
	c.spans = append(c.spans, s)
	c.mu.Unlock()
}
func (c *collect) Shutdown(context.Context) error   { return nil }
func (c *collect) ForceFlush(context.Context) error { return nil }

func (c *collect) byTrace() map[trace.TraceID]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := map[trace.TraceID]int{}
	for _, s := range c.spans {
		m[s.SpanContext().TraceID()]++
	}
	return m
}

// TestTailCaps checks the bounds on memory: tasks in progress beyond
// maxOpen and spans beyond maxSpans per task are dropped and counted,
// the root always kept; a span that ends after its task is dropped.
func TestTailCaps(t *testing.T) {
	next := &collect{}
	tl := newTail(next, 1, 0, 0, 1)
	tl.maxOpen, tl.maxSpans = 2, 3
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tl))
	tracer := tp.Tracer("test")

	type task struct {
		ctx  context.Context
		root trace.Span
	}
	var tasks [3]task
	for i := range tasks {
		ctx, root := tracer.Start(context.Background(), "root", trace.WithNewRoot())
		tl.begin(root.SpanContext().TraceID())
		tasks[i] = task{ctx, root}
	}
	for range 5 {
		_, child := tracer.Start(tasks[0].ctx, "child")
		child.End()
	}
	_, late := tracer.Start(tasks[1].ctx, "late")
	for _, k := range tasks {
		k.root.End()
		tl.finish(k.root.SpanContext().TraceID(), 0, time.Millisecond, true)
	}
	late.End()

	id := func(i int) trace.TraceID { return tasks[i].root.SpanContext().TraceID() }
	assert.Equal(t, map[trace.TraceID]int{id(0): 3, id(1): 1}, next.byTrace(), "spans passed on, by task")
	rootKept := false
	for _, s := range next.spans {
		rootKept = rootKept || s.SpanContext().TraceID() == id(0) && !s.Parent().IsValid()
	}
	assert.True(t, rootKept, "the root of the task with too many spans is kept")
	st := tl.stats()
	assert.Equal(t, 3+1+1, st.overflow, "spans not recorded: 3 children beyond the cap, a task beyond maxOpen, a late child")
	assert.Equal(t, 3, st.tasks)
	assert.Equal(t, 2, st.kept[reasonFailed])
	assert.Empty(t, tl.open, "tasks in progress after all ended")
}

// TestHeldSet checks that a window's held traces are its slowest,
// slowest first, and that take removes one.
func TestHeldSet(t *testing.T) {
	var s heldSet
	for i, ms := range []int{5, 1, 9, 3, 7, 2, 8, 6, 4, 10, 0} {
		s.offer(heldTrace{id: trace.TraceID{byte(i)}, latency: time.Duration(ms) * time.Millisecond})
	}
	got := func() []time.Duration {
		var d []time.Duration
		for _, h := range s.t[:s.n] {
			d = append(d, h.latency/time.Millisecond)
		}
		return d
	}
	require.Equal(t, []time.Duration{10, 9, 8, 7, 6, 5, 4, 3}, got())
	_, ok := s.take(trace.TraceID{4}) // 7 ms
	assert.True(t, ok, "take of a held trace")
	_, ok = s.take(trace.TraceID{1}) // 1 ms: not held
	assert.False(t, ok, "take of a trace not held")
	assert.Equal(t, []time.Duration{10, 9, 8, 6, 5, 4, 3}, got())
}

func TestResolveEndpoint(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"http://localhost:4318", "http://localhost:4318/v1/traces"},
		{"http://localhost:4318/", "http://localhost:4318/v1/traces"},
		{"https://collector.example/otlp", "https://collector.example/otlp/v1/traces"},
		{"http://127.0.0.1:4318/v1/traces", "http://127.0.0.1:4318/v1/traces"},
	} {
		got, err := resolveEndpoint(c.in)
		if err != nil || got != c.want {
			t.Errorf("resolveEndpoint(%q) = (%q, %v); want (%q, nil)", c.in, got, err, c.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"http://h:8080/orders/7", "http://h:8080/orders/7"},
		{"http://user:pass@h/a?token=abc&page=2#frag", "http://h/a?token=REDACTED&page=REDACTED"},
		{"http://h/a?abc123secret", "http://h/a?REDACTED"},
		{"http://h/a?x=&&y", "http://h/a?x=REDACTED&&REDACTED"},
	} {
		u, err := url.Parse(c.in)
		require.NoError(t, err)
		if got := redactURL(u); got != c.want {
			t.Errorf("redactURL(%q) = %q; want %q", c.in, got, c.want)
		}
	}
}
