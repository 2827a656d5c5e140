package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/loadtest/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The hard ceiling on load and the abort guard's defaults. A run above the
// ceiling refuses to start unless -loadtest.allow-high-load says the high
// load is intended.
const (
	DefaultMaxRate           = 50.0 // task starts per second, open model
	DefaultMaxUsers          = 50   // users, closed model
	DefaultAbortFailureRatio = 0.2
	DefaultAbortMinRequests  = 20
	DefaultMaxBackoff        = 10 * time.Second
)

// Guard is the abort guard: on by default, it judges the run's recent
// requests every fifth of a Span and, when the target turns bad — too many
// failures, or a p95 above a limit — stops all load at once, writes the
// results marked aborted and fails the test with "aborted to protect the
// target: ...". Its zero value is the default guard; -loadtest.abort*
// flags override its fields.
//
// The guard's look-back is defined in time and requests together: it
// judges the requests that finished within the last Span when there are at
// least MinRequests of them, and otherwise the last MinRequests requests
// that finished, however long ago — bounded only by the start of the run.
// So a high rate is judged on the last Span alone, and a thin one (a
// request a minute, a short window) on its last MinRequests requests, as
// soon as the run has that many. A run that never finishes MinRequests
// requests is not judged: the guard does not fail it but says so once in
// the log, and the scenario's MaxFailureRatio check still fails a target
// that failed too many of them.
type Guard struct {
	Off bool // disables the guard (-loadtest.abort=false)
	// MaxFailureRatio aborts when more than this fraction of the judged
	// requests failed (default 0.2); negative disables this limit.
	MaxFailureRatio float64
	// MaxP95 aborts when the p95 latency of the judged requests that
	// succeeded is above it; zero disables this limit.
	MaxP95 time.Duration
	// Span is the time the guard looks back over when it holds at least
	// MinRequests finished requests (default: the window); the guard
	// judges every fifth of it.
	Span time.Duration
	// MinRequests is the least number of finished requests a verdict needs
	// (default 20), and how many the guard judges when the last Span holds
	// fewer. The guard keeps up to that many outcomes, 24 bytes each.
	MinRequests int
}

// safetyFlags are the flags of the guard rails, on one flag set.
type safetyFlags struct {
	fs                *flag.FlagSet
	maxRate           *float64
	maxUsers          *int
	allowHighLoad     *bool
	abort             *bool
	abortFailureRatio *float64
	abortP95          *time.Duration
	abortSpan         *time.Duration
	abortMinRequests  *int
	maxBackoff        *time.Duration
	authHeader        *string
	authHeaderEnv     *string
	authFile          *string
}

func newSafetyFlags(fs *flag.FlagSet) *safetyFlags {
	return &safetyFlags{
		fs:                fs,
		maxRate:           fs.Float64("loadtest.max-rate", DefaultMaxRate, "refuse to start above this many task starts per second unless -loadtest.allow-high-load"),
		maxUsers:          fs.Int("loadtest.max-users", DefaultMaxUsers, "refuse to start above this many users unless -loadtest.allow-high-load"),
		allowHighLoad:     fs.Bool("loadtest.allow-high-load", false, "allow a load above -loadtest.max-rate or -loadtest.max-users"),
		abort:             fs.Bool("loadtest.abort", true, "stop all load when the target turns bad (the abort guard)"),
		abortFailureRatio: fs.Float64("loadtest.abort-failure-ratio", 0, "abort when more than this fraction of the judged requests failed (default 0.2; negative disables)"),
		abortP95:          fs.Duration("loadtest.abort-p95", 0, "abort when the p95 latency of the judged requests is above this (default: no limit)"),
		abortSpan:         fs.Duration("loadtest.abort-span", 0, "the abort guard judges the requests finished within this span when there are at least -loadtest.abort-min-requests of them, else the last that many (default: the window)"),
		abortMinRequests:  fs.Int("loadtest.abort-min-requests", 0, "finished requests the abort guard needs for a verdict, and how many it judges when its span holds fewer (default 20)"),
		maxBackoff:        fs.Duration("loadtest.max-backoff", 0, "longest pause after a 429 or 503, whatever Retry-After says (default 10s)"),
		authHeader:        fs.String("loadtest.auth-header", "", "`name` of the secret header (default Authorization)"),
		authHeaderEnv:     fs.String("loadtest.auth-header-env", "", "environment `variable` holding the secret header's value"),
		authFile:          fs.String("loadtest.auth-file", "", "`file` holding the secret header's value"),
	}
}

func (f *safetyFlags) set(name string) bool { return isSetIn(f.fs, name) }

