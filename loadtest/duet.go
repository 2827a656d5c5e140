package loadtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/bits"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/duet"
	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/record"
	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Duet runs every start of the load against two targets: the base (A),
// named here, and the candidate (B), the scenario's Host or stand-in.
// Both get the same task, from users of the same seed, at the same
// moment; each side is recorded on its own (the base's files are
// <Test>_base_*.csv), and each gated latency percentile and the failure
// ratio are judged on the pairs, B against A, within the run: no stored
// baseline is read or written. Its zero value runs no duet.
type Duet struct {
	// Base is the base URL of the base version; -loadtest.duet.
	Base string
	// StandIns start the base when Base is empty: the first that starts
	// is used, as for the candidate's StandIns.
	StandIns []StandIn
	// Order is how the two requests of a pair are sent: DuetConcurrent
	// (the default) or DuetShuffled; -loadtest.duet-order.
	Order DuetOrder
}

// A DuetOrder is how a duet sends the two requests of a pair.
type DuetOrder string

// The orders of a duet's pairs.
const (
	// DuetConcurrent sends both at once, each from the same origin.
	DuetConcurrent DuetOrder = "concurrent"
	// DuetShuffled sends them back to back, in a random order per pair;
	// the second's latency counts from its own start plus the first's
	// lag behind the schedule.
	DuetShuffled DuetOrder = "shuffled"
)

// on reports whether d asks for a duet.
func (d Duet) on() bool { return d.Base != "" || len(d.StandIns) > 0 }

// duetSide is a duet run's base: a runner of its own (target, client,
// recorder) sharing the candidate's plan, seed and run id, and what is
// kept of each segment until it is judged.
type duetSide struct {
	base  *runner
	cand  *runner
	order DuetOrder
	pairs *duet.Pairs
	gate  gate.Config
	gated []gate.Metric
	flips atomic.Uint64

	mu      sync.Mutex
	pending []*engine.Measures // the base's cut figures, in the engine's order
	segs    map[int]*duetSegment
}

// duetSegment is one segment's base result, pairs and judgement.
type duetSegment struct {
	run    *result.Run
	pairs  [][]duet.Pair
	seen   []int64
	outs   []duet.Outcomes
	report *duet.Report
}

// newDuetSide starts (or names) the base target of r's duet.
func newDuetSide(r *runner) (*duetSide, error) {
	p := r.plan
	b := &runner{tb: r.tb, plan: p, status: result.Complete, runID: r.runID, headers: r.headers, seed: r.seed,
		taskNames: r.taskNames, setupIndex: r.setupIndex, commit: r.commit, backoff: noPacer{}, scrub: noScrub}
	if p.duetBase != nil {
		b.target, b.env = p.duetBase, envName(p.duetBase.Host)
	} else {
		var skipped []string
		for _, s := range p.Duet.StandIns {
			u, err := s.Start(r.tb)
			if errors.Is(err, ErrUnavailable) {
				r.tb.Logf("loadtest: base stand-in %q unavailable, trying the next: %v", s.Env, err)
				skipped = append(skipped, fmt.Sprintf("%s: %v", s.Env, err))
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("start base stand-in %q: %w", s.Env, err)
			}
			if b.target, err = parseHost(u); err != nil {
				return nil, fmt.Errorf("base stand-in %q: %w", s.Env, err)
			}
			b.standIn, b.env = s.Env, s.Env
			break
		}
		if b.target == nil {
			return nil, fmt.Errorf("duet: no base: no base stand-in could start (%s)", strings.Join(skipped, "; "))
		}
	}
	if b.target.String() == r.target.String() {
		return nil, fmt.Errorf("duet: the base and the candidate are the same target %s", redact(b.target.String()))
	}
	b.base = strings.TrimSuffix(b.target.String(), "/")
	b.client = newClient(p, b.target)
	b.rec = record.New(r.taskNames)
	order := p.Duet.Order
	if order == "" {
		order = DuetConcurrent
	}
	return &duetSide{base: b, cand: r, order: order, pairs: duet.NewPairs(len(r.taskNames), 0, r.seed),
		segs: map[int]*duetSegment{}, gate: gate.DefaultConfig, gated: gate.DefaultMetrics}, nil
}

// The duet drives the engine's users: each a candidate's User with its
// twin, the base's.
var _ engine.Driver[*User] = (*duetSide)(nil)

// NewUser makes the candidate's user number id and its twin.
func (d *duetSide) NewUser(id int) *User {
	u := d.cand.NewUser(id)
	u.twin = d.base.NewUser(id)
	return u
}

