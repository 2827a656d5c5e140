package loadtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/procstat"
	"github.com/steadyload/steadyload/internal/record"
	"github.com/steadyload/steadyload/internal/tracing"
	"github.com/steadyload/steadyload/loadtest/result"
)

// deadlineMargin is kept free before the test binary's -timeout for
// writing results, and reportSlack is added to a run's length when telling
// the user which -timeout to use.
const (
	deadlineMargin = 5 * time.Second
	reportSlack    = 30 * time.Second
)

// runner is one run of a scenario.
type runner struct {
	tb      testing.TB
	plan    *plan
	target  *url.URL
	env     string
	standIn string
	runID   string
	headers ownHeaders // the values of the harness's own headers
	seed    uint64
	base    string // target URL without a trailing slash
	client  *http.Client
	rec     *record.Recorder
	duet    *duetSide // a duet's base; nil: no duet
	signals bool      // stop on SIGINT and SIGTERM

	pipe *pipeline.Pipeline // the parts beyond the load, in their order (parts.go)

	// What the engine consults on the hot path. Each is set to a part
	// that does nothing when its part of the run is switched off.
	outcomes []pipeline.OutcomeObserver // the abort guard, live outputs
	events   []pipeline.EventSink       // told of pauses and resumptions
	// lagObserver is told of every open-model start's lag behind its
	// schedule, the generator's part (no wait for a slot), from the worker
	// that began it (many goroutines at once);
	// nil when none listens.
	lagObserver interface{ ObserveLag(time.Duration) }
	tracer      *tracing.Tracer // a span per task and request; nil when off
	backoff     pacer           // the answer to 429 and 503
	scrub       func(string) string

	taskNames []string // by recorder index: the tasks, then OnStart when there is one
	commit    string   // the commit under test

	// Segments: the channel to the goroutine that judges them, and the
	// index of the next.
	segs       chan<- *pipeline.Segment
	segIndex   int
	setupIndex int // recorder index of OnStart, when there is one

	eng *engine.Engine[*User] // sends the load

	proc procstat.Sample // the kernel's CPU accounting at the segment's start

	panicSites sync.Map // file:line of each panic site whose stack was logged
	sessions   sessionStats

	stopMu sync.Mutex
	status result.Status
	reason string
	cancel context.CancelCauseFunc // stops all load at once
}

// Run runs the scenario against the target, writes the result CSVs, logs
// the summary table and fails tb for every problem found: a task whose
// failure ratio is over the limit, a load that did not hold its rate (by
// the generator's doing or the target's), a run cut short. Invalid
// settings fail tb before any request is sent. The run stops at tb's
// context: cancel it (or interrupt the process) to stop early; what was
// measured is still written, marked partial. Run returns the result for further checks: of a run cut into
// segments (Scenario.Segment), the last segment's.
func Run(tb testing.TB, sc Scenario) *result.Run {
	tb.Helper()
	seg := runWith(tb, sc, runOptions{flags: commandLine.core, parts: commandLine.parts, signals: true})
	if seg == nil {
		return nil
	}
	return seg.Run
}

// runOptions are what Run takes from the process: tests of the core run
// without the other parts, on their own flag set, and without signal
// handling (which cannot live in a synctest bubble).
type runOptions struct {
	flags   *flags
	parts   parts
	sinks   []pipeline.Sink      // more sinks, after the parts' (tests)
	events  []pipeline.EventSink // more event sinks (tests)
	signals bool                 // stop on SIGINT and SIGTERM
}

