package duet

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// MaxPairs is the most pairs kept per task: a duet run is a short
// pull-request run, and beyond this many the bootstrap gains nothing but
// time. Past it, Pairs keeps a uniform sample of all the task's pairs
// (reservoir sampling, seeded).
const MaxPairs = 5000

// A Pair is one start's latencies: A against the base, B against the
// candidate, in microseconds. Seq numbers the pairs of a run in the order
// they were added, across tasks: the bootstrap resamples runs of
// consecutive pairs.
type Pair struct {
	A, B float64
	Seq  int64
}

// Pairs collects the pairs of a duet run, per task. It is safe for
// concurrent use. Its zero value is not usable: make it with NewPairs.
type Pairs struct {
	mu    sync.Mutex
	tasks [][]Pair
	seen  []int64 // pairs offered per task since the last Take
	seq   int64   // pairs offered in all

	outs []Outcomes
	max  int
	rng  *rand.Rand
}

// Outcomes counts a task's starts that ran on both sides by which side
// failed: the data of the paired comparison of the failure ratios.
type Outcomes struct {
	Starts int64 // starts that ran on both sides
	OnlyA  int64 // the base failed, the candidate succeeded
	OnlyB  int64 // the candidate failed, the base succeeded
	Both   int64 // both failed
}

// FailedA is the number of starts whose base failed.
func (o Outcomes) FailedA() int64 { return o.OnlyA + o.Both }

// FailedB is the number of starts whose candidate failed.
func (o Outcomes) FailedB() int64 { return o.OnlyB + o.Both }

func (o *Outcomes) add(x Outcomes) {
	o.Starts += x.Starts
	o.OnlyA += x.OnlyA
	o.OnlyB += x.OnlyB
	o.Both += x.Both
}

// NewPairs returns an empty collector for n tasks, keeping at most max
// pairs per task (0: MaxPairs), its sampling seeded by seed.
func NewPairs(n, max int, seed uint64) *Pairs {
	if max <= 0 {
		max = MaxPairs
	}
	return &Pairs{tasks: make([][]Pair, n), seen: make([]int64, n), outs: make([]Outcomes, n), max: max, rng: rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d))}
}

// Add records the pair of one start of task: a and b are the latencies
// of the base and of the candidate.
func (p *Pairs) Add(task int, a, b time.Duration) {
	pr := Pair{A: float64(a) / float64(time.Microsecond), B: float64(b) / float64(time.Microsecond)}
	p.mu.Lock()
	defer p.mu.Unlock()
	pr.Seq = p.seq
	p.seq++
	p.seen[task]++
	if len(p.tasks[task]) < p.max {
		p.tasks[task] = append(p.tasks[task], pr)
		return
	}
	if j := p.rng.Int64N(p.seen[task]); j < int64(p.max) {
		p.tasks[task][j] = pr
	}
}

// Outcome counts one start of task that ran on both sides: whether the
// base (aFailed) and the candidate (bFailed) failed. Every such start is
// counted, whatever its latencies; only those where neither failed give
// a pair to Add.
func (p *Pairs) Outcome(task int, aFailed, bFailed bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	o := &p.outs[task]
	o.Starts++
	switch {
	case aFailed && bFailed:
		o.Both++
	case aFailed:
		o.OnlyA++
	case bFailed:
		o.OnlyB++
	}
}

// Take returns the pairs of each task since the last Take, in the order
// they were added, how many were offered (more than kept past the cap)
// and the outcomes of its starts, and starts afresh.
func (p *Pairs) Take() (pairs [][]Pair, seen []int64, outcomes []Outcomes) {
	p.mu.Lock()
	pairs, seen, outcomes = p.tasks, p.seen, p.outs
	p.tasks, p.seen, p.outs = make([][]Pair, len(pairs)), make([]int64, len(pairs)), make([]Outcomes, len(pairs))
	p.mu.Unlock()
	for _, ps := range pairs {
		sortBySeq(ps) // the reservoir put late pairs anywhere
	}
	return pairs, seen, outcomes
}

// sortBySeq puts pairs in the order they were added.
func sortBySeq(pairs []Pair) {
	slices.SortStableFunc(pairs, func(x, y Pair) int { return cmp.Compare(x.Seq, y.Seq) })
}
