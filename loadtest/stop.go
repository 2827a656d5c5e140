package loadtest

import (
	"errors"
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

// stopLoad ends the starts for err, which wraps ErrStop, and logs why,
// once: later calls do nothing.
func (r *runner) stopLoad(err error) {
	if r.eng.EndStarts() {
		r.tb.Logf("loadtest: %s; no task starts after it, and the run is judged as a complete one", r.scrub(err.Error()))
	}
}