// Setup runs OnStart for both; both must succeed.
func (d *duetSide) Setup(ctx context.Context, u *User) bool {
	var okB bool
	d.both(func() { okB = d.base.Setup(ctx, u.twin) }, func() {})
	return d.cand.Setup(ctx, u) && okB
}

// Teardown runs OnStop for both.
func (d *duetSide) Teardown(ctx context.Context, u *User) {
	d.base.Teardown(ctx, u.twin)
	d.cand.Teardown(ctx, u)
}

// Probe runs the first task for both; both must pass.
func (d *duetSide) Probe(ctx context.Context, u *User) bool {
	return d.base.Probe(ctx, u.twin) && d.cand.Probe(ctx, u)
}

// Think is the candidate's think time.
func (d *duetSide) Think(u *User, took time.Duration) (time.Duration, bool) {
	return d.cand.Think(u, took)
}

// Exec runs one task, drawn once, against both targets, and keeps the
// pair of latencies when both succeeded.
func (d *duetSide) Exec(ctx context.Context, u *User, origin time.Time) (took time.Duration, end time.Time) {
	ti := d.cand.pick(u)
	d.base.pick(u.twin) // the twin's random stream stays the user's
	start := time.Now()
	var a, b struct {
		end   time.Time
		lat   time.Duration
		class string
	}
	run := func(r *runner, v *User, o time.Time, out *struct {
		end   time.Time
		lat   time.Duration
		class string
	}) {
		s := o
		if s.IsZero() {
			s = time.Now()
		}
		_, out.end, out.class = r.exec(ctx, v, ti, s)
		out.lat = out.end.Sub(s)
	}
	switch {
	case d.order == DuetShuffled:
		first, second := d.base, d.cand
		fu, su, fo, so := u.twin, u, &a, &b
		if d.flip() {
			first, second, fu, su, fo, so = second, first, su, fu, so, fo
		}
		run(first, fu, origin, fo)
		lag := time.Duration(0)
		if !origin.IsZero() {
			lag = max(start.Sub(origin), 0)
		}
		run(second, su, time.Now().Add(-lag), so)
	default:
		d.both(func() { run(d.base, u.twin, origin, &a) }, func() { run(d.cand, u, origin, &b) })
	}
	end = a.end
	if b.end.After(end) {
		end = b.end
	}
	// A start cut off by the end of the run on either side is neither
	// side's failure: it is left out of the paired failures as it is of
	// the pairs of latencies.
	if a.class != ClassStopped && b.class != ClassStopped {
		d.pairs.Outcome(ti, a.class != "", b.class != "")
	}
	if a.class == "" && b.class == "" {
		d.pairs.Add(ti, a.lat, b.lat)
	}
	return end.Sub(start), end
}

// both runs fa on a goroutine of its own and fb on this one, and waits
// for both.
func (d *duetSide) both(fa, fb func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fa()
	}()
	fb()
	<-done
}

// flip is a fair coin, reproducible from the run's seed.
func (d *duetSide) flip() bool {
	n := d.flips.Add(1)
	hi, lo := bits.Mul64(d.cand.seed^n, 0x9e3779b97f4a7c15)
	return (hi^lo)&1 == 1
}

// The duet's recorder closes both sides' windows together, handing the
// engine the candidate's and keeping the base's cut figures.
var _ engine.Recorder = duetRecorder{}

type duetRecorder struct{ d *duetSide }

// Close implements engine.Recorder.
func (e duetRecorder) Close(start time.Time, offset, length time.Duration, users int, why string, cut bool) ([]result.Window, *engine.Measures) {
	_, bm := e.d.base.rec.Close(start, offset, length, users, why, cut)
	rows, m := e.d.cand.rec.Close(start, offset, length, users, why, cut)
	if cut {
		e.d.push(bm)
	}
	return rows, m
}

// Cut implements engine.Recorder.
func (e duetRecorder) Cut() *engine.Measures {
	e.d.push(e.d.base.rec.Cut())
	return e.d.cand.rec.Cut()
}

func (d *duetSide) push(m *engine.Measures) {
	d.mu.Lock()
	d.pending = append(d.pending, m)
	d.mu.Unlock()
}

