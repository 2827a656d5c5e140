package loadtest

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// Defaults applied to the zero fields of a Scenario.
const (
	DefaultDuration        = 30 * time.Second
	DefaultWindow          = 10 * time.Second
	DefaultGrace           = 5 * time.Second
	DefaultTimeout         = 10 * time.Second
	DefaultSpawnRate       = 1.0 // users per second
	DefaultMaxInFlight     = 100
	DefaultMaxFailureRatio = 0.01
	DefaultLateTolerance   = 10 * time.Millisecond
	DefaultCoalesce        = 10 * time.Millisecond
	DefaultMaxLateRatio    = 0.01
	// DefaultSegment is the length of a segment of a run without end.
	DefaultSegment = time.Hour
)

// Endless is the Duration of a run without end: it goes on until it is
// stopped (SIGINT, SIGTERM, the test's context), judged and written once a
// Segment. -loadtest.duration=0 asks for the same.
const Endless time.Duration = -1

// A Scenario describes a load: the tasks, their mix, and the load shape.
// Its zero fields take the defaults above; a -loadtest.* flag that is set
// overrides the matching field.
//
// The load shape is either the closed model (Users > 0: each user loops
// task → think time) or the open model (Rate > 0: starts at a fixed arrival
// rate, whatever the latency). Setting both is an error.
type Scenario struct {
	// Tasks is the mix: each start picks a task with probability
	// proportional to its Weight.
	Tasks []Task

	// Closed model.
	Users     int     // concurrent users
	SpawnRate float64 // users started per second (default 1), so a target never sees a step
	Wait      Wait    // think time after each task; required (Constant(0) for none, on purpose)

	// Open model.
	Rate        float64 // task starts per second; fractions allowed (0.5 = one every 2 s)
	MaxInFlight int     // cap on tasks in flight (default 100); starts beyond it are late
	// Coalesce is the shortest time between two wake-ups of the open
	// model's scheduler (default 10 ms): starts that fall due within it
	// are made together at the next wake-up, each at most Coalesce after
	// its schedule. Below 1/Coalesce starts per second it changes
	// nothing; above, it saves the generator a context switch per start,
	// most of its CPU. Latency counts from the start actually made, and
	// the delay shows as start lag. Negative makes every start at its own
	// time.
	Coalesce time.Duration

	// Stages make the load change over time, as k6's ramping executors
	// and Locust's load shapes do: each ramps in a straight line from
	// the previous stage's target (the first from 0) to its own, in
	// starts per second (open model) or users (closed model). Rate or
	// Users still picks the model, with any positive value: the stages
	// replace it. The run lasts the stages' durations together (leave
	// Duration zero). A closed-model user i (from 0) starts when the
	// target first reaches i+1 and stops, after its task and think time,
	// when the target falls below; started again later, it keeps its
	// session (OnStart ran once, OnStop runs at the end); SpawnRate is
	// not used. -loadtest.stages overrides them.
	Stages []Stage
	// Pacer, when set, schedules the open model's starts in place of
	// Rate, which stays the load the ceiling checks and must be its
	// peak (see Pacer).
	Pacer Pacer

	Duration time.Duration // how long new tasks start (default 30 s; Endless: until stopped)
	// Segment cuts the run into stretches judged and written on their
	// own while the load goes on: at the end of each, its files are
	// written under the name <Test>_<start, UTC>, it is compared with the
	// baseline, tested for leaks, appended to the history, and its
	// findings are announced. A whole number of windows, at least 3
	// (default: the whole run, one segment; DefaultSegment for a run
	// without end).
	Segment time.Duration
	Grace   time.Duration // how long in-flight tasks may finish after Duration (default 5 s)
	Timeout time.Duration // per-task timeout unless the task sets one (default 10 s)
	Window  time.Duration // time-series window (default 10 s)

	// MaxFailureRatio fails the test when a task's failures exceed this
	// fraction of its requests (default 1%). Negative disables the check.
	MaxFailureRatio float64

	// LateTolerance and MaxLateRatio decide, in the open model, when the
	// load did not hold the rate: more than MaxLateRatio (default 1%) of
	// starts later than LateTolerance (default 10 ms) by the generator's
	// doing, waiting for a slot (all MaxInFlight taken by the target's
	// unanswered tasks) or never made, by more than chance explains (a
	// one-sided binomial test at 1 %: one late start in thirty is not a
	// failure, three are), fails the test.
	LateTolerance time.Duration
	MaxLateRatio  float64

	// Host is the base URL of the target (e.g. "https://api.example.com").
	// -loadtest.host overrides it; when both are empty the first stand-in
	// that starts is used.
	Host string
	// StandIns are tried in order when no host is given.
	StandIns []StandIn
	// Duet also runs every task against a base version and judges the
	// scenario's target (the candidate) against it within the run (see
	// Duet); -loadtest.duet names the base.
	Duet Duet
	// Env names the target environment for baselines; default: the
	// stand-in's Env, or the host name.
	Env string

	// OnStart runs once per user before its first task (log in, say); an
	// error stops that user and is counted as a failure of task "OnStart".
	// OnStop runs once per user after its last task.
	OnStart func(ctx context.Context, u *User) error
	OnStop  func(ctx context.Context, u *User) error

	// NoCookies turns off the users' cookie jars. By default each user
	// keeps the cookies the target sets, as a browser session does, and
	// sends them back with its later requests, never another user's (see
	// docs/scenarios.md, Sessions).
	NoCookies bool
	// Renew, when set, renews a user's credentials when a request made
	// through the User's helpers is answered 401 Unauthorized and 401 is
	// not one of its Expect codes: it runs once (log in again, set
	// u.Header or a cookie), then that request is sent once more, whatever
	// its method, as a 401 says the target did nothing with it. A second
	// 401, or an error from Renew, fails the request with the 401.
	// Requests made inside Renew are never renewed.
	Renew func(ctx context.Context, u *User) error

	// Header is sent with every request made through the User's HTTP
	// helpers, after the harness's own headers.
	Header http.Header
	// Transport replaces the HTTP transport (tests, custom TLS).
	Transport http.RoundTripper

	// Seed makes task choice and think time reproducible; 0 picks one.
	Seed uint64

	// --- baseline gate ---

	// Gate configures the comparison with the recorded baseline (see
	// Gate); its zero value is the default gate.
	Gate Gate

	// Thresholds are absolute limits beside the gate, as k6's: each
	// segment that misses one fails, with the figure, whether or not
	// there is a baseline. Each is a task's key and a colon (none for all
	// tasks together), a metric, a comparison and a limit:
	// "p95 < 300ms", "GET /orders/{id}: p99 <= 1s", "failures < 0.5%",
	// "rate > 9.5/s"; the metrics are pNN and max and mean (of successful
	// requests), failures and rate. A threshold that does not parse, or
	// names a task the scenario does not have, is an error before any
	// request. -loadtest.threshold overrides them.
	Thresholds []string

	// --- guard rails ---

	// Guard is the abort guard, on by default (see Guard).
	Guard Guard
	// Auth is a secret header read from the environment or a file and
	// sent to the target only (see Auth).
	Auth Auth
	// MaxBackoff caps the pause after a 429 or 503, whatever its
	// Retry-After says (default 10 s).
	MaxBackoff time.Duration

	// --- server signals and history ---

	// Metrics is the URL of the target's Prometheus text endpoint, scraped
	// every few seconds during the run; "off" scrapes nothing. Empty means
	// the stand-in's own /metrics when the run uses a stand-in, and none
	// for a real host. -loadtest.metrics overrides it.
	Metrics string
	// Signals are the metrics recorded beyond signals.DefaultSignals, by
	// name or selector, e.g. `queue_depth{queue="orders"}`; a counter is
	// recorded as its rate per second.
	Signals []string
	// Probes are numbers read from the target by the scenario's own code
	// (a queue length from an admin API, say), sampled once per window.
	Probes []Probe
	// SignalRise is the check of each signal for a steady rise over the
	// run: "warn" (default), "fail" or "off". -loadtest.signal-rise
	// overrides it.
	SignalRise Mode
	// Prometheus is the base URL of a Prometheus (or Thanos, Mimir,
	// VictoriaMetrics) that scrapes every replica of the target; Queries
	// are read from it once per segment, one point per window, and join
	// the server signals. -loadtest.prometheus overrides it.
	Prometheus string
	// Queries are named PromQL expressions read from Prometheus, e.g.
	// {"db p95", `histogram_quantile(0.95, sum by (le) (rate(db_query_seconds_bucket[1m])))`};
	// none means promquery.DefaultQueries (docs/history.md lists them).
	Queries []Query

	// Leak is the within-run latency trend check of each task's window
	// medians: "warn" (default), "fail" or "off". -loadtest.leak overrides it.
	Leak Mode
	// LeakGrowth is the smallest growth of a task's latency over the run
	// that counts as a leak (default 0.20, i.e. +20 %).
	LeakGrowth float64
	// Drift is the check of the run history for a creep or a step of each
	// task's p95: "warn" (default), "fail" or "off". -loadtest.drift
	// overrides it.
	Drift Mode
}