// runWith is Run with the given options; it returns the last judged segment.
func runWith(tb testing.TB, sc Scenario, opt runOptions) *pipeline.Segment {
	tb.Helper()
	p, err := resolve(sc, opt.flags)
	if err != nil {
		tb.Fatalf("loadtest: invalid scenario, no request sent:\n%s", indent(err.Error()))
		return nil
	}
	need := p.Duration + p.Grace + reportSlack
	if !p.open && len(p.Stages) == 0 {
		need += time.Duration(float64(p.Users-1) / p.SpawnRate * float64(time.Second))
	}
	if dl, ok := deadline(tb); ok && p.endless {
		tb.Fatalf("loadtest: a run without end (-loadtest.duration=0) goes on until it is stopped, but go test's -timeout ends it in %s: run with -timeout=0",
			time.Until(dl).Round(time.Second))
		return nil
	} else if ok {
		if left := time.Until(dl); left < need {
			tb.Fatalf("loadtest: the run needs about %s (duration %s + grace %s + reporting) but go test's -timeout leaves %s: run with -timeout=%s",
				need.Round(time.Second), p.Duration, p.Grace, left.Round(time.Second), suggestTimeout(need))
			return nil
		}
	}

	r := &runner{tb: tb, plan: p, status: result.Complete, signals: opt.signals}
	if err := r.pickTarget(); err != nil {
		tb.Fatalf("loadtest: %v", err)
		return nil
	}
	r.base = strings.TrimSuffix(r.target.String(), "/")
	r.runID = p.runID
	if r.runID == "" {
		r.runID = newRunID()
	}
	r.headers = newOwnHeaders(r.runID)
	seed := p.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	r.seed = p.shard.Seed(seed) // each shard its own, derived from the run's
	r.client = newClient(p, r.target)
	defer r.client.CloseIdleConnections()
	names := make([]string, 0, len(p.Tasks)+1)
	for _, t := range p.Tasks {
		names = append(names, t.Name)
	}
	r.setupIndex = -1
	if p.OnStart != nil {
		r.setupIndex = len(names)
		names = append(names, "OnStart")
	}
	r.taskNames = names
	r.commit = gitCommit()
	r.rec = record.New(names)
	r.backoff, r.scrub = noPacer{}, noScrub
	if p.Duet.on() {
		if r.duet, err = newDuetSide(r); err != nil {
			tb.Fatalf("loadtest: %v", err)
			return nil
		}
		defer r.duet.base.client.CloseIdleConnections()
	}
	pipe, release, err := r.buildPipeline(opt.parts)
	defer release()
	if err != nil {
		tb.Fatalf("loadtest: invalid scenario, no request sent:\n%s", indent(err.Error()))
		return nil
	}
	if r.duet != nil {
		r.duet.base.scrub = r.scrub
	}
	pipe.Sinks = append(pipe.Sinks, opt.sinks...)
	r.events = append(r.events, opt.events...)
	r.pipe = pipe
	r.eng = r.newEngine()
	if r.duet != nil {
		r.duet.base.eng = r.eng // a base's task may end the starts too (ErrStop)
	}

	tb.Logf("loadtest: %s: %s%s against %s%s (run %s, seed %d%s)",
		tb.Name(), r.shape(), r.segmentNote(), redact(r.target.String()), r.standInNote(), r.runID, seed, r.shardNote())
	if r.duet != nil {
		tb.Logf("loadtest: duet: every task also against the base %s%s, %s; judged candidate (B) against base (A)",
			redact(r.duet.base.target.String()), r.duet.base.standInNote(), r.duet.order)
	}
	if !p.shard.Whole() {
		tb.Logf("loadtest: shard %s of run %s: this process sends 1/%d of the load and neither gates it nor records it; "+
			"merge the %d shards' results with `steadyload merge`, then judge them with `steadyload compare`", p.shard, r.runID, p.shard.Count, p.shard.Count)
	}

	// Segments are judged and written in order by one goroutine while
	// the load goes on.
	segs := make(chan *pipeline.Segment, 4)
	judged := make(chan *pipeline.Segment)
	go func() {
		var last *pipeline.Segment
		for seg := range segs {
			pipe.Finish(seg)
			decide(tb, seg)
			last = seg
		}
		judged <- last
	}()
	r.segs = segs
	r.execute()
	r.logSessions()
	r.endSegment(r.eng.Final(), true)
	close(segs)
	return <-judged
}

// shape is the load's shape as the log's first line says it.
func (r *runner) shape() string {
	m := planMeta(r.plan)
	m.Duration = 0
	s := strings.TrimSuffix(m.Shape().String(), ", 0s")
	if r.plan.endless {
		return s + ", until stopped"
	}
	return s + ", " + r.plan.Duration.String()
}

// shardNote says which shard of the run this is, and where the load
// comes from, when either is given.
func (r *runner) shardNote() string {
	var s string
	if !r.plan.shard.Whole() {
		s += ", shard " + r.plan.shard.String()
	}
	if r.plan.location != "" {
		s += ", from " + r.plan.location
	}
	return s
}

// segmentNote says how the run is cut, when it is.
func (r *runner) segmentNote() string {
	if r.plan.Segment == 0 {
		return ""
	}
	return fmt.Sprintf(", judged every %s", r.plan.Segment)
}

// segmentTime is the layout of a segment's start in its files' names:
// fixed width, so that the names sort in time, and to the millisecond, so
// that no segment's files are written twice.
const segmentTime = "20060102T150405.000Z"

