package loadtest

import (
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/shard"
)

// flags holds the core -loadtest.* flags of one flag set.
type flags struct {
	fs          *flag.FlagSet
	host        *string
	duration    *time.Duration
	segment     *time.Duration
	users       *int
	spawnRate   *float64
	rate        *float64
	out         *string
	env         *string
	window      *time.Duration
	grace       *time.Duration
	timeout     *time.Duration
	maxInFlight *int
	coalesce    *time.Duration
	maxFailures *float64
	seed        *uint64
	wait        *string
	stages      *string
	// vars gives the flags of fs their values from the STEADYLOAD_*
	// variables, for the process's command line; nil for other flag sets.
	vars     *envVars
	shard    *string
	runID    *string
	location *string
	duet     *string
	duetOrd  *string
}

func newFlags(fs *flag.FlagSet) *flags {
	return &flags{
		fs:          fs,
		host:        fs.String("loadtest.host", "", "base `URL` of the target (default: the scenario's stand-in)"),
		duration:    fs.Duration("loadtest.duration", 0, "how long tasks start (default 30s or the scenario's); 0: until stopped by SIGINT or SIGTERM, judged once a -loadtest.segment (needs go test -timeout=0)"),
		segment:     fs.Duration("loadtest.segment", 0, "judge and write the run once per this much of it, a whole number of windows, at least 3 (default: the whole run; 1h for a run without end)"),
		users:       fs.Int("loadtest.users", 0, "run in the closed model with this many users"),
		spawnRate:   fs.Float64("loadtest.spawn-rate", 0, "users started per second in the closed model (default 1)"),
		rate:        fs.Float64("loadtest.rate", 0, "run in the open model at this many task starts per second"),
		out:         fs.String("loadtest.out", "loadtest-results", "`dir`ectory for the result files"),
		env:         fs.String("loadtest.env", "", "name of the target environment, used by baselines (default: from the target)"),
		window:      fs.Duration("loadtest.window", 0, "time-series window (default 10s)"),
		grace:       fs.Duration("loadtest.grace", 0, "how long in-flight tasks may finish after the duration (default 5s)"),
		timeout:     fs.Duration("loadtest.timeout", 0, "per-task timeout (default 10s)"),
		maxInFlight: fs.Int("loadtest.max-in-flight", 0, "cap on tasks in flight in the open model (default 100)"),
		coalesce:    fs.Duration("loadtest.coalesce", 0, "open model: starts due within this are made in one wake-up of the scheduler (default 10ms; 0 makes each at its own time)"),
		maxFailures: fs.Float64("loadtest.max-failure-ratio", 0, "fail when a task's failure ratio exceeds this (default 0.01; negative disables)"),
		seed:        fs.Uint64("loadtest.seed", 0, "seed for task choice and think time (default random)"),
		wait:        fs.String("loadtest.wait", "", "closed model: think time after each task, `between:1s:5s`, constant:2s, pacing:10s (a start every 10s) or none"),
		stages:      fs.String("loadtest.stages", "", "the load in `stages`, e.g. 30s:10,2m:10,30s:0: each ramps from the last target (the first from 0) to its own over its duration, in starts per second (open model) or users (closed model); the run lasts their sum"),
		shard:       fs.String("loadtest.shard", "", "run shard `i/N` of the load (rate, users and spawn rate divided by N; needs -loadtest.run-id); auto/N takes i from $JOB_COMPLETION_INDEX+1; the merged shards are judged by steadyload compare"),
		runID:       fs.String("loadtest.run-id", "", "the run's `id`, shared by its shards (default random)"),
		duet:        fs.String("loadtest.duet", "", "base `URL` of a duet: every task also runs against this base version, and the target is judged against it within the run (no stored baseline)"),
		duetOrd:     fs.String("loadtest.duet-order", "", "a duet's pair of requests: concurrent (default) or shuffled (back to back, in a random order per pair)"),
		location:    fs.String("loadtest.location", "", "`name` of where the load comes from, e.g. eu-west: kept in the metadata, and baselines and history are kept per <env>@<name>"),
	}
}

// set reports whether the named flag was given.
func (f *flags) set(name string) bool { return isSetIn(f.fs, name) }