// newSafety makes the guard rails of r from flags f: it refuses a load
// above the ceiling, starts the abort guard's watcher, sets up back-off
// and the secret header on the run's transport, and takes the output
// folder's lock, in that order. A setting that is wrong is an error and
// nothing is left running.
func newSafety(r *runner, f *safetyFlags) (*safety, error) {
	s := &safety{r: r}
	errs := []error{
		s.checkCeiling(f),
		s.installGuard(f),
		s.installBackoff(f),
		s.installSecret(f),
	}
	if err := errors.Join(errs...); err != nil {
		s.close()
		return nil, err
	}
	// The lock last: nothing to undo after it.
	if err := s.lockOutput(); err != nil {
		s.close()
		return nil, err
	}
	if s.guard != nil {
		r.guard = s.guard
	}
	if s.bo != nil {
		r.backoff = s.bo
	}
	if s.secret != nil {
		r.scrub = s.secret.scrub
	}
	return s, nil
}

// safety is the guard rails' state for one run.
type safety struct {
	r      *runner
	guard  *guard
	bo     *backoff
	secret *secret
	unlock func() // the output folder's lock
}

// Start, Window and Stop make the guard rails an observer of the load:
// the guard's watcher runs from the start on, and stops with the load.
func (s *safety) Start(context.Context, time.Time) {}
func (s *safety) Window([]result.Window)          {}
func (s *safety) Stop(*pipeline.Segment)          { s.close() }

// checkCeiling refuses a load above the ceiling unless it is allowed.
func (s *safety) checkCeiling(f *safetyFlags) error {
	p := s.r.plan
	maxRate, maxUsers := *f.maxRate, *f.maxUsers
	var errs []error
	if maxRate <= 0 || math.IsNaN(maxRate) {
		errs = append(errs, fmt.Errorf("-loadtest.max-rate=%g: must be positive", maxRate))
	}
	if maxUsers <= 0 {
		errs = append(errs, fmt.Errorf("-loadtest.max-users=%d: must be at least 1", maxUsers))
	}
	if errs != nil || *f.allowHighLoad {
		return errors.Join(errs...)
	}
	if p.open && p.Rate > maxRate {
		errs = append(errs, fmt.Errorf("rate %s is above the ceiling of %s: pass -loadtest.allow-high-load if this load is intended, or raise -loadtest.max-rate",
			constantRate{Freq: p.Rate}, constantRate{Freq: maxRate}))
	}
	if !p.open && p.Users > maxUsers {
		errs = append(errs, fmt.Errorf("%d users is above the ceiling of %d: pass -loadtest.allow-high-load if this load is intended, or raise -loadtest.max-users",
			p.Users, maxUsers))
	}
	return errors.Join(errs...)
}

// lockOutput takes the lock of the test's files in the output folder, so
// two runs of one test writing the same folder (two CI jobs on one
// workspace, say) cannot interleave their files or baselines: the second
// refuses to start. The lock is held until the run's results are written
// (release); a crash frees it.
func (s *safety) lockOutput() error {
	r := s.r
	dir := r.plan.out
	unlock, err := atomicfile.Lock(filepath.Join(dir, "."+result.FileBase(r.tb.Name())+".lock"))
	if err != nil {
		if errors.Is(err, atomicfile.ErrLocked) {
			return fmt.Errorf("another run of %s is writing to %s (%v): wait for it to end, or give this run its own -loadtest.out", r.tb.Name(), dir, err)
		}
		return fmt.Errorf("output folder: %w", err)
	}
	s.unlock = unlock
	return nil
}

// close stops the guard's watcher; safe to call more than once.
func (s *safety) close() {
	if s.guard != nil {
		s.guard.stopWatching()
	}
}

// release stops the watcher and lets the next run of the test in this
// process write to the output folder.
func (s *safety) release() {
	s.close()
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
}

// Evaluate reports what the guard rails saw: a target that turned bad as
// the load ended, what the target did to a failed run, the back-off.
func (s *safety) Evaluate(seg *pipeline.Segment) {
	if s.guard != nil {
		s.guard.finish(seg)
	}
	if d := diagnose(s.r, seg.Run); d != "" {
		seg.Failf("what happened: %s", d)
	}
	if s.bo != nil {
		s.bo.report(s.r)
	}
}

// guardSlots is how many slots a span has: the watcher judges once a slot.
const guardSlots = 5

