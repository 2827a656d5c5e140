// Package runcheck is the harness's own judgement of a run, whatever the
// target: a run cut short, no data, a task failing too often, a generator
// that could not keep its schedule. The harness applies it to every
// segment it measures, and the steadyload command to a run read back from
// its results folder, so both say the same of the same run.
//
//	for _, msg := range runcheck.Check(res, runcheck.Config{MaxFailureRatio: 0.01, MaxLateRatio: 0.01}) {
//		seg.Failf("%s", msg)
//	}
package runcheck

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/steadyload/steadyload/internal/class"
	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Config is what the checks allow.
type Config struct {
	// MaxFailureRatio is the highest failure ratio a task may have;
	// negative: no limit.
	MaxFailureRatio float64
	// MaxLateRatio is the highest share of the open model's starts that
	// may be late (by the generator, or for a slot) or dropped.
	MaxLateRatio float64
	// LateTolerance is how late a start may be before it counts as late;
	// the message says it (with the coalescing in force).
	LateTolerance time.Duration
	// Endless marks a segment of a run without end: such a run ends when
	// it is stopped, so its last, interrupted segment fails nothing.
	Endless bool
}

// Check decides, once, from the whole run, what is wrong with it. Each
// problem is one message; none means the run passed.
func Check(res *result.Run, c Config) []string {
	var problems []string
	m := res.Meta
	stopped := c.Endless && m.Status == result.Interrupted
	if m.Status != result.Complete && !stopped {
		problems = append(problems, fmt.Sprintf("run %s: %s; results written are partial", m.Status, m.Reason))
	}
	if (res.Total == nil || res.Total.Requests == 0) && !stopped {
		problems = append(problems, "no request completed: no data, no verdict")
	}
	for _, t := range res.Tasks {
		reqs, fails := t.Requests, t.Failures
		if stopped || m.Outages > 0 || m.Paused > 0 { // the tasks a stop or a pause cut off are not the target's failures
			cut := occurrences(res.Failures, t, class.Stopped)
			reqs, fails = reqs-cut, fails-cut
		}
		if c.MaxFailureRatio < 0 || reqs == 0 {
			continue
		}
		if ratio := float64(fails) / float64(reqs); ratio > c.MaxFailureRatio {
			problems = append(problems, fmt.Sprintf("task %q: %d of %d requests failed (%.1f%% > %s): %s",
				t.Key(), fails, reqs, 100*ratio, numfmt.Percent(c.MaxFailureRatio), TopErrors(res.Failures, t, 3)))
		}
	}
	if m.Model == "open" && !HeldRate(m, c.MaxLateRatio) {
		n, bad := notOnTime(m)
		problems = append(problems, fmt.Sprintf("the load was not held at %s/s: of %d starts, %s (%.1f%% > %s); %s",
			strconv.FormatFloat(m.Rate, 'g', -1, 64), n, behind(m, c.LateTolerance+m.Coalesce),
			100*float64(bad)/float64(n), numfmt.Percent(c.MaxLateRatio), behindRemedy(m)))
	}
	return problems
}

// notOnTime returns how many starts the open model had to make in m,
// those never made included, and how many of them were not made on time:
// late, waited for a slot, or never made.
func notOnTime(m result.Meta) (n, bad int64) {
	return m.Scheduled + m.Dropped, m.Late + m.Waited + m.Dropped
}

// behind says which of the open model's starts in m were not made on
// time, and whose doing it was: "3 were more than 20ms late, the
// generator's (worst lag 150ms), 40 were more than 20ms late for a slot,
// every one of the 100 taken by a task in flight, 12 were never made".
// late is how late a start may be made.
func behind(m result.Meta, late time.Duration) string {
	var parts []string
	if m.Late > 0 {
		parts = append(parts, fmt.Sprintf("%d %s more than %s late, the generator's (worst lag %s)", m.Late, were(m.Late), late, m.MaxLag.Round(100*time.Microsecond)))
	}
	if m.Waited > 0 {
		parts = append(parts, fmt.Sprintf("%d %s more than %s late for a slot, every one of the %d taken by a task in flight", m.Waited, were(m.Waited), late, m.MaxInFlight))
	}
	if m.Dropped > 0 {
		parts = append(parts, fmt.Sprintf("%d %s never made", m.Dropped, were(m.Dropped)))
	}
	if len(parts) == 0 {
		return "every one on time"
	}
	return strings.Join(parts, ", ")
}

func were(n int64) string {
	if n == 1 {
		return "was"
	}
	return "were"
}

// behindRemedy is what to do about the starts behind lists: a generator
// that fell behind needs CPU or a lower rate; a target that held every
// slot answered slowly (the latencies show it), or needs more in flight.
// Starts never made may be either's.
func behindRemedy(m result.Meta) string {
	switch {
	case m.Late == 0 && m.Waited > 0:
		return "the target answered too slowly for the rate (its latencies show it); raise -loadtest.max-in-flight if it is meant to"
	case m.Waited == 0 && m.Dropped == 0:
		return "lower the rate, or give the generator more CPU"
	}
	return "raise -loadtest.max-in-flight, lower the rate, or give the generator more CPU"
}

// HeldRate reports whether the open model held its rate in the run m
// describes: unless the share of its starts that were late, waited for a
// slot or were never made is above maxLate, and by more than chance
// explains — a one-sided binomial test at the 1 % level, so that one late
// start in thirty on a short run is not called a failure, while a load
// that really falls behind is.
func HeldRate(m result.Meta, maxLate float64) bool {
	n, bad := notOnTime(m)
	if n <= 0 || float64(bad)/float64(n) <= maxLate {
		return true
	}
	if maxLate <= 0 {
		return false
	}
	// P(X ≥ bad) for X ~ Binomial(n, maxLate).
	p := distuv.Binomial{N: float64(n), P: min(maxLate, 1)}.Survival(float64(bad) - 0.5)
	return p >= 0.01
}

// TopErrors lists the n most common errors of task t, "30× HTTP 503 (http)".
func TopErrors(fails []result.Failure, t *result.Task, n int) string {
	var parts []string
	for _, f := range fails { // sorted by task, then count descending
		if f.Type != t.Type || f.Name != t.Name {
			continue
		}
		if len(parts) == n {
			parts = append(parts, "…")
			break
		}
		parts = append(parts, fmt.Sprintf("%d× %s (%s)", f.Occurrences, f.Error, f.Class))
	}
	return strings.Join(parts, ", ")
}

// occurrences counts task t's failures of class c.
func occurrences(fails []result.Failure, t *result.Task, c string) int64 {
	var n int64
	for _, f := range fails {
		if f.Type == t.Type && f.Name == t.Name && f.Class == c {
			n += f.Occurrences
		}
	}
	return n
}
