package loadtest

import (
	"encoding/hex"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/loadtest/result"
)

// exemplarsPerWindow is how many of the slowest requests each task keeps
// per window.
const exemplarsPerWindow = 3

// maxDistinctErrors caps the distinct error messages kept per task, so a
// target that puts ids in its errors cannot grow the run's memory.
const maxDistinctErrors = 50

// recorder owns the measurements of a run. Workers call record; the run's
// clock calls closeWindow once per window. Memory is flat: whole-run and
// current-window histograms per task, and one small row per task per
// closed window.
type recorder struct {
	mu      sync.Mutex
	tasks   []taskRec
	windows []result.Window
	winAgg  *hdrhistogram.Histogram // scratch for the aggregate window
	// total is the whole run's latency over all tasks: the one task's
	// own histogram, or one recorded alongside theirs, so that closing a
	// window merges no whole-run histogram.
	total *hdrhistogram.Histogram

	names recNames // the names recorded inside tasks
}

type taskRec struct {
	typ, name string

	requests, failures, bytes int64
	latency                   *hdrhistogram.Histogram // successes, whole run

	winRequests, winFailures, winBytes int64
	winLatency                         *hdrhistogram.Histogram
	exemplars                          [exemplarsPerWindow]exemplar // slowest first
	nExemplars                         int

	errs map[failKey]int64
}

// exemplar is a request remembered for its latency; the trace id stays
// binary until the window closes, so recording does not allocate.
type exemplar struct {
	end     time.Time
	us      int64
	status  int
	class   string
	traceID [16]byte
}

// outcome is what the recorder is told about one task.
type outcome struct {
	latency time.Duration
	end     time.Time
	bytes   int64
	status  int // last HTTP status seen, 0 if none
	class   string
	msg     string
	traceID [16]byte
}

type failKey struct{ class, msg string }

func newRecorder(names []string) *recorder {
	rec := &recorder{tasks: make([]taskRec, len(names)), winAgg: result.NewWindowHistogram()}
	for i, n := range names {
		typ, name := splitName(n)
		rec.tasks[i] = taskRec{
			typ: typ, name: name,
			latency:    result.NewHistogram(),
			winLatency: result.NewWindowHistogram(),
			errs:       map[failKey]int64{},
		}
	}
	if len(rec.tasks) == 1 {
		rec.total = rec.tasks[0].latency
	} else {
		rec.total = result.NewHistogram()
	}
	rec.initNames(names)
	return rec
}

// The recorder is the engine's.
var _ engine.Recorder = engineRecorder{}

// engineRecorder is rec as the engine sees it.
type engineRecorder struct{ rec *recorder }

// Close implements engine.Recorder.
func (e engineRecorder) Close(start time.Time, offset, length time.Duration, users int, why string, cut bool) ([]result.Window, *engine.Measures) {
	return e.rec.close(start, offset, length, users, why, cut)
}

// Cut implements engine.Recorder.
func (e engineRecorder) Cut() *engine.Measures { return e.rec.cut() }

func micros(d time.Duration) int64 {
	us := int64(d / time.Microsecond)
	switch {
	case us < result.MinLatency:
		return result.MinLatency
	case us > result.MaxLatency:
		return result.MaxLatency
	}
	return us
}

// record adds one outcome of task ti. o.class is empty for a success.
func (rec *recorder) record(ti int, o *outcome) {
	us := micros(o.latency)
	rec.mu.Lock()
	t := &rec.tasks[ti]
	t.requests++
	t.winRequests++
	t.bytes += o.bytes
	t.winBytes += o.bytes
	if o.class == "" {
		t.latency.RecordValue(us)
		t.winLatency.RecordValue(us)
		if rec.total != t.latency {
			rec.total.RecordValue(us)
		}
	} else {
		t.failures++
		t.winFailures++
		k := failKey{o.class, o.msg}
		if _, ok := t.errs[k]; !ok && len(t.errs) >= maxDistinctErrors {
			k.msg = "(other errors)"
		}
		t.errs[k]++
	}
	t.keepExemplar(us, o)
	rec.mu.Unlock()
}

