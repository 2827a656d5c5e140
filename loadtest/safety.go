package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"path/filepath"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/backoff"
	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/internal/guard"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/secret"
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

// Auth is a secret header — a bearer token, an API key — read from the
// environment or a file, never from the code: it is sent with every request
// to the target's host and scheme, and to no other host (it is added at the
// transport, after redirects are checked), and it is blanked out of every
// failure message the run records, so no log, CSV or report shows it: the
// whole value, and any piece of its credential (the part after a scheme
// such as "Bearer ", or the whole value without one) of 6 bytes or more,
// in any ASCII case.
// -loadtest.auth-header-env, -loadtest.auth-file and -loadtest.auth-header
// override its fields.
type Auth struct {
	Header string // header name (default Authorization); wins over any other value of it
	Env    string // environment variable holding the header's value, e.g. "Bearer abc"
	File   string // file holding the value; a trailing newline is dropped
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
// above the ceiling, makes the abort guard (its watcher starts with the
// load), sets up back-off and the secret header on the run's transport,
// and takes the output folder's lock, in that order. A setting that is
// wrong is an error, and nothing is left running or locked.
func newSafety(r *runner, f *safetyFlags) (*safety, error) {
	s := &safety{r: r}
	errs := []error{
		s.checkCeiling(f),
		s.installGuard(f),
		s.installBackoff(f),
		s.installSecret(f),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// The lock last: nothing to undo after it.
	if err := s.lockOutput(); err != nil {
		return nil, err
	}
	if s.guard != nil {
		r.outcomes = append(r.outcomes, s.guard)
	}
	if s.bo != nil {
		r.backoff = s.bo
	}
	if s.secret != nil {
		r.scrub = s.secret.Scrub
	}
	return s, nil
}

// safety is the guard rails' state for one run: it puts the guard, the
// back-off and the secret's scrub where the engine consults them
// (r.guard, r.backoff, r.scrub), and takes its turn in the pipeline as an
// observer and an evaluator.
type safety struct {
	r      *runner
	guard  *guard.Guard
	bo     *backoff.Backoff
	secret *secret.Secret
	unlock func() // the output folder's lock
}

// Start, Window and EndSegment make the guard rails an observer of the
// load: the guard's watcher runs from the load's start, and stops with
// the load.
func (s *safety) Start(_ context.Context, t0 time.Time) {
	if s.guard != nil {
		s.guard.Start(t0)
	}
}

func (s *safety) Window([]result.Window) {}
func (s *safety) EndSegment(seg *pipeline.Segment) {
	if seg.Last {
		s.close()
	}
}

var (
	_ pipeline.OutcomeObserver = (*guard.Guard)(nil)
	_ pacer                    = (*backoff.Backoff)(nil)
	_ pipeline.Observer        = (*safety)(nil)
	_ pipeline.Evaluator       = (*safety)(nil)
)

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
	for i, st := range p.Stages {
		switch {
		case p.open && st.Target > maxRate:
			errs = append(errs, fmt.Errorf("stage %d (%s): rate %s is above the ceiling of %s: pass -loadtest.allow-high-load if this load is intended, or raise -loadtest.max-rate",
				i+1, formatStages(p.Stages[i:i+1]), engine.ConstantRate{Freq: st.Target}, engine.ConstantRate{Freq: maxRate}))
		case !p.open && st.Target > float64(maxUsers):
			errs = append(errs, fmt.Errorf("stage %d (%s): %g users is above the ceiling of %d: pass -loadtest.allow-high-load if this load is intended, or raise -loadtest.max-users",
				i+1, formatStages(p.Stages[i:i+1]), st.Target, maxUsers))
		}
	}
	if errs != nil {
		return errors.Join(errs...) // the stages' peak is the plan's rate or users
	}
	if p.open && p.Rate > maxRate {
		errs = append(errs, fmt.Errorf("rate %s is above the ceiling of %s: pass -loadtest.allow-high-load if this load is intended, or raise -loadtest.max-rate",
			engine.ConstantRate{Freq: p.Rate}, engine.ConstantRate{Freq: maxRate}))
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
		s.guard.Stop()
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

// Evaluate reports what the guard rails saw: what the target did to a
// failed segment; at the end of the load, a target that turned bad as the
// load ended and the back-off.
func (s *safety) Evaluate(seg *pipeline.Segment) {
	r := s.r
	if s.guard != nil && seg.Last {
		note, fail := s.guard.Finish(seg.Meta.Status == result.Complete)
		if note != "" {
			r.tb.Logf("loadtest: %s", note)
		}
		if fail != "" {
			seg.Failf("%s", fail)
		}
	}
	if d := guard.Diagnose(seg.Run, r.plan.MaxFailureRatio, r.target.Host); d != "" {
		seg.Failf("what happened: %s", d)
	}
	if s.bo != nil && seg.Last {
		if report := s.bo.Report(r.plan.open); report != "" {
			r.tb.Logf("loadtest: %s", report)
		}
	}
}

// resolveGuard applies the flags and defaults to the scenario's Guard:
// the guard's settings, and whether it is off.
func resolveGuard(g Guard, f *safetyFlags, window time.Duration) (cfg guard.Config, off bool, err error) {
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
	cfg = guard.Config{MaxFailureRatio: g.MaxFailureRatio, MaxP95: g.MaxP95, Span: g.Span, MinRequests: g.MinRequests}
	return cfg, g.Off, errors.Join(errs...)
}

// installGuard makes the abort guard, unless it is off; its watcher starts
// with the load.
func (s *safety) installGuard(f *safetyFlags) error {
	r := s.r
	cfg, off, err := resolveGuard(r.plan.Guard, f, r.plan.Window)
	if err != nil || off {
		return err
	}
	run := guard.Run{
		Host:       r.target.Host,
		TopFailure: func() (string, string, bool) { return r.rec.TopFailure(ClassStopped) },
		Stop:       func(reason string) { r.stop(result.Aborted, reason) },
	}
	if r.plan.endless {
		// A run without end rides out an outage: it pauses, probes and
		// resumes instead of ending.
		run.Pause = func(reason string) <-chan struct{} { return r.eng.Pause(reason) }
	}
	s.guard = guard.New(cfg, run)
	return nil
}

// installBackoff reads the cap on pauses.
func (s *safety) installBackoff(f *safetyFlags) error {
	d := s.r.plan.MaxBackoff
	if f.set("loadtest.max-backoff") {
		d = *f.maxBackoff
		if d <= 0 {
			return fmt.Errorf("-loadtest.max-backoff=%s: must be positive", *f.maxBackoff)
		}
	}
	switch {
	case d < 0:
		return fmt.Errorf("MaxBackoff %s is negative", d)
	case d == 0:
		d = DefaultMaxBackoff
	}
	s.bo = backoff.New(d)
	return nil
}

// resolveAuth applies the flags to the scenario's Auth. A source given by
// a flag replaces the scenario's; both flags together are an error that
// secret.Read reports.
func resolveAuth(a Auth, f *safetyFlags) Auth {
	if f.set("loadtest.auth-header") {
		a.Header = *f.authHeader
	}
	if f.set("loadtest.auth-header-env") {
		a.Env, a.File = *f.authHeaderEnv, ""
	}
	if f.set("loadtest.auth-file") {
		a.File = *f.authFile
		if !f.set("loadtest.auth-header-env") {
			a.Env = ""
		}
	}
	return a
}

// installSecret reads the secret, if there is one, and puts it on the
// run's transport.
func (s *safety) installSecret(f *safetyFlags) error {
	r := s.r
	a := resolveAuth(r.plan.Auth, f)
	if a.Env == "" && a.File == "" {
		if a.Header != "" {
			return fmt.Errorf("auth header %q has no source: set -loadtest.auth-header-env or -loadtest.auth-file", a.Header)
		}
		return nil
	}
	sec, err := secret.Read(secret.Source{Header: a.Header, Env: a.Env, File: a.File})
	if err != nil {
		return err
	}
	s.secret = sec
	r.client.Transport = sec.Transport(r.client.Transport, r.target)
	if r.duet != nil { // a duet's base is a target too
		b := r.duet.base
		b.client.Transport = sec.Transport(b.client.Transport, b.target)
	}
	return nil
}
