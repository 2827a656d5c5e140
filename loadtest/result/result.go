// Package result holds the outcome of one load run — per-task latency
// histograms, per-window rows, failures and the run's metadata — and its
// load shape (Shape). It writes the run as Locust-compatible CSV files and
// reads them back (WriteRows and ReadRows with gocsv, WriteMeta and
// ReadMeta for the key/value metadata).
//
// Latencies are kept in microseconds in HDR histograms (1 µs to 1 h, three
// significant digits), so percentiles are exact to 0.1 % of the value
// however long the run is, and histograms of several runs can be merged.
package result

import (
	"math"
	"strconv"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds and precision used for every latency histogram, in
// microseconds. Values above MaxLatency are recorded as MaxLatency.
const (
	MinLatency = 1
	MaxLatency = int64(time.Hour / time.Microsecond)
	SigFigures = 3
	// WindowSigFigures is the precision of the time-series windows' and
	// the start lag's histograms: 1 %, an eighth of the memory.
	WindowSigFigures = 2
	AggregateName    = "Aggregated"
)

// Micros is d in whole microseconds, within the histograms' bounds: the
// value a latency is recorded as.
func Micros(d time.Duration) int64 {
	return min(max(int64(d/time.Microsecond), MinLatency), MaxLatency)
}

// NewHistogram returns an empty latency histogram with the project's bounds.
func NewHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(MinLatency, MaxLatency, SigFigures)
}

// NewWindowHistogram returns an empty histogram for a time-series window
// or the start lag, with WindowSigFigures.
func NewWindowHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(MinLatency, MaxLatency, WindowSigFigures)
}

// Status says whether a run went the whole way.
type Status string

// The statuses of a run. Only a complete run may update a baseline.
const (
	Complete    Status = "complete"
	Aborted     Status = "aborted"     // stopped by the abort guard
	Interrupted Status = "interrupted" // stopped by a signal or the test's deadline
)

// Percentiles are the quantiles reported in the CSV files and tables, in
// Locust's order.
var Percentiles = []float64{50, 66, 75, 80, 90, 95, 98, 99, 99.9, 99.99, 100}

// Run is the outcome of one load run.
type Run struct {
	Meta     Meta
	Tasks    []*Task   // one per task name, sorted by Type then Name
	Total    *Task     // all tasks together, named AggregateName
	Windows  []Window  // per window: one row per task that ran, then the aggregate
	Failures []Failure // by task (as Tasks), most frequent first, then by Error
	Findings []Finding // trends found: leaks within the run, drift and steps across runs, rising server signals
}

// Meta describes how a run was made.
type Meta struct {
	Test    string // the test's name
	RunID   string // the X-Loadtest-Run header value
	Version string // harness version
	Status  Status
	Reason  string // why the run is not complete, if it is not

	Model       string // "open" (fixed arrival rate) or "closed" (users)
	Users       int
	SpawnRate   float64 // users per second
	Wait        string  // think time, e.g. "between(1s,5s)"
	Rate        float64 // starts per second in the open model
	MaxInFlight int
	// Stages is the load over time, as -loadtest.stages takes it
	// ("30s:10,2m0s:10,30s:0"; targets in starts per second or users),
	// empty for a constant load; Rate or Users is then the stages' peak.
	Stages   string
	Duration time.Duration
	Window   time.Duration
	Grace    time.Duration

	Start   time.Time
	Elapsed time.Duration // from the first start to the end of the last request

	Target  string // base URL, credentials redacted
	Env     string // environment name used by baselines
	StandIn string // stand-in kind, empty when -loadtest.host was given

	GitCommit string
	GoVersion string

	// Open model schedule keeping.
	Scheduled int64         // starts the pacer asked for
	Late      int64         // starts the generator made later than the late tolerance
	Waited    int64         // starts that waited for a slot: every one was taken by a task the target had not answered
	Dropped   int64         // starts never made before the end of the run
	MaxLag    time.Duration // the latest start, behind its schedule: the generator's part of its lag
	LagP50    time.Duration // scheduling jitter: median start lag behind schedule, the generator's part
	LagP99    time.Duration // and its 99th percentile
	// A run without end pauses its load while the target is unhealthy:
	// how long it was paused within this segment, and how many outages
	// began in it. A segment with an outage is never recorded into the
	// baseline or the history.
	Paused  time.Duration
	Outages int
	// Starved counts the windows whose figures are the generator's: see
	// Window.Generator.
	Starved  int
	Coalesce time.Duration // starts due within this were made together (0: each at its own time)
	// The CPU the generator was denied in the segment, as the kernel
	// counted it: the share of its own runnable time in which it waited
	// for a CPU; the share of the time in which a task of its cgroup (or,
	// where the cgroup's is not known, of the machine) waited for one;
	// the share of the machine's CPU time stolen by the hypervisor; and
	// the share of its cgroup's CPU quota periods in which it was
	// throttled. Each is unknown where the kernel does not say.
	CPUWait, CPUPressure, Steal, Throttled Share

	// Sharded runs: Shard is "i/N" for the ith of N processes that each
	// sent 1/N of the load (empty for a whole run, and for the merge of
	// the shards); Location names where the load came from, e.g.
	// "eu-west" (empty when not given). Both are written only when set.
	Shard    string
	Location string
}

