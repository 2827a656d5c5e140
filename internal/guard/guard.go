// Package guard is the abort guard: it watches a run's finished requests
// and, when the target turns bad — too many failures, or a p95 above a
// limit — stops all load at once, saying why.
//
// Its look-back is defined in time and requests together: it judges the
// requests that finished within the last Span when there are at least
// MinRequests of them, and otherwise the last MinRequests requests that
// finished, however long ago. So a high rate is judged on the last Span
// alone, and a thin one on its last MinRequests requests, as soon as the
// run has that many. A run that never finishes MinRequests requests is
// not judged, and Finish says so.
//
//	g := guard.New(cfg, guard.Run{Host: host, TopFailure: top, Stop: stop})
//	g.Start(t0)                    // when the load starts
//	g.Outcome(o)                   // for every finished task
//	g.Stop()                       // when the load has ended
//	note, fail := g.Finish(complete)
package guard

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/internal/class"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// slots is how many slots a span has: the watcher judges once a slot.
const slots = 5

// Config is the guard's settings, every default applied.
type Config struct {
	// MaxFailureRatio aborts when more than this fraction of the judged
	// requests failed; negative disables this limit.
	MaxFailureRatio float64
	// MaxP95 aborts when the p95 latency of the judged requests that
	// succeeded is above it; zero disables this limit.
	MaxP95 time.Duration
	// Span is the time the guard looks back over when it holds at least
	// MinRequests finished requests; the guard judges every fifth of it.
	Span time.Duration
	// MinRequests is the least number of finished requests a verdict
	// needs, and how many the guard judges when the last Span holds
	// fewer; at least 1.
	MinRequests int
}

// Run is what the guard knows of the run it watches, and how it stops it.
type Run struct {
	Host string // the target's host, named when the guard explains a failure
	// TopFailure returns the run's most common failure so far, tasks
	// stopped by the run's end excluded; ok is false when there is none.
	TopFailure func() (class, msg string, ok bool)
	// Stop stops all load at once, marking the run aborted for reason.
	Stop func(reason string)
	// Pause, when set (a run without end), replaces Stop: it stops all
	// load at once for reason and returns a channel closed when the load
	// has resumed. The guard forgets what it saw and judges afresh from
	// there.
	Pause func(reason string) (resumed <-chan struct{})
}

// Guard is the abort guard of one run. Outcomes go into a ring of short
// slots (a fifth of the span each), which sum up to the last span however
// high the rate, and into a ring of the last MinRequests outcomes, which
// stand in for the span when it holds fewer. Every slot the watcher judges
// one or the other.
type Guard struct {
	cfg  Config
	run  Run
	slot time.Duration
	t0   time.Time // the load's start; slot 0 starts here

	mu     sync.Mutex
	ring   []slot
	recent []outcome // the last MinRequests outcomes, grown up to that many
	next   int       // where the next outcome goes once recent is full: the oldest
	seen   int64     // finished requests, stopped ones excluded
	judged bool      // had enough data for a verdict at least once
	sum    *hdrhistogram.Histogram
	lats   []time.Duration // scratch: the latencies of recent's successes, for their p95

	started  bool
	last     string // what was wrong in the last span, judged when the load ended
	quit     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
}

// outcome is one finished request, as the guard keeps it.
type outcome struct {
	end     time.Duration // since Guard.t0
	latency time.Duration
	failed  bool
}

type slot struct {
	idx        int64
	req, fails int64
	lat        *hdrhistogram.Histogram // successes, µs, two significant digits; nil without a p95 limit
}

// New makes the guard of a run, not yet watching it.
func New(cfg Config, run Run) *Guard {
	g := &Guard{
		cfg: cfg, run: run,
		slot: max(cfg.Span/slots, time.Millisecond),
		ring: make([]slot, slots),
		quit: make(chan struct{}), done: make(chan struct{}),
	}
	for i := range g.ring {
		g.ring[i] = slot{idx: -1}
	}
	if cfg.MaxP95 > 0 {
		// Latency is kept only for a p95 limit: the histograms are most
		// of the guard's memory (27 kB a slot).
		g.sum = newHistogram()
		for i := range g.ring {
			g.ring[i].lat = newHistogram()
		}
	}
	return g
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(result.MinLatency, result.MaxLatency, 2)
}

// Start starts the watcher: the load started at t0, from which the guard
// counts its slots and the times its verdicts name. Call it once, before
// the first Outcome.
func (g *Guard) Start(t0 time.Time) {
	g.t0 = t0
	g.started = true
	go g.watch()
}

// Outcome feeds the guard one finished task. Tasks cut off by the run's own end (class stopped) say
// nothing about the target; a panic is the scenario's own fault, not the
// target's: the failure ratio check counts it, the guard does not.
func (g *Guard) Outcome(o pipeline.Outcome) {
	if o.Class == class.Stopped || o.Class == class.Panic {
		return
	}
	g.add(o.End, o.Latency, o.Class != "")
}

