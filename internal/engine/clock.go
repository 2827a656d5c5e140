package engine

import (
	"fmt"
	"time"
)

// clock closes a window every Window from the start, and a segment every
// Segment (a whole number of windows). The last window runs from its
// start to the end of the run, grace included, so no window is a sliver;
// the last segment is cut once the load has ended (Final).
func (e *Engine[U]) clock(startsDone, finished <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	c := e.cfg
	perSegment := 0
	if c.Segment > 0 {
		perSegment = int(c.Segment / c.Window)
	}
	winStart := e.t0
	tm := time.NewTimer(c.Window)
	defer tm.Stop()
	for n := 1; ; n++ {
		next := winStart.Add(c.Window)
		var tick <-chan time.Time
		if next.Before(e.stopAt) {
			tm.Reset(time.Until(next))
			tick = tm.C
		}
		select {
		case <-tick:
			// A segment ends with its last window, unless the load has
			// stopped: the windows of the grace period belong to the last
			// segment, cut once it is over.
			cut := perSegment > 0 && n%perSegment == 0
			select {
			case <-startsDone:
				cut = false
			default:
			}
			data := e.closeWindow(winStart, c.Window, time.Since(next)-e.clockHeld, cut)
			e.clockHeld = 0
			if data != nil {
				seg := e.cutSegment(next, data)
				if e.hooks.Segment != nil {
					held := time.Now()
					e.hooks.Segment(seg)
					e.clockHeld = time.Since(held) // the clock's own delay, not the generator's
				}
			}
			winStart = next
		case <-finished:
			e.closeWindow(winStart, time.Since(winStart), 0, false)
			return
		}
	}
}

// closeWindow closes the window of length from start; its clock fired
// late after it. A window whose figures are the generator's — its clock
// jumped, its starts fell far behind — is marked so. With cut, the window
// ends a segment: its figures are returned, cut with the window.
func (e *Engine[U]) closeWindow(start time.Time, length, late time.Duration, cut bool) *Measures {
	users := int(e.InFlight())
	why := e.generatorTrouble(late)
	rows, data := e.rec.Close(start, start.Sub(e.t0), length, users, why, cut)
	if why != "" {
		e.starved++
		e.logf("loadtest: window at %s: %s; its latencies are the generator's, not charged to the target", start.Sub(e.t0).Round(time.Second), why)
	}
	if e.hooks.Window != nil {
		e.hooks.Window(rows)
	}
	return data
}

// generatorTrouble says what kept the generator from measuring the
// target in the window just closed, if anything: a clock that fired a
// window's length late or more (the machine was suspended, or starved
// for that long), or a p99 start lag in the window (open model) above
// ten times the lag a start may have and 50 ms.
func (e *Engine[U]) generatorTrouble(late time.Duration) string {
	c := e.cfg
	e.lagMu.Lock()
	lagP99 := time.Duration(e.winLag.ValueAtPercentile(99)) * time.Microsecond
	e.lag.Merge(e.winLag)
	e.winLag.Reset()
	e.lagMu.Unlock()
	switch {
	case late >= max(c.Window, time.Second):
		return fmt.Sprintf("the generator's clock jumped %s: its machine was suspended or starved", late.Round(time.Millisecond))
	case c.Open && lagP99 > max(50*time.Millisecond, 10*(c.LateTolerance+c.Coalesce)):
		return fmt.Sprintf("the generator was starved: its starts were %s behind schedule (p99)", lagP99.Round(10*time.Millisecond))
	}
	return ""
}

// cutSegment makes the segment that ends at end of the recorder's figures
// m, with the schedule's keeping since the last cut, and starts the next.
func (e *Engine[U]) cutSegment(end time.Time, m *Measures) *Segment {
	if end.Before(e.segStart) {
		end = e.segStart // never a segment of negative length
	}
	e.lagMu.Lock()
	lagP50, lagP99 := e.lag.ValueAtPercentile(50), e.lag.ValueAtPercentile(99)
	e.lag.Reset()
	e.lagMu.Unlock()
	scheduled, late, dropped, waited := e.scheduled.Load(), e.late.Load(), e.dropped.Load(), e.waited.Load()
	seg := &Segment{
		Start: e.segStart, End: end, Measures: m,
		Scheduled: scheduled - e.segBase.scheduled,
		Late:      late - e.segBase.late,
		Dropped:   dropped - e.segBase.dropped,
		Waited:    waited - e.segBase.waited,
		MaxLag:    time.Duration(e.maxLag.Swap(0)),
		LagP50:    time.Duration(lagP50) * time.Microsecond,
		LagP99:    time.Duration(lagP99) * time.Microsecond,
		Starved:   e.starved,
	}
	e.segBase.scheduled, e.segBase.late, e.segBase.dropped, e.segBase.waited = scheduled, late, dropped, waited
	e.starved = 0
	if e.hold != nil {
		seg.Paused, seg.Outages = e.hold.cut(end)
	}
	e.segStart = end
	return seg
}