// keepExemplar keeps o if it is among the window's slowest.
func (t *taskRec) keepExemplar(us int64, o *outcome) {
	n := t.nExemplars
	if n == exemplarsPerWindow && us <= t.exemplars[n-1].us {
		return
	}
	if n < exemplarsPerWindow {
		n++
		t.nExemplars = n
	}
	i := n - 1
	for ; i > 0 && t.exemplars[i-1].us < us; i-- {
		t.exemplars[i] = t.exemplars[i-1]
	}
	t.exemplars[i] = exemplar{end: o.end, us: us, status: o.status, class: o.class, traceID: o.traceID}
}

// closeWindow turns the current window into rows (one per task that ran,
// then the aggregate) and starts the next one.
func (rec *recorder) closeWindow(start time.Time, offset, length time.Duration, users int) []result.Window {
	rows, _ := rec.close(start, offset, length, users, "", false)
	return rows
}

// close closes the current window, its rows marked as the generator's for
// why when why is not empty, and, with cut, cuts the segment it ends:
// under one lock, so that no outcome falls between the segment's last
// window and its figures.
func (rec *recorder) close(start time.Time, offset, length time.Duration, users int, why string, cut bool) ([]result.Window, *engine.Measures) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rows := rec.closeWindowLocked(start, offset, length, users, why)
	if !cut {
		return rows, nil
	}
	return rows, rec.cutLocked()
}

// closeWindowLocked is close's window part, with rec.mu held.
func (rec *recorder) closeWindowLocked(start time.Time, offset, length time.Duration, users int, why string) []result.Window {
	agg := result.Window{Start: start, Offset: offset, Length: length, Users: users, Name: result.AggregateName}
	rec.winAgg.Reset()
	var rows []result.Window
	var totReq, totFail, totBytes int64
	for i := range rec.tasks {
		t := &rec.tasks[i]
		totReq += t.requests
		totFail += t.failures
		totBytes += t.bytes
		if t.winRequests == 0 {
			continue
		}
		w := result.Window{
			Start: start, Offset: offset, Length: length, Users: users,
			Type: t.typ, Name: t.name,
			Requests: t.winRequests, Failures: t.winFailures,
		}
		fillWindow(&w, t.winLatency, t.latency, t.requests, t.failures, t.bytes)
		for _, e := range t.exemplars[:t.nExemplars] {
			w.Exemplars = append(w.Exemplars, result.Exemplar{
				At: e.end, LatencyUS: e.us, Status: e.status, Class: e.class, TraceID: hex.EncodeToString(e.traceID[:]),
			})
		}
		t.nExemplars = 0
		rows = append(rows, w)
		agg.Requests += t.winRequests
		agg.Failures += t.winFailures
		rec.winAgg.Merge(t.winLatency)
		t.winRequests, t.winFailures, t.winBytes = 0, 0, 0
		t.winLatency.Reset()
	}
	sort.Slice(rows, func(i, j int) bool { return taskLess(rows[i].Type, rows[i].Name, rows[j].Type, rows[j].Name) })
	fillWindow(&agg, rec.winAgg, rec.total, totReq, totFail, totBytes)
	rows = append(rows, agg)
	for i := range rows {
		rows[i].Generator = why
	}
	rec.windows = append(rec.windows, rows...)
	return rows
}

func fillWindow(w *result.Window, win, total *hdrhistogram.Histogram, req, fail, bytes int64) {
	if win.TotalCount() > 0 {
		w.Quantiles = win.ValueAtPercentilesSlice(result.Percentiles)
		w.MeanUS = win.Mean()
	} else {
		w.Quantiles = make([]int64, len(result.Percentiles))
	}
	w.TotalRequests, w.TotalFailures, w.TotalContentBytes = req, fail, bytes
	if total.TotalCount() > 0 {
		w.TotalMinUS, w.TotalMedianUS, w.TotalMaxUS = minMedianMax(total)
		w.TotalMeanUS = total.Mean()
	}
}