// endSegment hands the segment the engine cut to the observers, which
// complete it, and to the judging goroutine, which evaluates and writes
// it. last marks the run's last.
func (r *runner) endSegment(cut *engine.Segment, last bool) {
	seg := &pipeline.Segment{Index: r.segIndex, Last: last, Run: r.segmentResult(cut, last)}
	seg.Name = result.FileBase(r.tb.Name())
	if r.plan.Segment > 0 {
		seg.Name += "_" + seg.Meta.Start.UTC().Format(segmentTime)
	}
	if r.duet != nil {
		r.duet.cut(cut, seg, last)
	}
	r.pipe.EndSegment(seg)
	select {
	case r.segs <- seg:
	default:
		// The judging is segments behind (a slow sink): say so, as the
		// wait will make the next window's clock late.
		r.tb.Logf("loadtest: the judging of segments is %d behind the load: segment %s waits", cap(r.segs), seg.Name)
		r.segs <- seg
	}
	r.segIndex++
}

// decide fails tb once for each failed verdict of seg, in order, after
// logging its warnings.
func decide(tb testing.TB, seg *pipeline.Segment) {
	tb.Helper()
	for _, v := range seg.Verdicts {
		if !v.Fail {
			tb.Logf("loadtest: warning: %s", v.Text)
		}
	}
	for _, v := range seg.Verdicts {
		if v.Fail {
			tb.Errorf("loadtest: %s", v.Text)
		}
	}
}

// noCacheFile is made in the results folder at the end of every run so
// that go test never serves a load test from its cache: a test's result
// is cached only when every file it opened inside the module is at least
// two seconds old, and this one's modification time is an hour ahead.
// (Any -loadtest.* flag disables the cache too; a run without flags is the
// case this covers.)
const noCacheFile = ".go-test-nocache"

// defeatTestCache writes and opens dir's noCacheFile.
func defeatTestCache(dir string) error {
	path := filepath.Join(dir, noCacheFile)
	if err := os.WriteFile(path, []byte("go test never caches a load test's result: see the loadtest package\n"), 0o644); err != nil {
		return fmt.Errorf("keep go test from caching the run: %w", err)
	}
	ahead := time.Now().Add(time.Hour)
	if err := os.Chtimes(path, ahead, ahead); err != nil {
		return fmt.Errorf("keep go test from caching the run: %w", err)
	}
	f, err := os.Open(path) // go test records the files a test opens
	if err != nil {
		return fmt.Errorf("keep go test from caching the run: %w", err)
	}
	return f.Close()
}

// deadline returns the test's deadline, when tb has one.
func deadline(tb testing.TB) (time.Time, bool) {
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	return time.Time{}, false
}

func suggestTimeout(need time.Duration) string {
	m := (need + 2*time.Minute).Round(time.Minute)
	return strings.TrimSuffix(m.String(), "0s")
}

func indent(s string) string { return "\t" + strings.ReplaceAll(s, "\n", "\n\t") }

// pickTarget chooses the host flag or field, else the first stand-in that
// starts, and the environment name.
func (r *runner) pickTarget() error {
	p := r.plan
	if p.host != nil {
		r.target = p.host
		r.env = p.Env
		if r.env == "" {
			r.env = envName(p.host.Host)
		}
		return nil
	}
	var skipped []string
	for _, s := range p.StandIns {
		base, err := s.Start(r.tb)
		if errors.Is(err, ErrUnavailable) {
			r.tb.Logf("loadtest: stand-in %q unavailable, trying the next: %v", s.Env, err)
			skipped = append(skipped, fmt.Sprintf("%s: %v", s.Env, err))
			continue
		}
		if err != nil {
			return fmt.Errorf("start stand-in %q: %w", s.Env, err)
		}
		u, err := parseHost(base)
		if err != nil {
			return fmt.Errorf("stand-in %q: %w", s.Env, err)
		}
		r.target, r.standIn = u, s.Env
		r.env = p.Env
		if r.env == "" {
			r.env = s.Env
		}
		return nil
	}
	return fmt.Errorf("no target: no -loadtest.host and no stand-in could start (%s)", strings.Join(skipped, "; "))
}

// envName turns a host[:port] into an environment name usable as a folder.
// A loopback host on a port the system handed out (httptest, a stand-in's
// published port: Linux's ephemeral range starts at 32768) is "loopback",
// so that its baselines and history go on from run to run while the port
// changes; a loopback host on a port below that keeps it, as a service
// configured on a fixed port would.
func envName(host string) string {
	h, port, err := net.SplitHostPort(host)
	if err == nil && isLoopback(h) {
		if p, err := strconv.Atoi(port); err == nil && p >= ephemeralPorts {
			return "loopback"
		}
	}
	return result.FileBase(strings.ToLower(host))
}