// add counts one outcome in its slot.
func (g *Guard) add(end time.Time, latency time.Duration, failed bool) {
	idx := int64(end.Sub(g.t0) / g.slot)
	if idx < 0 {
		idx = 0
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.seen++
	o := outcome{end: end.Sub(g.t0), latency: latency, failed: failed}
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
		sl.lat.RecordValue(result.Micros(latency))
	}
}

// Stop stops the watcher and, the load having ended, judges the last
// requests: a run too short for a single tick is judged all the same, and
// a target that turned bad in the last moments is reported by Finish.
// Stop is safe to call more than once, and without Start.
func (g *Guard) Stop() {
	g.stopOnce.Do(func() {
		if !g.started {
			return
		}
		close(g.quit)
		<-g.done
		g.last = g.check(time.Now())
	})
}

// watch judges the recent requests every slot until the load ends or the
// guard aborts the run.
func (g *Guard) watch() {
	defer close(g.done)
	tk := time.NewTicker(g.slot)
	defer tk.Stop()
	for {
		select {
		case <-g.quit:
			return
		case now := <-tk.C:
			bad := g.check(now)
			if bad == "" {
				continue
			}
			if g.run.Pause == nil {
				g.run.Stop("aborted to protect the target: " + bad + "; all load stopped")
				return
			}
			resumed := g.run.Pause("target unhealthy: " + bad + "; load paused")
			select {
			case <-g.quit:
				return
			case <-resumed:
				g.reset()
			}
		}
	}
}

// reset forgets every outcome seen, so that the guard judges the resumed
// load on its own.
func (g *Guard) reset() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := range g.ring {
		g.ring[i].idx, g.ring[i].req, g.ring[i].fails = -1, 0, 0
		if g.ring[i].lat != nil {
			g.ring[i].lat.Reset()
		}
	}
	g.recent, g.next = g.recent[:0], 0
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
func (g *Guard) look(now time.Time) (verdictSpan, bool) {
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
func (g *Guard) check(now time.Time) string {
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
	bad := fmt.Sprintf("%s between %s and %s of the run",
		strings.Join(what, " and "), offset(v.from.Sub(g.t0)), offset(v.to.Sub(g.t0)))
	if v.fails > 0 {
		if cls, msg, ok := g.run.TopFailure(); ok {
			bad += "; " + explain(cls, msg, g.run.Host)
		}
	}
	return bad
}

// percent formats a ratio as the harness's messages do: "20%", "0.5%".
func percent(f float64) string {
	if f < 1e-9 {
		return "0%"
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", 100*f), "0"), ".0") + "%"
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

// Finish says what the guard found, once Stop has returned. note, for the
// log, says that the guard could never judge the target: too little data
// for the guard is not a failure, as the run's failure ratio check still
// judges the requests made. fail, a verdict that fails the run, says that
// the target turned bad as the load ended, when the run went its whole
// length (complete) and so was not aborted.
func (g *Guard) Finish(complete bool) (note, fail string) {
	g.mu.Lock()
	judged, seen := g.judged, g.seen
	g.mu.Unlock()
	if !judged {
		note = fmt.Sprintf("abort guard: could not judge the target: %d requests finished in the whole run and a verdict needs %d (-loadtest.abort-min-requests); the failure ratio check still applies",
			seen, g.cfg.MinRequests)
	}
	if complete && g.last != "" {
		fail = "abort guard: the target turned bad as the load ended, too late to stop it: " + g.last
	}
	return note, fail
}

// explain says in words what a failure class means for the target.
func explain(cls, msg, host string) string {
	switch cls {
	case class.Refused:
		return fmt.Sprintf("connection refused: nothing listens at %s (is the service down?)", host)
	case class.Reset:
		return fmt.Sprintf("connections reset or answers cut short (%s): the target drops connections mid-request", msg)
	case class.Timeout:
		return fmt.Sprintf("requests timed out (%s): the target accepted them but did not answer in time", msg)
	case class.TLS:
		return fmt.Sprintf("TLS handshake with %s failed (%s)", host, msg)
	case class.DNS:
		return fmt.Sprintf("the host name of %s does not resolve (%s)", host, msg)
	case class.HTTP:
		return fmt.Sprintf("the target answered %s", msg)
	case class.Check:
		return fmt.Sprintf("responses failed their checks (%s)", msg)
	case class.Stopped:
		return "requests were still waiting for an answer when the run's grace ended: the target accepted them but never answered"
	}
	return fmt.Sprintf("requests failed: %s", msg)
}

// Diagnose is one line on what the target host did, for a run that
// failed more than maxFailureRatio of its requests (negative: no limit)
// and that the guard did not abort: the most common failure, explained;
// "" for any other run.
func Diagnose(res *result.Run, maxFailureRatio float64, host string) string {
	if res.Total == nil || res.Total.Failures == 0 || maxFailureRatio < 0 ||
		res.Total.FailureRatio() <= maxFailureRatio || res.Meta.Status == result.Aborted {
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
		res.Total.Failures, res.Total.Requests, top.Error, explain(top.Class, top.Error, host))
}