// A Mode says what a check does with what it finds: ModeWarn (the zero
// value's meaning) logs it, ModeFail fails the test, ModeOff skips the
// check.
type Mode string

// The modes of the trend checks (Scenario.Leak, Drift, SignalRise and
// their flags).
const (
	ModeWarn Mode = "warn"
	ModeFail Mode = "fail"
	ModeOff  Mode = "off"
)

// A Task is one kind of operation in the mix, timed as a whole. Name
// groups requests: "GET /users/{id}" for every user id. A leading HTTP
// method in Name becomes the Type column of the CSV files.
type Task struct {
	Name    string
	Weight  int // relative frequency; 0 counts as 1
	Do      func(ctx context.Context, u *User) error
	Timeout time.Duration // overrides Scenario.Timeout
}

// A StandIn starts something to run the load against when no host is
// given: an in-process server, a container. Start returns the base URL.
// An error wrapping ErrUnavailable means "not here" (Docker absent, say):
// the next stand-in is tried; any other error fails the test.
type StandIn struct {
	Env   string // environment name, e.g. "local" or "container"
	Start func(tb testing.TB) (baseURL string, err error)
}

// ErrUnavailable is wrapped by a StandIn's Start error when the stand-in
// cannot run on this machine.
var ErrUnavailable = errors.New("stand-in unavailable")