// cut keeps the base's result and the pairs of the segment the engine
// just cut (seg, the candidate's), for the part to judge and write.
func (d *duetSide) cut(cut *engine.Segment, seg *pipeline.Segment, last bool) {
	d.mu.Lock()
	m := d.pending[0]
	d.pending = d.pending[1:]
	d.mu.Unlock()
	bc := *cut
	bc.Measures = m
	d.cand.stopMu.Lock()
	status, reason := d.cand.status, d.cand.reason
	d.cand.stopMu.Unlock()
	d.base.setStatus(status, reason)
	pairs, seen, outs := d.pairs.Take()
	d.mu.Lock()
	d.segs[seg.Index] = &duetSegment{run: d.base.segmentResult(&bc, last), pairs: pairs, seen: seen, outs: outs}
	d.mu.Unlock()
}

// take returns what cut kept for seg, and forgets it.
func (d *duetSide) take(seg *pipeline.Segment) *duetSegment {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.segs[seg.Index]
	delete(d.segs, seg.Index)
	return s
}

// duetPart judges each segment's pairs (an evaluator) and writes the
// base's result files, the comparison's CSV and its summary (a sink).
type duetPart struct {
	d *duetSide

	mu   sync.Mutex
	segs map[int]*duetSegment // judged, not yet written
}

// Evaluate judges the segment's pairs, and the base's own run.
func (p *duetPart) Evaluate(seg *pipeline.Segment) {
	d := p.d
	s := d.take(seg)
	if s == nil {
		return
	}
	var samples []duet.Sample
	for i, name := range d.cand.taskNames {
		if i == d.cand.setupIndex {
			continue
		}
		samples = append(samples, duet.Sample{Task: name, Pairs: s.pairs[i], Seen: s.seen[i], Outcomes: s.outs[i]})
	}
	s.report = duet.Judge(samples, d.gated, d.gate)
	s.report.Test, s.report.Base, s.report.Cand = d.cand.tb.Name(), redact(d.base.target.String()), redact(d.cand.target.String())
	for _, row := range s.report.Failed() {
		seg.Failf("duet: %s", row.Message())
	}
	own := map[string]bool{}
	for _, msg := range d.cand.verdict(seg.Run) {
		own[msg] = true
	}
	for _, msg := range d.base.verdict(s.run) {
		if !own[msg] {
			seg.Failf("base (A): %s", msg)
		}
	}
	p.mu.Lock()
	p.segs[seg.Index] = s
	p.mu.Unlock()
}

// Write writes the base's files, <Test>_base_*.csv, and the comparison,
// <Test>_duet.csv, logs it and appends it to $GITHUB_STEP_SUMMARY.
func (p *duetPart) Write(seg *pipeline.Segment) {
	p.mu.Lock()
	s := p.segs[seg.Index]
	delete(p.segs, seg.Index)
	p.mu.Unlock()
	if s == nil {
		return
	}
	r := p.d.cand
	out := r.plan.out
	test := result.FileBase(r.tb.Name())
	name := test + "_base" + strings.TrimPrefix(seg.Name, test)
	paths, err := s.run.WriteCSV(out, name)
	if err == nil {
		var path string
		path, err = runfiles.WriteHistograms(out, name, s.run)
		paths = append(paths, path)
	}
	if err == nil {
		var b bytes.Buffer
		if err = s.report.WriteCSV(&b); err == nil {
			path := filepath.Join(out, seg.Name+"_duet.csv")
			err = atomicfile.WriteBytes(path, b.Bytes())
			paths = append(paths, path)
		}
	}
	if err != nil {
		seg.Failf("duet results not written: %v", err)
	} else {
		r.tb.Logf("loadtest: duet results written to %s", strings.Join(paths, ", "))
	}
	r.tb.Log("\n" + s.report.Text())
	if path := os.Getenv("GITHUB_STEP_SUMMARY"); path != "" {
		if err := appendFile(path, []byte(s.report.Markdown())); err != nil {
			r.tb.Logf("loadtest: warning: step summary not written: %v", err)
		}
	}
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to %s: %w", path, err)
	}
	return nil
}

// parseDuetOrder checks an order's name.
func parseDuetOrder(s string) (DuetOrder, error) {
	switch o := DuetOrder(s); o {
	case "", DuetConcurrent, DuetShuffled:
		return o, nil
	}
	return "", fmt.Errorf("duet order %q: want concurrent or shuffled", s)
}

// duetURL parses the base's URL.
func duetURL(s string) (*url.URL, error) {
	u, err := parseHost(s)
	if err != nil {
		return nil, fmt.Errorf("duet base: %w", err)
	}
	return u, nil
}
