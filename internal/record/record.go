// Package record keeps a run's measurements: per task (and per name
// recorded inside a task) the whole segment's and the current window's HDR
// histograms, counts, failures by class and message, and the slowest
// requests as exemplars. Workers call Record; the engine's clock closes a
// window of rows every Window and cuts a segment's figures (Close, Cut).
// Memory is flat however long the run.
package record

import (
	"encoding/hex"
	"regexp"
	"sort"
	"strings"
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

// Recorder owns the measurements of a run. Workers call Record; the run's
// clock calls CloseWindow once per window. Memory is flat: whole-run and
// current-window histograms per task, and one small row per task per
// closed window.
type Recorder struct {
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

// Outcome is what the Recorder is told about one task.
type Outcome struct {
	Latency time.Duration
	End     time.Time // when it ended
	Bytes   int64     // body bytes read
	Status  int       // last HTTP status seen, 0 if none
	Class   string    // failure class; empty for a success
	Msg     string    // failure message, normalized and scrubbed
	TraceID [16]byte
}

type failKey struct{ class, msg string }

// New returns a recorder of the tasks names, in the order of their
// indexes; more rows are added as names are recorded inside tasks.
func New(names []string) *Recorder {
	rec := &Recorder{tasks: make([]taskRec, len(names)), winAgg: result.NewWindowHistogram()}
	for i, n := range names {
		typ, name := SplitName(n)
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

// A Recorder is the engine's.
var _ engine.Recorder = (*Recorder)(nil)

// Record adds one outcome of task ti. o.Class is empty for a success.
func (rec *Recorder) Record(ti int, o *Outcome) {
	us := result.Micros(o.Latency)
	rec.mu.Lock()
	t := &rec.tasks[ti]
	t.requests++
	t.winRequests++
	t.bytes += o.Bytes
	t.winBytes += o.Bytes
	if o.Class == "" {
		t.latency.RecordValue(us)
		t.winLatency.RecordValue(us)
		if rec.total != t.latency {
			rec.total.RecordValue(us)
		}
	} else {
		t.failures++
		t.winFailures++
		k := failKey{o.Class, o.Msg}
		if _, ok := t.errs[k]; !ok && len(t.errs) >= maxDistinctErrors {
			k.msg = "(other errors)"
		}
		t.errs[k]++
	}
	t.keepExemplar(us, o)
	rec.mu.Unlock()
}

// keepExemplar keeps o if it is among the window's slowest.
func (t *taskRec) keepExemplar(us int64, o *Outcome) {
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
	t.exemplars[i] = exemplar{end: o.End, us: us, status: o.Status, class: o.Class, traceID: o.TraceID}
}

// CloseWindow turns the current window into rows (one per task that ran,
// then the aggregate) and starts the next one.
func (rec *Recorder) CloseWindow(start time.Time, offset, length time.Duration, users int) []result.Window {
	rows, _ := rec.Close(start, offset, length, users, "", false)
	return rows
}

// Close closes the current window, its rows marked as the generator's for
// why when why is not empty, and, with cut, cuts the segment it ends:
// under one lock, so that no Outcome falls between the segment's last
// window and its figures.
func (rec *Recorder) Close(start time.Time, offset, length time.Duration, users int, why string, cut bool) ([]result.Window, *engine.Measures) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rows := rec.closeWindowLocked(start, offset, length, users, why)
	if !cut {
		return rows, nil
	}
	return rows, rec.cutLocked()
}

// closeWindowLocked is Close's window part, with rec.mu held.
func (rec *Recorder) closeWindowLocked(start time.Time, offset, length time.Duration, users int, why string) []result.Window {
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

// Cut returns the figures since the start or the last cut — per task
// (sorted by name then type), the aggregate, the failures (sorted) and
// the closed windows' rows — and starts afresh, so that a run without end
// keeps one segment's measurements at most.
func (rec *Recorder) Cut() *engine.Measures {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.cutLocked()
}

// cutLocked is cut, with rec.mu held.
func (rec *Recorder) cutLocked() *engine.Measures {
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

// TasksResult returns the whole-run figures per task (sorted by name then
// type), the aggregate, and the failures (sorted).
func (rec *Recorder) TasksResult() ([]*result.Task, *result.Task, []result.Failure) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.tasksResultLocked()
}

// tasksResultLocked is TasksResult with rec.mu held.
func (rec *Recorder) tasksResultLocked() ([]*result.Task, *result.Task, []result.Failure) {
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

// NormalizeError makes an error message groupable.
func NormalizeError(msg string) string {
	return addrPair.ReplaceAllString(msg, "$1")
}

// MaxNames caps the distinct names recorded inside tasks (Request.Name,
// User.Record), so that a name with ids in it cannot grow the run's
// memory: beyond it, measurements are recorded under OtherNames. A row
// holds some 215 KB of histograms, and as much again while a segment's
// figures are cut: 100 names are some 40 MB at most.
const MaxNames = 100

// OtherNames is the row of the measurements whose names came after the
// first MaxNames.
const OtherNames = "(other names)"

// recNames maps the names recorded inside tasks to their rows. Lookups
// of a known name take no lock: the map is copied on write, and a name
// is added once, when it first appears.
type recNames struct {
	index    atomic.Pointer[map[string]int] // name → row in tasks; NameRefused for a task's name
	mu       sync.Mutex                     // serializes additions
	n        int                            // names added, OtherNames aside
	reported sync.Map                       // the refused names already reported
}

// NameRefused marks, in recNames.index, a name no measurement may take:
// a task's, or a row the results reserve.
const NameRefused = -1

// NameNote says what NameIndex did beside finding a row.
type NameNote int

const (
	nameKnown    NameNote = iota // the name has its row
	NameRefusedN                 // the name is a task's or reserved: nothing is recorded
	NameRefused1                 // NameRefusedN, the first time for this name
	NameOverflow                 // the first name past MaxNames: recorded under OtherNames
)

// initNames reserves the tasks' names (and the aggregate's, and the
// setup row's) so that no measurement inside a task takes them.
func (rec *Recorder) initNames(tasks []string) {
	m := make(map[string]int, len(tasks)+2)
	for _, n := range append([]string{"", result.AggregateName, "OnStart"}, tasks...) {
		m[nameKey(n)] = NameRefused
	}
	rec.names.index.Store(&m)
}

// nameKey is the key a name's row is known by: "POST  /orders" and
// "POST /orders" are one row.
func nameKey(name string) string {
	typ, rest := SplitName(name)
	if typ == "" {
		return rest
	}
	return typ + " " + rest
}

// NameIndex returns the row of the measurements named name, adding it
// when the name is new. A name that is a task's gets no row
// (NameRefused1 the first time, then NameRefusedN); the first name past MaxNames is NameOverflow, and it and
// every one after it share the OtherNames row.
func (rec *Recorder) NameIndex(name string) (i int, note NameNote) {
	key := nameKey(name)
	if i, ok := (*rec.names.index.Load())[key]; ok {
		if i == NameRefused {
			return i, rec.refused(key)
		}
		return i, nameKnown
	}
	return rec.addName(key)
}

// refused is the note of a refused name: NameRefused1 the first time.
func (rec *Recorder) refused(key string) NameNote {
	if _, seen := rec.names.reported.LoadOrStore(key, true); seen {
		return NameRefusedN
	}
	return NameRefused1
}

// addName is NameIndex's slow path: the first measurement of a name.
func (rec *Recorder) addName(key string) (int, NameNote) {
	ns := &rec.names
	ns.mu.Lock()
	defer ns.mu.Unlock()
	old := *ns.index.Load()
	if i, ok := old[key]; ok { // added meanwhile
		if i == NameRefused {
			return i, rec.refused(key)
		}
		return i, nameKnown
	}
	note := nameKnown
	if ns.n >= MaxNames {
		if i, ok := old[OtherNames]; ok {
			return i, nameKnown // not kept: the map stays bounded
		}
		key, note = OtherNames, NameOverflow
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
func (rec *Recorder) addRow(key string) int {
	typ, name := SplitName(key)
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

// TopFailure returns the most common failure of the segment so far across
// rows, those of class skip excluded.
func (rec *Recorder) TopFailure(skip string) (class, msg string, ok bool) {
	type kv struct {
		k failKey
		n int64
	}
	var all []kv
	rec.mu.Lock()
	sums := map[failKey]int64{}
	for i := range rec.tasks {
		for k, n := range rec.tasks[i].errs {
			if k.class != skip {
				sums[k] += n
			}
		}
	}
	rec.mu.Unlock()
	for k, n := range sums {
		all = append(all, kv{k, n})
	}
	if len(all) == 0 {
		return "", "", false
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].n != all[j].n {
			return all[i].n > all[j].n
		}
		return all[i].k.msg < all[j].k.msg
	})
	return all[0].k.class, all[0].k.msg, true
}

// httpMethods are the leading words of a name that become its type: the
// HTTP methods, and GRPC for the gRPC calls of package grpcload.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "GRPC"}

// SplitName splits a row's name into its type and the rest: "POST /orders" into ("POST", "/orders"); a name without
// a leading HTTP method (or GRPC) has an empty type.
func SplitName(name string) (typ, rest string) {
	m, r, ok := strings.Cut(name, " ")
	if !ok {
		return "", name
	}
	for _, hm := range httpMethods {
		if m == hm {
			return m, strings.TrimSpace(r)
		}
	}
	return "", name
}
