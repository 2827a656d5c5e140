package loadtest

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStop ends the run's load early, as if its Duration had ended. A task
// (or OnStart) that returns an error wrapping it is not counted, neither
// as a success nor as a failure; no task starts after it, the tasks in
// flight finish within the Grace, and the results are judged and written
// as for a complete run. It is not a failure: the log says once, with the
// error's text, why the load stopped. A feed that has run out returns it
// (package loadtest/feed, End: feed.Stop):
//
//	row, err := users.Next(u) // "feed users.csv ran out after 20 rows: load stopped"
//	if err != nil {
//		return err
//	}
var ErrStop = errors.New("load stopped")

// stopper ends the load when a task returns ErrStop.
type stopper struct {
	endStarts context.CancelFunc // ends the starts, as the end of Duration does; set by execute
	stopOnce  sync.Once
	stopped   atomic.Int64 // when the load was stopped, in ns from t0; 0: it was not
}

// stopLoad ends the starts for err, which wraps ErrStop, and logs why,
// once: later calls do nothing.
func (r *runner) stopLoad(err error) {
	r.stopOnce.Do(func() {
		r.stopped.Store(max(1, int64(time.Since(r.t0))))
		r.tb.Logf("loadtest: %s; no task starts after it, and the run is judged as a complete one", r.scrub(err.Error()))
		if r.endStarts != nil {
			r.endStarts()
		}
	})
}

// stoppedAt is when the load was stopped by ErrStop, from t0, or the
// longest duration when it was not.
func (r *runner) stoppedAt() time.Duration {
	if at := r.stopped.Load(); at > 0 {
		return time.Duration(at)
	}
	return math.MaxInt64
}
