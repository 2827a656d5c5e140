package loadtest

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// PanicError is the error of a task (or OnStart, OnStop) that panicked:
// the harness recovers the panic, records it as a failure of class
// "panic", logs its stack once per site, and goes on with the run.
type PanicError struct {
	Value any    // what was passed to panic
	Site  string // file:line of the panic
	Stack []byte // the goroutine's stack when it panicked
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic at %s: %v", e.Site, e.Value)
}

// call runs f, turning a panic into a *PanicError whose stack is logged
// the first time its site panics in the run.
func (r *runner) call(f func() error) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		pe := &PanicError{Value: v, Site: panicSite(), Stack: debug.Stack()}
		if _, seen := r.panicSites.LoadOrStore(pe.Site, true); !seen {
			r.tb.Log(r.scrub(fmt.Sprintf("loadtest: the scenario's code panicked at %s (recorded as a failure of class %q; further panics there are counted, not logged): %v\n%s",
				pe.Site, ClassPanic, v, pe.Stack)))
		}
		err = pe
	}()
	return f()
}

// panicSite returns file:line of the frame that panicked, as seen from a
// deferred function recovering it.
func panicSite() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	inPanic := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			inPanic = true
		case inPanic && !strings.HasPrefix(f.Function, "runtime."):
			return fmt.Sprintf("%s:%d", trimPath(f.File), f.Line)
		}
		if !more {
			return "unknown"
		}
	}
}

// trimPath keeps the last two elements of a source path: the package's
// folder and the file.
func trimPath(file string) string {
	if i := strings.LastIndexByte(file, '/'); i > 0 {
		if j := strings.LastIndexByte(file[:i], '/'); j >= 0 {
			return file[j+1:]
		}
	}
	return file
}
