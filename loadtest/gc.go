package loadtest

import (
	"os"
	"runtime/debug"
	"sync"
)

// runGCPercent is the garbage collector's target while a run is on, unless
// GOGC is set. The harness's live heap is under a megabyte, so the heap's
// size is set by the collector's 4 MB floor, which GOGC scales: at 50 a
// long run holds about 2 MB less resident memory, for collections that
// each cost a fraction of a millisecond.
const runGCPercent = 50

var gcTuning struct {
	sync.Mutex
	runs int // runs in progress
	prev int // the target before the first of them
}

// tuneGC sets the collector's target for a run and returns the function
// that restores it once the last overlapping run is done. A GOGC in the
// environment is the user's choice and is left alone.
func tuneGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	gcTuning.Lock()
	defer gcTuning.Unlock()
	if gcTuning.runs == 0 {
		gcTuning.prev = debug.SetGCPercent(runGCPercent)
	}
	gcTuning.runs++
	return func() {
		gcTuning.Lock()
		defer gcTuning.Unlock()
		if gcTuning.runs--; gcTuning.runs == 0 {
			debug.SetGCPercent(gcTuning.prev)
		}
	}
}
