package result

import (
	"fmt"
	"strconv"
	"time"
)

// Shape is the load a run was made under: what makes two runs
// comparable. The fields of the other model are zero, so two shapes are
// the same load exactly when they are ==.
type Shape struct {
	Model string // "open" (fixed arrival rate) or "closed" (users)

	// The open model.
	Rate        float64 // starts per second
	MaxInFlight int

	// The closed model.
	Users     int
	SpawnRate float64 // users per second
	Wait      string  // think time, e.g. "between(1s,5s)"; empty for none

	// Stages is the load over time ("30s:10,2m0s:10,30s:0"), empty for
	// a constant one: Rate or Users is then the stages' peak.
	Stages string

	Duration time.Duration
}

// Shape returns the load shape the run was made under.
func (m Meta) Shape() Shape {
	s := Shape{Model: m.Model, Stages: m.Stages, Duration: m.Duration}
	if m.Model == "open" {
		s.Rate, s.MaxInFlight = m.Rate, m.MaxInFlight
	} else {
		s.Users, s.SpawnRate, s.Wait = m.Users, m.SpawnRate, m.Wait
	}
	return s
}

// Key is the shape as the history files store it in their shape column,
// e.g. "open 10/s 5m0s" or "closed 5 users between(1s,5s) 5m0s": the
// model, its rate or its users and think time ("no-wait" for none), and
// the duration; then, for a load in stages, "stages 30s:10,30s:0". It
// leaves out the open model's in-flight cap and the closed model's spawn
// rate, as it always has: rows recorded before must keep matching.
func (s Shape) Key() string {
	var stages string
	if s.Stages != "" {
		stages = " stages " + s.Stages
	}
	if s.Model == "open" {
		return fmt.Sprintf("open %s/s %s%s", formatRate(s.Rate), s.Duration, stages)
	}
	wait := s.Wait
	if wait == "" {
		wait = "no-wait"
	}
	return fmt.Sprintf("closed %d users %s %s%s", s.Users, wait, s.Duration, stages)
}

// String describes the shape in words, as the log, the gate's notes and
// the report show it: "open model, 10/s, at most 100 in flight, 30s" or
// "closed model, 5 users (spawn 1/s), between(1s,5s), 30s"; a load in
// stages says them in place of the rate or users and spawn rate:
// "open model, stages 30s:10,30s:0 (peak 10/s), at most 100 in flight, 1m0s".
func (s Shape) String() string {
	if s.Model == "open" {
		load := formatRate(s.Rate) + "/s"
		if s.Stages != "" {
			load = "stages " + s.Stages + " (peak " + load + ")"
		}
		return fmt.Sprintf("open model, %s, at most %d in flight, %s", load, s.MaxInFlight, s.Duration)
	}
	wait := s.Wait
	if wait == "" {
		wait = "no think time"
	}
	load := fmt.Sprintf("%d users (spawn %s/s)", s.Users, formatRate(s.SpawnRate))
	if s.Stages != "" {
		load = fmt.Sprintf("stages %s (peak %d users)", s.Stages, s.Users)
	}
	return fmt.Sprintf("closed model, %s, %s, %s", load, wait, s.Duration)
}

// Diff lists how cur differs from s, the baseline's shape: the model;
// then the rate and in-flight cap (open model) or the users, spawn rate
// and think time (closed model); then the stages and the duration. Each
// entry reads
// "rate 10 in the baseline, 20 now". None means the runs are comparable.
func (s Shape) Diff(cur Shape) []string {
	var d []string
	diff := func(what string, b, c any) {
		if b != c {
			d = append(d, fmt.Sprintf("%s %v in the baseline, %v now", what, b, c))
		}
	}
	diff("model", s.Model, cur.Model)
	if len(d) > 0 {
		return d
	}
	if s.Model == "open" {
		diff("rate", s.Rate, cur.Rate)
		diff("max in flight", s.MaxInFlight, cur.MaxInFlight)
	} else {
		diff("users", s.Users, cur.Users)
		diff("spawn rate", s.SpawnRate, cur.SpawnRate)
		diff("think time", s.Wait, cur.Wait)
	}
	diff("stages", stagesOrNone(s.Stages), stagesOrNone(cur.Stages))
	diff("duration", s.Duration, cur.Duration)
	return d
}

// stagesOrNone is a shape's stages as a difference names them: "none" for a
// constant load.
func stagesOrNone(stages string) string {
	if stages == "" {
		return "none"
	}
	return stages
}

// formatRate writes a rate in its shortest form: 10, 0.5, 1e+06.
func formatRate(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
