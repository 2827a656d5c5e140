package alert

import (
	"context"
	"fmt"
	"time"

	"github.com/steadyload/steadyload/internal/pipeline"
)

// The statuses of the messages of an outage, and its kind.
const (
	Paused    = "paused"
	Recovered = "recovered"
	Outage    = "outage"
)

var _ pipeline.EventSink = (*Part)(nil)

// Event posts a run's pause and its recovery as they happen: one "paused"
// message when the load stops for an unhealthy target, one "recovered"
// message, with the outage's length, when it resumes. Probes are not
// announced. The post runs in the background, bounded by the timeout; the
// last segment's Write waits for it, and a failed post is a warning of
// that segment.
func (p *Part) Event(e pipeline.Event) {
	var status string
	switch e.Kind {
	case pipeline.Paused:
		status = Paused
	case pipeline.Resumed:
		status = Recovered
	default:
		return
	}
	m := Message{
		Text:   fmt.Sprintf("steadyload %s (%s): %s", p.info.Test, p.info.Env, e.Text),
		Status: status, Test: p.info.Test, Kind: Outage, Severity: Fail,
		RunID: p.cfg.RunID, Env: p.info.Env, StartedAt: stamp(e.At.Add(-e.Outage)), Details: e.Text,
	}
	if e.Kind == pipeline.Resumed {
		m.ResolvedAt = stamp(e.At)
	}
	// Posted in order: each waits for the one before, so that a retried
	// "paused" never arrives after its "recovered".
	p.mu.Lock()
	prev, done := p.lastEvent, make(chan struct{})
	p.lastEvent = done
	p.mu.Unlock()
	p.events.Add(1)
	go func() {
		defer p.events.Done()
		defer close(done)
		if prev != nil {
			<-prev
		}
		ctx, cancel := context.WithTimeout(context.Background(), p.cfg.Timeout)
		defer cancel()
		if err := p.post(ctx, m); err != nil {
			p.mu.Lock()
			p.failed = append(p.failed, fmt.Sprintf("alert: the %s message did not reach the webhook at %s: %v", status, p.where(), err))
			p.mu.Unlock()
		}
	}()
}

// flushEvents waits for the events' posts, bounded by the timeout, and
// records the failed ones as warnings of seg.
func (p *Part) flushEvents(seg *pipeline.Segment) {
	done := make(chan struct{})
	go func() { p.events.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(p.cfg.Timeout):
	}
	p.mu.Lock()
	failed := p.failed
	p.failed = nil
	p.mu.Unlock()
	for _, f := range failed {
		seg.Warnf("%s", f)
	}
}
