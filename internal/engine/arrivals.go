package engine

import (
	"fmt"
	"math"
	"time"
)

// Arrivals schedules the starts of the open model. Pace is given the time
// elapsed since the run began and the number of starts made so far, and
// returns how long to wait before the next start; stop reports that no more
// starts should be made. ConstantRate and Staged are the engine's own; a
// scenario can set its own. Arrivals that can also say when a given start
// is due (Due(hits uint64) time.Duration, as both of the engine's can)
// have each start's latency and lateness counted from its own schedule,
// and the starts never made counted as dropped.
type Arrivals interface {
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
}

// ConstantRate is a constant arrival rate of Freq starts per Per (Per
// defaults to a second). Fractional rates are allowed: a Freq of 0.5 starts
// one task every two seconds. Start k (from 0) is due at k·Per/Freq.
type ConstantRate struct {
	Freq float64
	Per  time.Duration
}

var _ Arrivals = ConstantRate{}

// Pace implements Arrivals.
func (r ConstantRate) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if r.Freq <= 0 || math.IsNaN(r.Freq) || math.IsInf(r.Freq, 0) {
		return 0, true
	}
	due := r.Due(hits)
	if due <= elapsed {
		return 0, false
	}
	return due - elapsed, false
}

// Due returns when start number hits (from 0) is scheduled, from the
// beginning of the run.
func (r ConstantRate) Due(hits uint64) time.Duration {
	per := r.Per
	if per <= 0 {
		per = time.Second
	}
	return time.Duration(float64(hits) * float64(per) / r.Freq)
}

// String returns the rate as "10/s".
func (r ConstantRate) String() string {
	per := r.Per
	if per <= 0 || per == time.Second {
		return fmt.Sprintf("%g/s", r.Freq)
	}
	return fmt.Sprintf("%g/%s", r.Freq, per)
}
