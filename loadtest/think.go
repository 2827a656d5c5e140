package loadtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
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

// ParseWait parses a think time as -loadtest.wait takes it, after Locust's
// wait_time: "between:1s:5s" (Between), "constant:2s" (Constant),
// "pacing:10s" (ConstantPacing) or "none" (Constant(0): no think time, on
// purpose).
func ParseWait(s string) (Wait, error) {
	kind, args, _ := strings.Cut(s, ":")
	durations := func(n int) ([]time.Duration, error) {
		parts := strings.Split(args, ":")
		if args == "" || len(parts) != n {
			example := map[string]string{"between": "between:1s:5s", "constant": "constant:2s", "pacing": "pacing:10s"}[kind]
			return nil, fmt.Errorf("%s takes %d duration(s) after a colon, e.g. %s", kind, n, example)
		}
		ds := make([]time.Duration, n)
		for i, p := range parts {
			d, err := time.ParseDuration(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a duration (e.g. 1s, 500ms)", kind, p)
			}
			ds[i] = d
		}
		return ds, nil
	}
	var w Wait
	switch kind {
	case "none":
		if args != "" {
			return nil, errors.New("none takes no duration")
		}
		return Constant(0), nil
	case "between":
		ds, err := durations(2)
		if err != nil {
			return nil, err
		}
		w = Between(ds[0], ds[1])
	case "constant":
		ds, err := durations(1)
		if err != nil {
			return nil, err
		}
		w = Constant(ds[0])
	case "pacing":
		ds, err := durations(1)
		if err != nil {
			return nil, err
		}
		w = ConstantPacing(ds[0])
	default:
		return nil, fmt.Errorf("unknown think time %q: want between:MIN:MAX, constant:D, pacing:D or none", kind)
	}
	if err := validWait(w); err != nil {
		return nil, err
	}
	return w, nil
}

// waitName is w as the results and baselines name it: empty for no think
// time, whether asked for (Constant(0)) or, in a baseline recorded before
// it had to be asked for, left out.
func waitName(w Wait) string {
	if w == nil || w == Constant(0) {
		return ""
	}
	return w.String()
}

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