// ephemeralPorts is the first port of Linux's ephemeral range, below
// IANA's (49152).
const ephemeralPorts = 32768

// isLoopback reports whether host names this machine: "localhost", or an
// address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

func (r *runner) standInNote() string {
	if r.standIn == "" {
		return ""
	}
	return " (stand-in " + r.standIn + ")"
}

func newRunID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// userRand returns user id's random source, derived from the run's seed.
func (r *runner) userRand(id int) *mrand.Rand {
	hi, lo := bits.Mul64(r.seed, 0x9e3779b97f4a7c15)
	return mrand.New(mrand.NewPCG(hi^uint64(id), lo+uint64(id)))
}

// url joins a path (with optional query) to the target's base URL.
func (r *runner) url(path string) string {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	return r.base + path
}

// newClient returns the run's HTTP client. Every request goes through
// net/http: one http.Transport per run (a clone of http.DefaultTransport,
// so HTTP/2 wherever the server offers it over TLS, and the proxy from
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY, which never applies to a loopback
// target), with as many idle connections kept as the load can have
// requests in flight. A scenario's own Transport replaces it whole.
// Redirects are followed only within the target's scheme and host.
func newClient(p *plan, target *url.URL) *http.Client {
	rt := p.Transport
	if rt == nil {
		rt = newTransport(p.concurrency())
	}
	return &http.Client{
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != target.Host || req.URL.Scheme != target.Scheme {
				return http.ErrUseLastResponse // never contact another host
			}
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		},
	}
}

// newTransport returns the run's own transport, keeping up to conns idle
// connections to the target.
func newTransport(conns int) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	tr.MaxIdleConns = conns
	tr.MaxIdleConnsPerHost = conns
	return tr
}

// concurrency is the most tasks the load can have in flight at once.
func (p *plan) concurrency() int {
	if p.open {
		return p.MaxInFlight
	}
	return p.Users
}

// stop ends all load at once with the given status, keeping the first
// reason given.
func (r *runner) stop(status result.Status, reason string) {
	r.stopMu.Lock()
	if r.status == result.Complete {
		r.status, r.reason = status, reason
	}
	r.stopMu.Unlock()
	r.cancel(errors.New(reason))
}

// newEngine returns the engine that sends the run's load, its output
// going to the pipeline.
func (r *runner) newEngine() *engine.Engine[*User] {
	p := r.plan
	cfg := engine.Config{
		Open: p.open, Users: p.Users, SpawnRate: p.SpawnRate,
		Arrivals: engine.ConstantRate{Freq: p.Rate}, MaxInFlight: p.MaxInFlight,
		Coalesce: p.Coalesce, LateTolerance: p.LateTolerance,
		Duration: p.Duration, Grace: p.Grace, Window: p.Window, Segment: p.Segment,
		Endless: p.endless, ProbeEvery: r.nominalInterval(), ProbeName: p.Tasks[0].Name,
	}
	if len(p.Stages) > 0 {
		if p.open {
			cfg.Arrivals = engine.NewStaged(engineStages(p.Stages))
		} else {
			cfg.Stages = engineStages(p.Stages)
		}
	}
	if p.Pacer != nil {
		cfg.Arrivals = p.Pacer
	}
	hooks := engine.Hooks{
		Start: func(t0 time.Time) {
			r.proc = procstat.Read()
			r.pipe.Start(r.tb.Context(), t0)
		},
		Window: func(rows []result.Window) {
			if testing.Verbose() {
				r.tb.Log(progressLine(r, rows))
			}
			r.pipe.Window(rows)
		},
		Segment: func(seg *engine.Segment) { r.endSegment(seg, false) },
		Event: func(e pipeline.Event) {
			for _, s := range r.events {
				s.Event(e)
			}
		},
		Logf:    r.tb.Logf,
		Backoff: r.backoff,
	}
	if r.lagObserver != nil {
		hooks.Lag = r.lagObserver.ObserveLag
	}
	if r.duet != nil {
		return engine.New(cfg, engine.Driver[*User](r.duet), engine.Recorder(duetRecorder{r.duet}), hooks)
	}
	return engine.New(cfg, engine.Driver[*User](r), engine.Recorder(r.rec), hooks)
}

