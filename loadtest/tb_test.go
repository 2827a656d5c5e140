package loadtest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// captureTB is a testing.TB that records what Run reports instead of
// failing the test, so tests can check the messages themselves. Fatalf
// records and returns: Run returns right after calling it. Use it as
// newCaptureTB(t); the real t still provides Name, Cleanup and TempDir.
type captureTB struct {
	testing.TB
	ctx      context.Context
	deadline time.Time // zero: none
	quiet    bool      // keep no log lines (long runs)

	mu     sync.Mutex
	errs   []string
	fatals []string
	logs   []string
}

func newCaptureTB(t *testing.T) *captureTB { return &captureTB{TB: t, ctx: t.Context()} }

func (c *captureTB) Helper() {}

func (c *captureTB) Context() context.Context { return c.ctx }

func (c *captureTB) Deadline() (time.Time, bool) { return c.deadline, !c.deadline.IsZero() }

func (c *captureTB) add(dst *[]string, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	*dst = append(*dst, s)
}

func (c *captureTB) Errorf(format string, args ...any) { c.add(&c.errs, fmt.Sprintf(format, args...)) }
func (c *captureTB) Error(args ...any)                 { c.add(&c.errs, fmt.Sprint(args...)) }
func (c *captureTB) Fatalf(format string, args ...any) {
	c.add(&c.fatals, fmt.Sprintf(format, args...))
}
func (c *captureTB) Fatal(args ...any) { c.add(&c.fatals, fmt.Sprint(args...)) }
func (c *captureTB) Logf(format string, args ...any) {
	if !c.quiet {
		c.add(&c.logs, fmt.Sprintf(format, args...))
	}
}

func (c *captureTB) Log(args ...any) {
	if !c.quiet {
		c.add(&c.logs, fmt.Sprint(args...))
	}
}
func (c *captureTB) Failed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.errs)+len(c.fatals) > 0
}

// messages returns every error and fatal message, joined by newlines.
func (c *captureTB) messages() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(append(append([]string(nil), c.fatals...), c.errs...), "\n")
}

// logText returns every log line, joined by newlines.
func (c *captureTB) logText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return strings.Join(c.logs, "\n")
}

// resultOf is the data of a judged segment; nil when the run never
// started.
func resultOf(seg *pipeline.Segment) *result.Run {
	if seg == nil {
		return nil
	}
	return seg.Run
}
