package loadtest

import (
	"fmt"
	"strings"

	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/loadtest/result"
)

// verdict decides, once, from the whole run, what is wrong with it. Each
// problem is one message; none means the run passed the harness's own
// checks.
func (r *runner) verdict(res *result.Run) []string {
	p := r.plan
	var problems []string
	m := res.Meta
	// A run without end ends when it is stopped: its last, partial
	// segment is written (and never recorded) but fails nothing.
	stopped := p.endless && m.Status == result.Interrupted
	if m.Status != result.Complete && !stopped {
		problems = append(problems, fmt.Sprintf("run %s: %s; results written are partial", m.Status, m.Reason))
	}
	if (res.Total == nil || res.Total.Requests == 0) && !stopped {
		problems = append(problems, "no request completed: no data, no verdict")
	}
	for _, t := range res.Tasks {
		reqs, fails := t.Requests, t.Failures
		if stopped { // the tasks the stop cut off are not the target's failures
			cut := occurrences(res.Failures, t, ClassStopped)
			reqs, fails = reqs-cut, fails-cut
		}
		if p.MaxFailureRatio < 0 || reqs == 0 {
			continue
		}
		if ratio := float64(fails) / float64(reqs); ratio > p.MaxFailureRatio {
			problems = append(problems, fmt.Sprintf("task %q: %d of %d requests failed (%.1f%% > %s): %s",
				t.Key(), fails, reqs, 100*ratio, percent(p.MaxFailureRatio), topErrors(res.Failures, t, 3)))
		}
	}
	if p.open && m.Scheduled+m.Dropped > 0 {
		all := float64(m.Scheduled + m.Dropped)
		bad := float64(m.Late + m.Dropped)
		if bad/all > p.MaxLateRatio {
			problems = append(problems, fmt.Sprintf("the generator could not hold %s: %d of %d starts were more than %s late and %d were never made (%.1f%% > %s; worst lag %s); raise -loadtest.max-in-flight, lower the rate, or give the generator more CPU",
				constantRate{Freq: p.Rate}, m.Late, m.Scheduled+m.Dropped, p.LateTolerance+p.Coalesce, m.Dropped, 100*bad/all, percent(p.MaxLateRatio), m.MaxLag.Round(100_000)))
		}
	}
	return problems
}

// percent writes a ratio as a percentage, "1.5%" (numfmt.Percent).
func percent(f float64) string { return numfmt.Percent(f) }

// topErrors lists the n most common errors of task t, "30× HTTP 503 (http)".
func topErrors(fails []result.Failure, t *result.Task, n int) string {
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
