package loadtest

import (
	"github.com/steadyload/steadyload/internal/runcheck"
	"github.com/steadyload/steadyload/loadtest/result"
)

// verdict decides, once, from the whole run, what is wrong with it. Each
// problem is one message; none means the run passed the harness's own
// checks (package internal/runcheck, which the steadyload command applies
// to a stored run too).
func (r *runner) verdict(res *result.Run) []string {
	return runcheck.Check(res, r.checks())
}

// checks are the limits of the harness's own checks in r's plan.
func (r *runner) checks() runcheck.Config {
	p := r.plan
	return runcheck.Config{MaxFailureRatio: p.MaxFailureRatio, MaxLateRatio: p.MaxLateRatio, LateTolerance: p.LateTolerance, Endless: p.endless}
}