// nominalInterval is the time between two task starts of the scenario's
// own load: a probe is never more often.
func (r *runner) nominalInterval() time.Duration {
	p := r.plan
	if p.open {
		return time.Duration(float64(time.Second) / p.Rate)
	}
	var think time.Duration
	switch w := p.Wait.(type) {
	case between:
		think = (w.lo + w.hi) / 2
	case constant:
		think = w.d
	case pacing:
		think = w.d
	}
	return think / time.Duration(max(p.Users, 1))
}

// execute runs the load from start to end under the run's stop signals:
// the test's context, SIGINT and SIGTERM, an abort (stop), and go test's
// -timeout.
func (r *runner) execute() {
	base, cancelBase := context.WithCancelCause(r.tb.Context())
	defer cancelBase(nil)
	r.cancel = cancelBase
	sig := context.Context(base)
	if r.signals {
		var stopSig context.CancelFunc
		sig, stopSig = signal.NotifyContext(base, os.Interrupt, syscall.SIGTERM)
		defer stopSig()
	}
	taskCtx := sig
	if dl, ok := deadline(r.tb); ok {
		var cancel context.CancelFunc
		taskCtx, cancel = context.WithDeadline(sig, dl.Add(-deadlineMargin))
		defer cancel()
	}
	r.eng.Run(taskCtx)

	switch {
	case r.tb.Context().Err() != nil:
		r.setStatus(result.Interrupted, "the test's context was cancelled")
	case sig.Err() != nil:
		r.setStatus(result.Interrupted, "interrupted by a signal")
	case taskCtx.Err() != nil:
		r.setStatus(result.Interrupted, "stopped "+deadlineMargin.String()+" before go test's -timeout")
	}
}

func (r *runner) setStatus(s result.Status, reason string) {
	r.stopMu.Lock()
	defer r.stopMu.Unlock()
	if r.status == result.Complete {
		r.status, r.reason = s, reason
	}
}

// segmentResult assembles the outcome of the segment the engine cut: its
// tasks, windows and failures, and its schedule's keeping. The run's status is the last segment's; the others
// are complete.
func (r *runner) segmentResult(seg *engine.Segment, last bool) *result.Run {
	p := r.plan
	tasks, total, fails, windows := seg.Tasks, seg.Total, seg.Failures, seg.Windows
	if r.setupIndex >= 0 {
		for _, t := range tasks {
			if t.Type == "" && t.Name == "OnStart" {
				t.Setup = true
			}
		}
	}
	meta := result.Meta{
		Test: r.tb.Name(), RunID: r.runID, Version: Version,
		Status: result.Complete,
		Model:  "closed", Users: p.Users, SpawnRate: p.SpawnRate,
		MaxInFlight: p.MaxInFlight, Duration: p.Duration, Window: p.Window, Grace: p.Grace,
		Start: seg.Start, Elapsed: seg.End.Sub(seg.Start),
		Target: redact(r.target.String()), Env: r.env, StandIn: r.standIn,
		GitCommit: r.commit, GoVersion: runtime.Version(),
		Scheduled: seg.Scheduled, Late: seg.Late, Waited: seg.Waited, Dropped: seg.Dropped,
		MaxLag: seg.MaxLag, LagP50: seg.LagP50, LagP99: seg.LagP99,
		Paused: seg.Paused, Outages: seg.Outages, Starved: seg.Starved,
		Shard: p.shard.String(), Location: p.location,
	}
	r.proc = deniedCPU(&meta, r.proc)
	if p.Segment > 0 {
		meta.Duration = p.Segment // a segment compares with segments of its length
	}
	if last {
		r.stopMu.Lock()
		meta.Status, meta.Reason = r.status, r.reason
		r.stopMu.Unlock()
	}
	meta.Wait = waitName(p.Wait)
	if p.open {
		meta.Model, meta.Rate, meta.Users, meta.SpawnRate = "open", p.Rate, 0, 0
		meta.Coalesce = p.Coalesce
	}
	if meta.Stages = formatStages(p.Stages); meta.Stages != "" {
		meta.SpawnRate = 0 // the stages start the users
	}
	return &result.Run{Meta: meta, Tasks: tasks, Total: total, Windows: windows, Failures: fails}
}

// gitCommit names the commit under test: $GITHUB_SHA in GitHub Actions,
// else what git says, else nothing.
func gitCommit() string {
	if sha := os.Getenv("GITHUB_SHA"); sha != "" {
		return sha
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