// minMedianMax returns h's Min, ValueAtPercentile(50) and Max from one
// quick scan of its counts (Min is the 0th percentile, Max the 100th).
// Min and Max would each walk every bucket of a whole-run histogram, some
// 40 µs, at every window's close, while a process on one core runs
// nothing else: not the start due at the boundary, nor an answer's read.
func minMedianMax(h *hdrhistogram.Histogram) (lo, median, hi int64) {
	v := h.ValueAtPercentilesSlice(minMedianMaxPercentiles)
	return v[0], v[1], v[2]
}

var minMedianMaxPercentiles = []float64{0, 50, 100}

func taskLess(t1, n1, t2, n2 string) bool {
	if n1 != n2 {
		return n1 < n2
	}
	return t1 < t2
}

// cut returns the figures since the start or the last cut — per task
// (sorted by name then type), the aggregate, the failures (sorted) and
// the closed windows' rows — and starts afresh, so that a run without end
// keeps one segment's measurements at most.
func (rec *recorder) cut() *engine.Measures {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.cutLocked()
}

// cutLocked is cut, with rec.mu held.
func (rec *recorder) cutLocked() *engine.Measures {
	tasks, total, fails := rec.tasksResultLocked()
	windows := rec.windows
	rec.windows = nil
	for i := range rec.tasks {
		t := &rec.tasks[i]
		t.requests, t.failures, t.bytes = 0, 0, 0
		t.latency = result.NewHistogram()
		t.errs = map[failKey]int64{}
	}
	if len(rec.tasks) == 1 {
		rec.total = rec.tasks[0].latency
	} else {
		rec.total = result.NewHistogram()
	}
	return &engine.Measures{Tasks: tasks, Total: total, Failures: fails, Windows: windows}
}

// tasksResult returns the whole-run figures per task (sorted by name then
// type), the aggregate, and the failures (sorted).
func (rec *recorder) tasksResult() ([]*result.Task, *result.Task, []result.Failure) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.tasksResultLocked()
}

// tasksResultLocked is tasksResult with rec.mu held.
func (rec *recorder) tasksResultLocked() ([]*result.Task, *result.Task, []result.Failure) {
	total := &result.Task{Name: result.AggregateName, Latency: rec.total.Clone()}
	var tasks []*result.Task
	var fails []result.Failure
	for i := range rec.tasks {
		t := &rec.tasks[i]
		rt := &result.Task{
			Type: t.typ, Name: t.name,
			Requests: t.requests, Failures: t.failures, ContentBytes: t.bytes,
			Latency: t.latency.Clone(),
		}
		tasks = append(tasks, rt)
		total.Requests += t.requests
		total.Failures += t.failures
		total.ContentBytes += t.bytes
		for k, n := range t.errs {
			fails = append(fails, result.Failure{Type: t.typ, Name: t.name, Class: k.class, Error: k.msg, Occurrences: n})
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return taskLess(tasks[i].Type, tasks[i].Name, tasks[j].Type, tasks[j].Name) })
	sort.Slice(fails, func(i, j int) bool {
		a, b := fails[i], fails[j]
		if a.Name != b.Name || a.Type != b.Type {
			return taskLess(a.Type, a.Name, b.Type, b.Name)
		}
		if a.Occurrences != b.Occurrences {
			return a.Occurrences > b.Occurrences
		}
		return a.Error < b.Error
	})
	return tasks, total, fails
}

// addrPair matches the "local->remote" addresses in network errors, whose
// ephemeral ports would make every occurrence a distinct error.
var addrPair = regexp.MustCompile(`\S+->(\S+)`)

// normalizeError makes an error message groupable.
func normalizeError(msg string) string {
	return addrPair.ReplaceAllString(msg, "$1")
}