// guard is the abort guard of one run. Outcomes go into a ring of short
// slots (a fifth of the span each), which sum up to the last span however
// high the rate, and into a ring of the last MinRequests outcomes, which
// stand in for the span when it holds fewer. Every slot the watcher judges
// one or the other.
type guard struct {
	r    *runner
	cfg  Guard
	slot time.Duration
	t0   time.Time // slot 0 starts here

	mu     sync.Mutex
	ring   []guardSlot
	recent []guardOutcome // the last MinRequests outcomes, grown up to that many
	next   int            // where the next outcome goes once recent is full: the oldest
	seen   int64          // finished requests, stopped ones excluded
	judged bool           // had enough data for a verdict at least once
	sum    *hdrhistogram.Histogram
	lats   []time.Duration // scratch: the latencies of recent's successes, for their p95

	last     string // what was wrong in the last span, judged when the load ended
	quit     chan struct{}
	quitOnce sync.Once
	done     chan struct{}
}

// guardOutcome is one finished request, as the guard keeps it.
type guardOutcome struct {
	end     time.Duration // since guard.t0
	latency time.Duration
	failed  bool
}

type guardSlot struct {
	idx        int64
	req, fails int64
	lat        *hdrhistogram.Histogram // successes, µs, two significant digits; nil without a p95 limit
}

// resolveGuard applies the flags and defaults to the scenario's Guard.
func resolveGuard(g Guard, f *safetyFlags, window time.Duration) (Guard, error) {
	var errs []error
	if f.set("loadtest.abort") {
		g.Off = !*f.abort
	}
	if f.set("loadtest.abort-failure-ratio") {
		g.MaxFailureRatio = *f.abortFailureRatio
		if g.MaxFailureRatio == 0 || g.MaxFailureRatio >= 1 || math.IsNaN(g.MaxFailureRatio) {
			errs = append(errs, fmt.Errorf("-loadtest.abort-failure-ratio=%g: must be between 0 and 1 (negative disables)", *f.abortFailureRatio))
		}
	}
	if f.set("loadtest.abort-p95") {
		g.MaxP95 = *f.abortP95
		if g.MaxP95 <= 0 {
			errs = append(errs, fmt.Errorf("-loadtest.abort-p95=%s: must be positive", *f.abortP95))
		}
	}
	if f.set("loadtest.abort-span") {
		g.Span = *f.abortSpan
		if g.Span <= 0 {
			errs = append(errs, fmt.Errorf("-loadtest.abort-span=%s: must be positive", *f.abortSpan))
		}
	}
	if f.set("loadtest.abort-min-requests") {
		g.MinRequests = *f.abortMinRequests
		if g.MinRequests <= 0 {
			errs = append(errs, fmt.Errorf("-loadtest.abort-min-requests=%d: must be at least 1", *f.abortMinRequests))
		}
	}
	switch {
	case g.MaxFailureRatio >= 1 || math.IsNaN(g.MaxFailureRatio):
		errs = append(errs, fmt.Errorf("Guard.MaxFailureRatio %g: must be below 1 (negative disables)", g.MaxFailureRatio))
	case g.MaxP95 < 0:
		errs = append(errs, fmt.Errorf("Guard.MaxP95 %s is negative", g.MaxP95))
	case g.Span < 0:
		errs = append(errs, fmt.Errorf("Guard.Span %s is negative", g.Span))
	case g.MinRequests < 0:
		errs = append(errs, fmt.Errorf("Guard.MinRequests %d is negative", g.MinRequests))
	}
	if g.MaxFailureRatio == 0 {
		g.MaxFailureRatio = DefaultAbortFailureRatio
	}
	if g.Span == 0 {
		g.Span = window
	}
	if g.MinRequests == 0 {
		g.MinRequests = DefaultAbortMinRequests
	}
	return g, errors.Join(errs...)
}

// installGuard starts the abort guard's watcher, unless it is off.
func (s *safety) installGuard(f *safetyFlags) error {
	r := s.r
	cfg, err := resolveGuard(r.plan.Guard, f, r.plan.Window)
	if err != nil || cfg.Off {
		return err
	}
	s.guard = newGuard(r, cfg, time.Now())
	go s.guard.watch()
	return nil
}

// newGuard makes the guard of r, its slots counted from t0, without
// starting its watcher.
func newGuard(r *runner, cfg Guard, t0 time.Time) *guard {
	g := &guard{
		r: r, cfg: cfg, t0: t0,
		slot: max(cfg.Span/guardSlots, time.Millisecond),
		ring: make([]guardSlot, guardSlots),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	for i := range g.ring {
		g.ring[i] = guardSlot{idx: -1}
	}
	if cfg.MaxP95 > 0 {
		// Latency is kept only for a p95 limit: the histograms are most
		// of the guard's memory (27 kB a slot).
		g.sum = newGuardHistogram()
		for i := range g.ring {
			g.ring[i].lat = newGuardHistogram()
		}
	}
	return g
}

func newGuardHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(result.MinLatency, result.MaxLatency, 2)
}

