package loadtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/engine"
)

// A Stage is one stretch of a load that changes over time
// (Scenario.Stages): over Duration the load moves in a straight line
// from the previous stage's Target (the first stage's from 0) to its own.
// A stage whose Target is the previous one's holds it; a stage of no
// Duration is a step.
type Stage struct {
	Duration time.Duration
	// Target is starts per second in the open model, users in the
	// closed model (a whole number).
	Target float64
}

// A Pacer schedules the open model's starts (Scenario.Pacer): Pace is
// given the time since the load began and the number of starts made so
// far, and returns how long to wait before the next start; stop means no
// more starts (the run still lasts its Duration). A Pacer that also has
// a method Due(hits uint64) time.Duration, saying when start number hits
// (from 0) is due from the beginning, has each start's latency and
// lateness counted from its own schedule and the starts it never reached
// counted as dropped; without it, a start is due when Pace said.
type Pacer interface {
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
}

// The engine's arrivals are Pacers, and a Pacer is the engine's arrivals.
var (
	_ Pacer           = engine.Arrivals(nil)
	_ engine.Arrivals = Pacer(nil)
)

// parseStages parses stages as -loadtest.stages takes them: comma-separated
// duration:target pairs, "30s:10,2m:10,30s:0". An error gives the column
// (from 1) of the stage that is wrong.
func parseStages(s string) ([]Stage, error) {
	var stages []Stage
	col := 1
	for i, part := range strings.Split(s, ",") {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("column %d: stage %d %q: %s", col, i+1, part, fmt.Sprintf(format, args...))
		}
		d, t, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			return nil, bad("want duration:target, e.g. 30s:10")
		}
		dur, err := time.ParseDuration(d)
		if err != nil || dur < 0 {
			return nil, bad("duration %q: want a duration of 0s or more, e.g. 30s or 2m", d)
		}
		target, err := strconv.ParseFloat(t, 64)
		if err != nil || target < 0 || math.IsInf(target, 0) || math.IsNaN(target) {
			return nil, bad("target %q: want a number of 0 or more", t)
		}
		stages = append(stages, Stage{dur, target})
		col += len(part) + 1
	}
	return stages, nil
}

// engineStages are stages as the engine takes them.
func engineStages(stages []Stage) []engine.Stage {
	out := make([]engine.Stage, len(stages))
	for i, s := range stages {
		out[i] = engine.Stage(s)
	}
	return out
}

// formatStages writes stages as the meta file and the log say them:
// "30s:10,2m0s:10,30s:0"; empty for none.
func formatStages(stages []Stage) string {
	if len(stages) == 0 {
		return ""
	}
	return engine.FormatStages(engineStages(stages))
}

// checkStages checks the plan's stages, when it has any, and makes the
// plan's Duration their sum and its Rate or Users their peak. durationSet
// says -loadtest.duration was given.
func (p *plan) checkStages(durationSet bool, bad func(format string, args ...any)) {
	if len(p.Stages) == 0 {
		return
	}
	var sum time.Duration
	peak := 0.0
	for i, s := range p.Stages {
		switch {
		case s.Duration < 0:
			bad("stage %d: duration %s is negative", i+1, s.Duration)
		case s.Target < 0 || math.IsNaN(s.Target) || math.IsInf(s.Target, 0):
			bad("stage %d: target %g is not a number of 0 or more", i+1, s.Target)
		case !p.open && s.Target != math.Trunc(s.Target):
			bad("stage %d: target %g: the closed model's targets are users, a whole number", i+1, s.Target)
		}
		sum += s.Duration
		peak = max(peak, s.Target)
	}
	switch {
	case sum <= 0:
		bad("stages %s: last no time", formatStages(p.Stages))
	case peak <= 0:
		bad("stages %s: no load: every target is 0", formatStages(p.Stages))
	}
	switch {
	case p.endless:
		bad("a run without end cannot have stages: their durations add up to the run's")
	case durationSet:
		bad("-loadtest.duration and stages are both set: the stages' durations add up to the run's")
	case p.Duration != 0 && p.Duration != sum:
		bad("duration %s and stages of %s: leave Duration zero, the stages' durations add up to the run's", p.Duration, sum)
	}
	if p.Pacer != nil {
		bad("both Pacer and stages are set: the pacer schedules the starts, or the stages do")
	}
	if !p.shard.Whole() {
		bad("-loadtest.shard with stages: a load in stages is not split into shards")
	}
	p.Duration = sum
	if p.open {
		p.Rate = peak
	} else {
		p.Users = int(peak)
	}
}