// maxNames caps the distinct names recorded inside tasks (Request.Name,
// User.Record), so that a name with ids in it cannot grow the run's
// memory: beyond it, measurements are recorded under otherNames. A row
// holds some 215 KB of histograms, and as much again while a segment's
// figures are cut: 100 names are some 40 MB at most.
const maxNames = 100

// otherNames is the row of the measurements whose names came after the
// first maxNames.
const otherNames = "(other names)"

// recNames maps the names recorded inside tasks to their rows. Lookups
// of a known name take no lock: the map is copied on write, and a name
// is added once, when it first appears.
type recNames struct {
	index    atomic.Pointer[map[string]int] // name → row in tasks; nameRefused for a task's name
	mu       sync.Mutex                     // serializes additions
	n        int                            // names added, otherNames aside
	reported sync.Map                       // the refused names already reported
}

// nameRefused marks, in recNames.index, a name no measurement may take:
// a task's, or a row the results reserve.
const nameRefused = -1

// nameNote says what nameIndex did beside finding a row.
type nameNote int

const (
	nameKnown    nameNote = iota // the name has its row
	nameRefusedN                 // the name is a task's or reserved: nothing is recorded
	nameRefused1                 // nameRefusedN, the first time for this name
	nameOverflow                 // the first name past maxNames: recorded under otherNames
)

// initNames reserves the tasks' names (and the aggregate's, and the
// setup row's) so that no measurement inside a task takes them.
func (rec *recorder) initNames(tasks []string) {
	m := make(map[string]int, len(tasks)+2)
	for _, n := range append([]string{"", result.AggregateName, "OnStart"}, tasks...) {
		m[nameKey(n)] = nameRefused
	}
	rec.names.index.Store(&m)
}

// nameKey is the key a name's row is known by: "POST  /orders" and
// "POST /orders" are one row.
func nameKey(name string) string {
	typ, rest := splitName(name)
	if typ == "" {
		return rest
	}
	return typ + " " + rest
}

// nameIndex returns the row of the measurements named name, adding it
// when the name is new. A name that is a task's gets no row
// (nameRefused1 the first time, then nameRefusedN); the first name past maxNames is nameOverflow, and it and
// every one after it share the otherNames row.
func (rec *recorder) nameIndex(name string) (i int, note nameNote) {
	key := nameKey(name)
	if i, ok := (*rec.names.index.Load())[key]; ok {
		if i == nameRefused {
			return i, rec.refused(key)
		}
		return i, nameKnown
	}
	return rec.addName(key)
}

// refused is the note of a refused name: nameRefused1 the first time.
func (rec *recorder) refused(key string) nameNote {
	if _, seen := rec.names.reported.LoadOrStore(key, true); seen {
		return nameRefusedN
	}
	return nameRefused1
}

// addName is nameIndex's slow path: the first measurement of a name.
func (rec *recorder) addName(key string) (int, nameNote) {
	ns := &rec.names
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := *ns.index.Load()
	if i, ok := old[key]; ok { // added meanwhile
		if i == nameRefused {
			return i, rec.refused(key)
		}
		return i, nameKnown
	}
	note := nameKnown
	if ns.n >= maxNames {
		if i, ok := old[otherNames]; ok {
			return i, nameKnown // not kept: the map stays bounded
		}
		key, note = otherNames, nameOverflow
	} else {
		ns.n++
	}
	i := rec.addRow(key)
	m := make(map[string]int, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[key] = i
	ns.index.Store(&m)
	return i, note
}

// addRow adds a row for the measurements named key and returns its index.
func (rec *recorder) addRow(key string) int {
	typ, name := splitName(key)
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.tasks) == 1 && rec.total == rec.tasks[0].latency {
		rec.total = rec.total.Clone() // the total is no longer the one row's
	}
	rec.tasks = append(rec.tasks, taskRec{
		typ: typ, name: name,
		latency:    result.NewHistogram(),
		winLatency: result.NewWindowHistogram(),
		errs:       map[failKey]int64{},
	})
	return len(rec.tasks) - 1
}
