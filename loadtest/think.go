package loadtest

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// A Wait is the think time of the closed model: how long a user waits after
// a task before starting the next one.
type Wait interface {
	// Think returns the pause after a task that took took, drawing any
	// randomness from r.
	Think(took time.Duration, r *rand.Rand) time.Duration
	// String describes the wait for metadata and baselines, e.g.
	// "between(1s,5s)".
	String() string
}

// Between waits a uniformly random time in [min, max] after each task, as
// Locust's between(min, max).
func Between(min, max time.Duration) Wait { return between{min, max} }

// Constant waits d after each task, as Locust's constant(d).
func Constant(d time.Duration) Wait { return constant{d} }

// ConstantPacing starts a task every d whatever the task took (as Locust's
// constant_pacing): the wait is d minus the task's duration, or nothing when
// the task took longer than d.
func ConstantPacing(d time.Duration) Wait { return pacing{d} }

type between struct{ lo, hi time.Duration }

func (b between) Think(_ time.Duration, r *rand.Rand) time.Duration {
	if b.hi <= b.lo {
		return b.lo
	}
	return b.lo + time.Duration(r.Int64N(int64(b.hi-b.lo)+1))
}

func (b between) String() string { return fmt.Sprintf("between(%s,%s)", b.lo, b.hi) }

type constant struct{ d time.Duration }

func (c constant) Think(time.Duration, *rand.Rand) time.Duration { return c.d }
func (c constant) String() string                                { return fmt.Sprintf("constant(%s)", c.d) }

type pacing struct{ d time.Duration }

func (p pacing) Think(took time.Duration, _ *rand.Rand) time.Duration {
	if took >= p.d {
		return 0
	}
	return p.d - took
}

func (p pacing) String() string { return fmt.Sprintf("constant_pacing(%s)", p.d) }

// validWait reports what is wrong with w, if anything.
func validWait(w Wait) error {
	switch w := w.(type) {
	case between:
		if w.lo < 0 || w.hi < w.lo {
			return fmt.Errorf("think time %s: need 0 <= min <= max", w)
		}
	case constant:
		if w.d < 0 {
			return fmt.Errorf("think time %s is negative", w)
		}
	case pacing:
		if w.d <= 0 {
			return fmt.Errorf("think time %s: pacing must be positive", w)
		}
	}
	return nil
}