// isSetIn reports whether the named flag was given in fs: on the command
// line, or, for the process's command line, in the environment (see
// setFromEnv, which sets the flags it gives before any is read).
func isSetIn(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// autoShard turns "auto/N" into "i/N" with i from $JOB_COMPLETION_INDEX
// plus one (a Kubernetes Indexed Job counts its pods from 0), so that a
// container without a shell can be given its shard; other values, and
// "auto" without the variable, are left for shard.Parse to judge.
func autoShard(s string, lookup func(string) (string, bool)) string {
	n, ok := strings.CutPrefix(s, "auto/")
	if !ok {
		return s
	}
	v, ok := lookup("JOB_COMPLETION_INDEX")
	i, err := strconv.Atoi(v)
	if !ok || err != nil || i < 0 {
		return s + " (JOB_COMPLETION_INDEX: " + strconv.Quote(v) + ", want the pod's index from 0)"
	}
	return strconv.Itoa(i+1) + "/" + n
}

// endlessDuration stands for the Duration of a run without end: far
// enough that no timer of the run ever reaches it.
const endlessDuration = 100 * 365 * 24 * time.Hour

// plan is a scenario with flags applied and defaults filled in, validated.
type plan struct {
	Scenario
	open    bool
	endless bool     // runs until stopped; Duration is endlessDuration
	host    *url.URL // nil when a stand-in is to be used
	out     string
	weights []int // cumulative

	shard    shard.Spec // the part of the load this process sends; zero: all of it
	runID    string     // the run id given; empty: a random one
	location string     // where the load comes from; empty: not said
	duetBase *url.URL   // a duet's base URL; nil: its stand-ins, or no duet
}

// resolve applies the flags and defaults to sc and checks the result. It
// reports every problem, not just the first.
func resolve(sc Scenario, f *flags) (*plan, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := f.vars.apply(f.fs); err != nil {
		errs = append(errs, err)
	}
	p := &plan{Scenario: sc, out: *f.out}

	if f.set("loadtest.host") {
		p.Host = *f.host
	}
	if f.set("loadtest.duration") {
		p.Duration = *f.duration
		switch {
		case p.Duration == 0:
			p.Duration = Endless
		case p.Duration < 0:
			bad("-loadtest.duration=%s: must be positive, or 0 for a run without end", *f.duration)
		}
	}
	if f.set("loadtest.segment") {
		p.Segment = *f.segment
		if p.Segment <= 0 {
			bad("-loadtest.segment=%s: must be positive", *f.segment)
		}
	}
	rateSet, usersSet := f.set("loadtest.rate"), f.set("loadtest.users")
	switch {
	case rateSet && usersSet:
		bad("-loadtest.rate and -loadtest.users are both set: pick the open model (rate) or the closed model (users)")
	case rateSet:
		p.Rate, p.Users = *f.rate, 0
		if p.Rate <= 0 || math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) {
			bad("-loadtest.rate=%g: must be a positive number of starts per second", *f.rate)
		}
	case usersSet:
		p.Users, p.Rate = *f.users, 0
		if p.Users <= 0 {
			bad("-loadtest.users=%d: must be at least 1", *f.users)
		}
	}
	if f.set("loadtest.wait") {
		w, err := ParseWait(*f.wait)
		if err != nil {
			bad("-loadtest.wait=%s: %v", *f.wait, err)
		}
		p.Wait = w
	}
	if f.set("loadtest.stages") {
		st, err := parseStages(*f.stages)
		if err != nil {
			bad("-loadtest.stages=%s: %v", *f.stages, err)
		}
		p.Stages = st
	}
	if f.set("loadtest.spawn-rate") {
		p.SpawnRate = *f.spawnRate
		if p.SpawnRate <= 0 {
			bad("-loadtest.spawn-rate=%g: must be positive", *f.spawnRate)
		}
	}
	if f.set("loadtest.env") {
		p.Env = *f.env
	}
	if f.set("loadtest.window") {
		p.Window = *f.window
		if p.Window <= 0 {
			bad("-loadtest.window=%s: must be positive", *f.window)
		}
	}
	if f.set("loadtest.grace") {
		p.Grace = *f.grace
		if p.Grace <= 0 {
			bad("-loadtest.grace=%s: must be positive", *f.grace)
		}
	}
	if f.set("loadtest.timeout") {
		p.Timeout = *f.timeout
		if p.Timeout <= 0 {
			bad("-loadtest.timeout=%s: must be positive", *f.timeout)
		}
	}
	if f.set("loadtest.max-in-flight") {
		p.MaxInFlight = *f.maxInFlight
		if p.MaxInFlight <= 0 {
			bad("-loadtest.max-in-flight=%d: must be at least 1", *f.maxInFlight)
		}
	}
	if f.set("loadtest.coalesce") {
		p.Coalesce = *f.coalesce
		if p.Coalesce < 0 {
			bad("-loadtest.coalesce=%s: must not be negative", *f.coalesce)
		}
		if p.Coalesce == 0 {
			p.Coalesce = -1 // set to zero: no coalescing
		}
	}
	if f.set("loadtest.max-failure-ratio") {
		p.MaxFailureRatio = *f.maxFailures
		if p.MaxFailureRatio == 0 {
			p.MaxFailureRatio = math.SmallestNonzeroFloat64 // "no failures at all"
		}
	}
	if f.set("loadtest.seed") {
		p.Seed = *f.seed
	}
	if p.out == "" {
		bad("-loadtest.out is empty: name a directory for the results")
	}
	if f.set("loadtest.run-id") {
		p.runID = *f.runID
		if !validName(p.runID) {
			bad("-loadtest.run-id=%q: want 1 to 64 letters, digits, '.', '_' or '-'", *f.runID)
		}
	}
	if f.set("loadtest.location") {
		p.location = *f.location
		if !validName(p.location) {
			bad("-loadtest.location=%q: want 1 to 64 letters, digits, '.', '_' or '-', e.g. eu-west", *f.location)
		}
	}
	if f.set("loadtest.shard") {
		s, err := shard.Parse(autoShard(*f.shard, os.LookupEnv))
		switch {
		case err != nil:
			bad("-loadtest.shard: %v", err)
		case !f.set("loadtest.run-id"):
			bad("-loadtest.shard=%s needs -loadtest.run-id: the shards of one run share its id, and steadyload merge joins them by it", *f.shard)
		}
		p.shard = s
	}

	// Stages make the run's duration.
	if len(p.Stages) > 0 && p.Duration == 0 {
		for _, st := range p.Stages {
			p.Duration += max(st.Duration, 0)
		}
	}
	// Defaults.
	if p.Duration == 0 {
		p.Duration = DefaultDuration
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	if p.Grace == 0 {
		p.Grace = DefaultGrace
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	if p.SpawnRate == 0 {
		p.SpawnRate = DefaultSpawnRate
	}
	if p.MaxInFlight == 0 {
		p.MaxInFlight = DefaultMaxInFlight
	}
	if p.MaxFailureRatio == 0 {
		p.MaxFailureRatio = DefaultMaxFailureRatio
	}
	if p.LateTolerance == 0 {
		p.LateTolerance = DefaultLateTolerance
	}
	switch {
	case p.Coalesce == 0:
		p.Coalesce = DefaultCoalesce
	case p.Coalesce < 0:
		p.Coalesce = 0
	}
	if p.MaxLateRatio == 0 {
		p.MaxLateRatio = DefaultMaxLateRatio
	}

	// Segments: the whole run, unless cut.
	if p.Duration == Endless {
		p.endless = true
		p.Duration = endlessDuration
		if p.Segment == 0 {
			p.Segment = DefaultSegment
		}
	}
	switch {
	case p.Segment < 0:
		bad("segment %s is negative", p.Segment)
	case p.Segment == 0 || p.Segment >= p.Duration:
		p.Segment = 0 // one segment: the whole run
	case p.Window > 0 && (p.Segment%p.Window != 0 || p.Segment < 3*p.Window):
		bad("segment %s: must be a whole number of windows (%s), at least 3", p.Segment, p.Window)
	}

	// The scenario itself.
	switch {
	case p.Duration < 0:
		bad("duration %s is negative (Endless, -1, asks for a run without end)", p.Duration)
	case p.Window < 0:
		bad("window %s is negative", p.Window)
	case p.Grace < 0:
		bad("grace %s is negative", p.Grace)
	case p.Timeout < 0:
		bad("timeout %s is negative", p.Timeout)
	}
	if p.Users < 0 {
		bad("users %d is negative", p.Users)
	}
	if p.Rate < 0 || math.IsNaN(p.Rate) || math.IsInf(p.Rate, 0) {
		bad("rate %g is not a positive number", p.Rate)
	}
	switch {
	case p.Users > 0 && p.Rate > 0 && !rateSet && !usersSet:
		bad("scenario sets both Users (%d) and Rate (%g): pick the closed model (users) or the open model (rate)", p.Users, p.Rate)
	case p.Users == 0 && p.Rate == 0:
		bad("no load: rate and users are both zero; set Scenario.Users or Scenario.Rate, or -loadtest.users or -loadtest.rate")
	}
	p.open = p.Rate > 0
	p.checkStages(f.set("loadtest.duration"), bad)
	if p.Pacer != nil && !p.open {
		bad("Pacer is set in the closed model: it schedules the open model's starts; set Rate (its peak) in place of Users")
	}
	if p.SpawnRate < 0 || math.IsNaN(p.SpawnRate) {
		bad("spawn rate %g is not a positive number", p.SpawnRate)
	}
	if p.MaxInFlight < 0 {
		bad("max in flight %d is negative", p.MaxInFlight)
	}
	if p.Wait != nil {
		if err := validWait(p.Wait); err != nil {
			bad("%v", err)
		}
	}
	switch {
	case p.open && f.set("loadtest.wait"):
		bad("-loadtest.wait is the closed model's think time, and this run is in the open model (rate %g/s): give -loadtest.users too, or drop -loadtest.wait", p.Rate)
	case !p.open && p.Users > 0 && p.Wait == nil:
		bad("closed model with no think time: each of the %d users would start its next task the moment the last one ends, a load set by the target's speed, not by the scenario; "+
			"set a think time (Scenario.Wait = loadtest.Between(1*time.Second, 5*time.Second), or -loadtest.wait=between:1s:5s), "+
			"or ask for none on purpose (Wait: loadtest.Constant(0), or -loadtest.wait=none)", p.Users)
	}
	// A shard sends its part of the load.
	switch {
	case p.shard.Whole():
	case p.open:
		p.Rate = p.shard.Rate(p.Rate)
	case p.Users < p.shard.Count:
		bad("-loadtest.shard=%s: %d users cannot be dealt out to %d shards; give each shard one at least", p.shard, p.Users, p.shard.Count)
	default:
		p.Users, p.SpawnRate = p.shard.Users(p.Users), p.shard.Rate(p.SpawnRate)
	}
	if len(p.Tasks) == 0 {
		bad("scenario has no tasks")
	}
	seen := map[string]bool{}
	total := 0
	for i, t := range p.Tasks {
		switch {
		case t.Name == "":
			bad("task %d has no name", i)
		case seen[t.Name]:
			bad("task %q appears twice", t.Name)
		}
		seen[t.Name] = true
		if t.Do == nil {
			bad("task %q has no Do function", t.Name)
		}
		if t.Weight < 0 {
			bad("task %q has negative weight %d", t.Name, t.Weight)
		}
		if t.Timeout < 0 {
			bad("task %q has negative timeout %s", t.Name, t.Timeout)
		}
		w := t.Weight
		if w == 0 {
			w = 1
		}
		total += w
		p.weights = append(p.weights, total)
	}
	if f.set("loadtest.duet") {
		p.Duet.Base = *f.duet
	}
	if f.set("loadtest.duet-order") {
		p.Duet.Order = DuetOrder(*f.duetOrd)
	}
	if _, err := parseDuetOrder(string(p.Duet.Order)); err != nil {
		bad("%v", err)
	}
	if p.Duet.Base != "" {
		u, err := duetURL(p.Duet.Base)
		if err != nil {
			bad("%v", err)
		}
		p.duetBase = u
	}
	if p.Duet.on() && !p.shard.Whole() {
		bad("a duet cannot be sharded: its pairs are judged within one process")
	}
	if p.Host != "" {
		u, err := parseHost(p.Host)
		if err != nil {
			bad("%v", err)
		}
		p.host = u
	} else if len(p.StandIns) == 0 {
		bad("no target: set -loadtest.host (e.g. -loadtest.host=https://api.example.com) or give the scenario a stand-in")
	}
	return p, errors.Join(errs...)
}

// validName reports whether s can name a run or a location: 1 to 64
// letters, digits, '.', '_' or '-', safe in a file name as it is.
func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

// parseHost checks a base URL: an http or https scheme, a host, and
// nothing after the path.
func parseHost(s string) (*url.URL, error) {
	r := redact(s)
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("host %q: %v", r, errors.Unwrap(err))
	}
	switch {
	case u.Scheme == "" || u.Opaque != "":
		return nil, fmt.Errorf("host %q has no scheme: write http://%s or https://%s", r, r, r)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("host %q: scheme %q is not http or https", redact(s), u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("host %q has no host name", redact(s))
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("host %q: a base URL takes no query or fragment", redact(s))
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	return u, nil
}

// redact removes the password of a URL's userinfo, if any: secrets never
// reach logs, files or messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
