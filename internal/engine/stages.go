package engine

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// A Stage is one stretch of a load that changes over time: over Duration
// the target moves in a straight line from the previous stage's (the
// first stage's from 0) to Target, then the next stage begins. A stage
// whose Target equals the previous one holds it; a stage of no Duration
// is a step.
type Stage struct {
	Duration time.Duration
	Target   float64 // starts per second (open model) or users (closed model)
}

// Staged is the open model's arrivals along stages: the rate in starts
// per second is piecewise linear in time, and start k (from 0) is due
// when the integral of the rate from the start of the run passes k. Due
// is in closed form per stage, so the schedule does not drift however
// long the run; a stage whose rate is 0 throughout has no start in it.
// Make it with NewStaged.
type Staged struct {
	stages []Stage
	from   []float64       // each stage's starting rate
	begin  []time.Duration // each stage's start, from the run's
	before []float64       // starts due before each stage: the integral up to its start
	total  float64         // starts due in all the stages
}

var _ Arrivals = (*Staged)(nil)

// NewStaged returns the arrivals of stages, which the caller has checked:
// durations and targets finite and not negative.
func NewStaged(stages []Stage) *Staged {
	s := &Staged{stages: stages}
	var at time.Duration
	var rate, n float64
	for _, st := range stages {
		s.from = append(s.from, rate)
		s.begin = append(s.begin, at)
		s.before = append(s.before, n)
		n += (rate + st.Target) / 2 * st.Duration.Seconds()
		at += st.Duration
		rate = st.Target
	}
	s.total = n
	return s
}

// Duration returns the length of all the stages together.
func (s *Staged) Duration() time.Duration {
	var d time.Duration
	for _, st := range s.stages {
		d += st.Duration
	}
	return d
}

// Due returns when start number hits (from 0) is due, from the beginning
// of the run: the time the integral of the rate passes hits. A start
// beyond the last stage's is due at the end of the stages.
func (s *Staged) Due(hits uint64) time.Duration {
	k := float64(hits)
	for i, st := range s.stages {
		end := s.before[i] + (s.from[i]+st.Target)/2*st.Duration.Seconds()
		if end <= k {
			continue // all of the stage's starts come before k's
		}
		// Within the stage the rate is a + (b-a)·t/D, so the starts due
		// by t number a·t + (b-a)·t²/(2D); solve that for m = k - the
		// starts before the stage, in the form that keeps its precision
		// when b is close to a: t = 2m / (a + √(a² + 2(b-a)m/D)).
		a, b, d := s.from[i], st.Target, st.Duration.Seconds()
		m := k - s.before[i]
		root := math.Sqrt(max(0, a*a+2*(b-a)*m/d))
		t := 0.0
		if den := a + root; den > 0 {
			t = 2 * m / den
		}
		return s.begin[i] + min(time.Duration(t*float64(time.Second)), st.Duration)
	}
	return s.Duration()
}

// Pace implements Arrivals: the wait until Due(hits), and stop once every
// start of the stages has been made.
func (s *Staged) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if float64(hits) >= s.total {
		return 0, true
	}
	due := s.Due(hits)
	if due <= elapsed {
		return 0, false
	}
	return due - elapsed, false
}

// String returns the stages as "30s:10,2m0s:10,30s:0".
func (s *Staged) String() string { return FormatStages(s.stages) }

// FormatStages writes stages as "30s:10,2m0s:10,30s:0": each stage's
// duration and target, as -loadtest.stages takes them.
func FormatStages(stages []Stage) string {
	parts := make([]string, len(stages))
	for i, st := range stages {
		parts[i] = fmt.Sprintf("%s:%s", st.Duration, formatFloat(st.Target))
	}
	return strings.Join(parts, ",")
}

func formatFloat(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// A span is a stretch of the run, from its start, in which a closed-model
// user runs.
type span struct{ from, to time.Duration }

// userSpans returns the stretches of the stages in which closed-model
// user id runs: while the target is at least id+1. It starts when the
// target first reaches id+1 and stops when the target falls below it.
// Adjacent stretches are joined.
func userSpans(stages []Stage, id int) []span {
	need := float64(id + 1)
	var spans []span
	add := func(from, to time.Duration) {
		if to <= from {
			return
		}
		if n := len(spans); n > 0 && spans[n-1].to == from {
			spans[n-1].to = to
			return
		}
		spans = append(spans, span{from, to})
	}
	var at time.Duration
	a := 0.0
	for _, st := range stages {
		b, d := st.Target, st.Duration
		// cross is when the line from a to b passes need.
		cross := func() time.Duration {
			return time.Duration(float64(d) * (need - a) / (b - a))
		}
		switch {
		case a >= need && b >= need:
			add(at, at+d)
		case a < need && b >= need: // rising through need
			add(at+cross(), at+d)
		case a >= need && b < need: // falling below need
			add(at, at+cross())
		}
		at += d
		a = b
	}
	return spans
}