// Share is a percentage measured in a run, or not measured: the zero
// value.
type Share struct {
	Pct   float64 // from 0 to 100
	Known bool
}

// ShareOf is the share of fraction f (from 0 to 1) in percent, rounded
// to a hundredth; unknown when f is NaN.
func ShareOf(f float64) Share {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return Share{}
	}
	return Share{Pct: math.Round(min(max(f, 0), 1)*10000) / 100, Known: true}
}

// String is the percentage without a sign, "38.5"; "-" when unknown.
func (s Share) String() string {
	if !s.Known {
		return "-"
	}
	return strconv.FormatFloat(s.Pct, 'f', -1, 64)
}

// EnvKey is the name that keys the run's baselines and history: the
// environment, then "@" and the location when there is one, e.g.
// "prod@eu-west".
func (m Meta) EnvKey() string { return EnvKey(m.Env, m.Location) }

// EnvKey is the key of environment env seen from location: env alone when
// location is empty, else "env@location".
func EnvKey(env, location string) string {
	if location == "" {
		return env
	}
	return env + "@" + location
}

// EnvFolder is the folder, under a baseline or history root, of
// environment env seen from location: FileBase(env), then "@" and
// FileBase(location) when there is a location. FileBase never writes '@',
// so a location's folder never meets an environment's own, and without a
// location the folder is the one it always was.
func EnvFolder(env, location string) string {
	if location == "" {
		return FileBase(env)
	}
	return FileBase(env) + "@" + FileBase(location)
}

// Task is the whole-run figures of one task (or of all of them).
type Task struct {
	Type         string // e.g. "GET"; empty for the aggregate
	Name         string // e.g. "/users/{id}"
	Setup        bool   // the per-user OnStart step, not a task of the mix
	Requests     int64  // successes and failures
	Failures     int64
	ContentBytes int64
	// Latency of successful requests, in microseconds.
	Latency *hdrhistogram.Histogram
}

// Key is the task's display name, "Type Name" or Name alone.
func (t *Task) Key() string {
	if t.Type == "" {
		return t.Name
	}
	return t.Type + " " + t.Name
}

// FailureRatio is Failures/Requests, 0 when there were no requests.
func (t *Task) FailureRatio() float64 {
	if t.Requests == 0 {
		return 0
	}
	return float64(t.Failures) / float64(t.Requests)
}

// Window is one task's figures over one window of the run.
type Window struct {
	Start    time.Time     // wall-clock start of the window
	Offset   time.Duration // start of the window from the start of the run
	Length   time.Duration
	Users    int // users active (closed model) or requests in flight at the end (open)
	Type     string
	Name     string
	Requests int64 // in this window
	Failures int64
	// Latency percentiles of the window's successful requests, in
	// microseconds, at Percentiles; all zero when there were none.
	Quantiles []int64
	MeanUS    float64

	// Cumulative figures since the start of the run, as Locust reports them.
	TotalRequests     int64
	TotalFailures     int64
	TotalMedianUS     int64
	TotalMeanUS       float64
	TotalMinUS        int64
	TotalMaxUS        int64
	TotalContentBytes int64

	// Exemplars are the window's slowest requests, slowest first, so a slow
	// window leads to the target's traces of it.
	Exemplars []Exemplar

	// Generator, when not empty, says why the window's figures are the
	// generator's rather than the target's: its machine was suspended
	// (the clock jumped) or starved of CPU (starts far behind schedule).
	// Such a window is left out of the trend tests, and the gate gives a
	// segment holding one no verdict.
	Generator string
}

// Exemplar is one request remembered for its latency.
type Exemplar struct {
	At        time.Time // when it ended
	LatencyUS int64     // microseconds
	Status    int       // HTTP status of the task's last response, 0 if none
	Class     string    // failure class, empty for a success
	TraceID   string    // the traceparent trace id the harness sent
}

// Failure counts the occurrences of one error of one task.
type Failure struct {
	Type        string
	Name        string
	Class       string // http, timeout, refused, reset, check, other...
	Error       string
	Occurrences int64
}