// record feeds the abort guard one finished task. Tasks cut off by the
// run's own end (class stopped) say nothing about the target; a panic is
// the scenario's own fault, not the target's: the failure ratio check
// counts it, the guard does not.
func (g *guard) record(end time.Time, latency time.Duration, class string) {
	if class == ClassStopped || class == ClassPanic {
		return
	}
	g.add(end, latency, class != "")
}

// add counts one outcome in its slot.
func (g *guard) add(end time.Time, latency time.Duration, failed bool) {
	idx := int64(end.Sub(g.t0) / g.slot)
	if idx < 0 {
		idx = 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen++
	o := guardOutcome{end: end.Sub(g.t0), latency: latency, failed: failed}
	if len(g.recent) < g.cfg.MinRequests {
		g.recent = append(g.recent, o)
	} else {
		g.recent[g.next] = o
		if g.next++; g.next == len(g.recent) {
			g.next = 0
		}
	}
	sl := &g.ring[idx%int64(len(g.ring))]
	if sl.idx != idx {
		if sl.idx > idx {
			return // older than the ring
		}
		sl.idx, sl.req, sl.fails = idx, 0, 0
		if sl.lat != nil {
			sl.lat.Reset()
		}
	}
	sl.req++
	if failed {
		sl.fails++
	} else if sl.lat != nil {
		sl.lat.RecordValue(micros(latency))
	}
}

// stopWatching stops the watcher and, once the load has ended, judges the
// last requests: a run too short for a single tick is judged all the same, and
// a target that turned bad in the last moments is reported.
func (g *guard) stopWatching() {
	g.quitOnce.Do(func() {
		close(g.quit)
		<-g.done
		if g.r.rec != nil && !g.r.t0.IsZero() {
			g.last = g.check(time.Now())
		}
	})
	<-g.done
}

// watch judges the recent requests every slot until the load ends or the guard
// aborts the run.
func (g *guard) watch() {
	defer close(g.done)
	tk := time.NewTicker(g.slot)
	defer tk.Stop()
	for {
		select {
		case <-g.quit:
			return
		case now := <-tk.C:
			if bad := g.check(now); bad != "" {
				g.r.stop(result.Aborted, "aborted to protect the target: "+bad+"; all load stopped")
				return
			}
		}
	}
}

// verdictSpan is what the guard judged: a span of the run and its figures.
type verdictSpan struct {
	from, to   time.Time
	req, fails int64
	p95        time.Duration
	hasLatency bool
}

// look returns what the guard judges at now: the requests that finished
// in the last span when there are at least MinRequests of them, else the
// last MinRequests requests that finished; false when the run has not
// finished that many yet. The caller holds g.mu.
func (g *guard) look(now time.Time) (verdictSpan, bool) {
	var v verdictSpan
	minReq := g.cfg.MinRequests
	cur := max(int64(now.Sub(g.t0)/g.slot), 0)
	if g.sum != nil {
		g.sum.Reset()
	}
	n := int64(len(g.ring))
	for k := range min(n, cur+1) {
		idx := cur - k
		if sl := &g.ring[idx%n]; sl.idx == idx {
			v.req += sl.req
			v.fails += sl.fails
			if g.sum != nil {
				g.sum.Merge(sl.lat)
			}
		}
	}
	if v.req >= int64(minReq) {
		v.from = g.t0.Add(time.Duration(max(cur-n+1, 0)) * g.slot)
		if g.sum != nil && g.sum.TotalCount() > 0 {
			v.hasLatency = true
			v.p95 = time.Duration(g.sum.ValueAtPercentile(95)) * time.Microsecond
		}
		return v, true
	}
	if len(g.recent) < minReq {
		return verdictSpan{}, false
	}
	// The span holds too few: the last MinRequests, however old.
	v = verdictSpan{req: int64(minReq)}
	oldest := g.recent[g.next].end
	lats := g.lats[:0]
	for _, o := range g.recent {
		oldest = min(oldest, o.end)
		if o.failed {
			v.fails++
		} else if g.sum != nil {
			lats = append(lats, o.latency)
		}
	}
	g.lats = lats
	v.from = g.t0.Add(oldest)
	if len(lats) > 0 {
		slices.Sort(lats)
		v.hasLatency = true
		v.p95 = lats[(95*len(lats)+99)/100-1] // nearest rank
	}
	return v, true
}

// check judges what look returns and says what is wrong with the target,
// or "" when it is fine or there is too little data yet.
func (g *guard) check(now time.Time) string {
	g.mu.Lock()
	v, found := g.look(now)
	g.judged = g.judged || found
	g.mu.Unlock()
	if !found {
		return ""
	}
	v.to = now
	ratio := float64(v.fails) / float64(v.req)
	var what []string
	if g.cfg.MaxFailureRatio >= 0 && ratio > g.cfg.MaxFailureRatio {
		what = append(what, fmt.Sprintf("%d of %d requests failed (%.0f%% > %s)", v.fails, v.req, 100*ratio, percent(g.cfg.MaxFailureRatio)))
	}
	if g.cfg.MaxP95 > 0 && v.hasLatency && v.p95 > g.cfg.MaxP95 {
		what = append(what, fmt.Sprintf("p95 %s > %s over %d successful requests", fmtLatency(v.p95), fmtLatency(g.cfg.MaxP95), v.req-v.fails))
	}
	if len(what) == 0 {
		return ""
	}
	// Data was recorded, so the run started: r.t0 is set.
	r := g.r
	bad := fmt.Sprintf("%s between %s and %s of the run",
		strings.Join(what, " and "), offset(v.from.Sub(r.t0)), offset(v.to.Sub(r.t0)))
	if v.fails > 0 {
		if cls, msg, ok := topFailure(r); ok {
			bad += "; " + explain(cls, msg, r.target.Host)
		}
	}
	return bad
}

func offset(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return d.Round(100 * time.Millisecond).String()
}

func fmtLatency(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.String()
}

// finish reports a target that turned bad as the load ended, and notes a
// run the guard could never judge. Too little data for the guard is not a
// failure: the run's failure ratio check still judges the requests made.
func (g *guard) finish(seg *pipeline.Segment) {
	g.mu.Lock()
	judged, seen := g.judged, g.seen
	g.mu.Unlock()
	if !judged {
		g.r.tb.Logf("loadtest: abort guard: could not judge the target: %d requests finished in the whole run and a verdict needs %d (-loadtest.abort-min-requests); the failure ratio check still applies",
			seen, g.cfg.MinRequests)
	}
	if seg.Meta.Status == result.Complete && g.last != "" {
		seg.Failf("abort guard: the target turned bad as the load ended, too late to stop it: %s", g.last)
	}
}

// topFailure returns the most common failure of the run so far across
// tasks, stopped ones excluded.
func topFailure(r *runner) (class, msg string, ok bool) {
	type kv struct {
		k failKey
		n int64
	}
	var all []kv
	r.rec.mu.Lock()
	sums := map[failKey]int64{}
	for i := range r.rec.tasks {
		for k, n := range r.rec.tasks[i].errs {
			if k.class != ClassStopped {
				sums[k] += n
			}
		}
	}
	r.rec.mu.Unlock()
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

// explain says in words what a failure class means for the target.
func explain(class, msg, host string) string {
	switch class {
	case ClassRefused:
		return fmt.Sprintf("connection refused: nothing listens at %s (is the service down?)", host)
	case ClassReset:
		return fmt.Sprintf("connections reset or answers cut short (%s): the target drops connections mid-request", msg)
	case ClassTimeout:
		return fmt.Sprintf("requests timed out (%s): the target accepted them but did not answer in time", msg)
	case ClassTLS:
		return fmt.Sprintf("TLS handshake with %s failed (%s)", host, msg)
	case ClassDNS:
		return fmt.Sprintf("the host name of %s does not resolve (%s)", host, msg)
	case ClassHTTP:
		return fmt.Sprintf("the target answered %s", msg)
	case ClassCheck:
		return fmt.Sprintf("responses failed their checks (%s)", msg)
	case ClassStopped:
		return "requests were still waiting for an answer when the run's grace ended: the target accepted them but never answered"
	}
	return fmt.Sprintf("requests failed: %s", msg)
}

// diagnose is one line on what the target did, for a failed run that the
// guard did not abort: the most common failure, explained.
func diagnose(r *runner, res *result.Run) string {
	if res.Total == nil || res.Total.Failures == 0 || r.plan.MaxFailureRatio < 0 ||
		res.Total.FailureRatio() <= r.plan.MaxFailureRatio || res.Meta.Status == result.Aborted {
		return ""
	}
	var top *result.Failure
	for i := range res.Failures {
		f := &res.Failures[i]
		if top == nil || f.Occurrences > top.Occurrences {
			top = f
		}
	}
	if top == nil {
		return ""
	}
	return fmt.Sprintf("%d of %d requests failed, most with %q: %s",
		res.Total.Failures, res.Total.Requests, top.Error, explain(top.Class, top.Error, r.target.Host))
}
