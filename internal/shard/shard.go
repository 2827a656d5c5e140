// Package shard splits one run's load over N processes and merges their
// results back into the one result the whole run would have given.
//
// Shard i of N (1 ≤ i ≤ N) sends 1/N of the load: the open model's rate
// divided by N; in the closed model the users of the whole run dealt out,
// user j to shard j mod N + 1, so the shards' users add up to the run's
// exactly, each keeping its number in the whole run; the spawn rate
// divided by N, so the whole run ramps up as one process would. Each
// shard draws from its own seed, derived from the run's and i. The shards
// share one run id.
//
// Merge adds the shards' results up: requests, failures and content
// summed per task, whole-run latency histograms merged (so percentiles
// are exact to the histograms' precision, as one process's would be),
// failures summed per distinct error, windows aligned by their place in
// the run. See Merge for what is exact and what is not.
//
//	s, err := shard.Parse("2/4")
//	rate := s.Rate(200) // 50/s
//	merged, err := shard.Merge(runs)
package shard

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/loadtest/result"
)

// Spec is one shard of a run: the Index-th (from 1) of Count. The zero
// Spec is the whole run.
type Spec struct {
	Index, Count int
}

// Parse reads "i/N", 1 ≤ i ≤ N.
func Parse(s string) (Spec, error) {
	is, ns, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(is)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil {
		return Spec{}, fmt.Errorf("shard %q: want i/N, e.g. 2/4", s)
	}
	if n < 1 || i < 1 || i > n {
		return Spec{}, fmt.Errorf("shard %q: want 1 ≤ i ≤ N", s)
	}
	return Spec{Index: i, Count: n}, nil
}

// Whole reports whether s is the whole run, not a shard.
func (s Spec) Whole() bool { return s.Count == 0 }

// String is "i/N", empty for the whole run.
func (s Spec) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.Index, s.Count)
}

// Rate is the shard's part of an open-model rate, or of a spawn rate.
func (s Spec) Rate(rate float64) float64 {
	if s.Whole() {
		return rate
	}
	return rate / float64(s.Count)
}

// Users is how many of the whole run's users the shard runs: those whose
// number j (from 0) has j mod N = i − 1.
func (s Spec) Users(users int) int {
	if s.Whole() {
		return users
	}
	return max(0, (users-s.Index+s.Count)/s.Count)
}

// UserID is the number in the whole run of the shard's user local (from
// 0): local·N + i − 1.
func (s Spec) UserID(local int) int {
	if s.Whole() {
		return local
	}
	return local*s.Count + s.Index - 1
}

// Seed is the shard's seed, derived from the run's: distinct for each
// shard, the same for the same run seed and shard. The whole run keeps
// the run's seed.
func (s Spec) Seed(seed uint64) uint64 {
	if s.Whole() {
		return seed
	}
	// splitmix64 of the seed moved by the shard's index.
	z := seed + uint64(s.Index)*0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	z ^= z >> 31
	if z == 0 {
		z = 1 // 0 asks for a random seed
	}
	return z
}

// Merge combines the results of the N shards of one run into the result
// of the whole run. The shards must be one run: the same test, run id,
// load model, duration, window, environment, target and commit, with
// shards 1/N to N/N each present once.
//
// Exact: per task (and in the aggregate) requests, failures and content
// bytes are summed and the whole-run latency histograms merged, so the
// stats' percentiles are those of one histogram holding every request;
// failures are summed per task, class and error; the open model's
// scheduled, late and dropped starts are summed. The load shape is the
// whole run's: rates, spawn rates and users summed (a rate divided among
// the shards comes back bit for bit), the in-flight cap (per process)
// kept.
//
// The run starts at the earliest shard's start and lasts as long as the
// longest shard: the shards ran side by side, so the stagger of their
// starts (a second or so) is not counted as run time and does not lower
// the achieved rate. Its status is complete when every shard's is, else
// the first shard's that is not, its reason prefixed by the shard. The
// start lag's worst, p50 and p99 are the highest of the shards'.
//
// Windows are aligned by their place in each shard's run (window k is the
// one starting k windows after the shard's first): counts, failures,
// users and content are summed, the start is the earliest, the length the
// longest. A window's quantiles are approximate: the files keep each
// shard's window quantiles, not its histogram, so the merged window's are
// read from a histogram rebuilt from them (each shard's successes spread
// over its quantiles at the percentiles' steps, 50 % at p50, 16 % at p66
// and so on): equal to the shards' when they agree, between them when
// they do not. The window mean is the shards' weighted by successes; the
// cumulative columns follow from the merged windows in the same way.
// Exemplars and findings are not merged.
func Merge(runs []*result.Run) (*result.Run, error) {
	if len(runs) == 0 {
		return nil, errors.New("merge: no results")
	}
	runs = slices.Clone(runs)
	specs := make([]Spec, len(runs))
	for i, r := range runs {
		s, err := Parse(r.Meta.Shard)
		if err != nil {
			return nil, fmt.Errorf("merge: run %s of %s: not a shard (meta shard %q): only the shards of one run merge", r.Meta.RunID, r.Meta.Test, r.Meta.Shard)
		}
		specs[i] = s
	}
	sort.SliceStable(runs, func(i, j int) bool { return mustParse(runs[i].Meta.Shard).Index < mustParse(runs[j].Meta.Shard).Index })
	sort.SliceStable(specs, func(i, j int) bool { return specs[i].Index < specs[j].Index })
	n := specs[0].Count
	var errs []error
	for i, s := range specs {
		switch {
		case s.Count != n:
			errs = append(errs, fmt.Errorf("shard %s and shard %s: of different runs (%d and %d shards)", specs[0], s, n, s.Count))
		case i > 0 && s.Index == specs[i-1].Index:
			errs = append(errs, fmt.Errorf("shard %s appears twice", s))
		}
	}
	if len(errs) == 0 && len(specs) != n {
		var missing []string
		have := map[int]bool{}
		for _, s := range specs {
			have[s.Index] = true
		}
		for i := 1; i <= n; i++ {
			if !have[i] {
				missing = append(missing, Spec{i, n}.String())
			}
		}
		errs = append(errs, fmt.Errorf("shard(s) %s missing: merge needs all %d", strings.Join(missing, ", "), n))
	}
	first := runs[0].Meta
	for _, r := range runs[1:] {
		m := r.Meta
		same := func(what, a, b string) {
			if a != b {
				errs = append(errs, fmt.Errorf("shards %s and %s differ in %s: %q and %q", first.Shard, m.Shard, what, a, b))
			}
		}
		same("test", first.Test, m.Test)
		same("run id", first.RunID, m.RunID)
		same("model", first.Model, m.Model)
		same("duration", first.Duration.String(), m.Duration.String())
		same("window", first.Window.String(), m.Window.String())
		same("environment", first.Env, m.Env)
		same("target", first.Target, m.Target)
		same("git commit", first.GitCommit, m.GitCommit)
		same("think time", first.Wait, m.Wait)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	merged := &result.Run{Meta: mergeMeta(runs)}
	merged.Tasks, merged.Total = mergeTasks(runs)
	merged.Failures = mergeFailures(runs)
	merged.Windows = mergeWindows(runs)
	return merged, nil
}

func mustParse(s string) Spec {
	sp, _ := Parse(s)
	return sp
}

// mergeMeta is the whole run's metadata.
func mergeMeta(runs []*result.Run) result.Meta {
	m := runs[0].Meta
	m.Shard = ""
	m.Rate, m.Users, m.SpawnRate = 0, 0, 0
	m.Scheduled, m.Late, m.Waited, m.Dropped = 0, 0, 0, 0
	var locs []string
	end := time.Time{}
	for _, r := range runs {
		s := r.Meta
		m.Rate += s.Rate
		m.Users += s.Users
		m.SpawnRate += s.SpawnRate
		m.MaxInFlight = max(m.MaxInFlight, s.MaxInFlight)
		m.Scheduled += s.Scheduled
		m.Late += s.Late
		m.Waited += s.Waited
		m.Dropped += s.Dropped
		m.MaxLag = max(m.MaxLag, s.MaxLag)
		m.LagP50 = max(m.LagP50, s.LagP50)
		m.LagP99 = max(m.LagP99, s.LagP99)
		m.Elapsed = max(m.Elapsed, s.Elapsed)
		if s.Start.Before(m.Start) {
			m.Start = s.Start
		}
		if e := s.Start.Add(s.Elapsed); e.After(end) {
			end = e
		}
		if s.Location != "" && !slices.Contains(locs, s.Location) {
			locs = append(locs, s.Location)
		}
		if m.Status == result.Complete && s.Status != result.Complete {
			m.Status, m.Reason = s.Status, "shard "+s.Shard+": "+s.Reason
		}
	}
	var rates, spawns []float64
	for _, r := range runs {
		rates, spawns = append(rates, r.Meta.Rate), append(spawns, r.Meta.SpawnRate)
	}
	m.Rate, m.SpawnRate = whole(m.Rate, rates), whole(m.SpawnRate, spawns)
	sort.Strings(locs)
	m.Location = strings.Join(locs, "+")
	return m
}

// whole is the rate of the whole run from the shards' rates, their sum:
// when the n shards ran at one rate, the rate that divided by n gives it
// (of those, the one written shortest), so that a rate divided among the
// shards and added back is the rate again, bit for bit, and the merged
// run compares with runs of the whole.
func whole(sum float64, rates []float64) float64 {
	for _, r := range rates[1:] {
		if r != rates[0] {
			return sum
		}
	}
	part, n := rates[0], float64(len(rates))
	best, bestLen := sum, -1
	x := part * n
	for range 8 { // a few units in the last place either side
		x = math.Nextafter(x, math.Inf(-1))
	}
	for range 17 {
		if x/n == part {
			if l := len(strconv.FormatFloat(x, 'g', -1, 64)); bestLen < 0 || l < bestLen {
				best, bestLen = x, l
			}
		}
		x = math.Nextafter(x, math.Inf(1))
	}
	return best
}

type taskKey struct{ typ, name string }

func less(a, b taskKey) bool {
	if a.name != b.name {
		return a.name < b.name
	}
	return a.typ < b.typ
}

// mergeTasks sums the tasks of the shards and merges their histograms.
func mergeTasks(runs []*result.Run) ([]*result.Task, *result.Task) {
	byKey := map[taskKey]*result.Task{}
	var keys []taskKey
	total := &result.Task{Name: result.AggregateName, Latency: result.NewHistogram()}
	add := func(dst, src *result.Task) {
		dst.Requests += src.Requests
		dst.Failures += src.Failures
		dst.ContentBytes += src.ContentBytes
		if src.Latency != nil {
			dst.Latency.Merge(src.Latency)
		}
	}
	for _, r := range runs {
		for _, t := range r.Tasks {
			k := taskKey{t.Type, t.Name}
			m := byKey[k]
			if m == nil {
				m = &result.Task{Type: t.Type, Name: t.Name, Setup: t.Setup, Latency: result.NewHistogram()}
				byKey[k] = m
				keys = append(keys, k)
			}
			add(m, t)
		}
		if r.Total != nil {
			add(total, r.Total)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return less(keys[i], keys[j]) })
	tasks := make([]*result.Task, 0, len(keys))
	for _, k := range keys {
		tasks = append(tasks, byKey[k])
	}
	return tasks, total
}

// mergeFailures sums the failures per task, class and error, sorted by
// task, then most frequent first, then by error, as a run sorts them.
func mergeFailures(runs []*result.Run) []result.Failure {
	type key struct{ typ, name, class, err string }
	sum := map[key]int64{}
	for _, r := range runs {
		for _, f := range r.Failures {
			sum[key{f.Type, f.Name, f.Class, f.Error}] += f.Occurrences
		}
	}
	out := make([]result.Failure, 0, len(sum))
	for k, n := range sum {
		out = append(out, result.Failure{Type: k.typ, Name: k.name, Class: k.class, Error: k.err, Occurrences: n})
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Name != b.Name || a.Type != b.Type {
			return less(taskKey{a.Type, a.Name}, taskKey{b.Type, b.Name})
		}
		if a.Occurrences != b.Occurrences {
			return a.Occurrences > b.Occurrences
		}
		if a.Error != b.Error {
			return a.Error < b.Error
		}
		return a.Class < b.Class
	})
	return out
}

// stepWeights returns the shares of a window's successes between each
// of result.Percentiles and the one before it, in ten-thousandths.
func stepWeights() []int64 {
	w := make([]int64, len(result.Percentiles))
	prev := 0.0
	for i, p := range result.Percentiles {
		w[i] = int64(math.Round((p - prev) * 100))
		prev = p
	}
	return w
}

// rebuild adds to h a stand-in for a window's successes from its
// quantiles: n successes spread over them at the percentiles' steps.
func rebuild(h *hdrhistogram.Histogram, q []int64, n int64) {
	w := stepWeights()
	if n <= 0 || len(q) != len(w) {
		return
	}
	for i, v := range q {
		if v > 0 {
			h.RecordValues(min(max(v, result.MinLatency), result.MaxLatency), n*w[i])
		}
	}
}

// winAcc gathers one task's rows of one aligned window.
type winAcc struct {
	w       result.Window
	hist    *hdrhistogram.Histogram
	meanSum float64 // Σ mean × successes
	succ    int64
}

// cumPoint is a shard's cumulative figures of one task at window k.
type cumPoint struct {
	k             int
	bytes, lo, hi int64
	hasLatency    bool
}

// mergeWindows aligns the shards' windows by their index in each shard's
// run and merges each task's rows.
func mergeWindows(runs []*result.Run) []result.Window {
	win := runs[0].Meta.Window
	base := time.Duration(-1)
	for _, r := range runs {
		if len(r.Windows) > 0 && (base < 0 || r.Windows[0].Offset < base) {
			base = r.Windows[0].Offset
		}
	}
	type slot struct {
		k   int
		key taskKey
	}
	acc := map[slot]*winAcc{}
	var slots []slot
	points := make([]map[taskKey][]cumPoint, len(runs)) // per shard, in window order
	for i, r := range runs {
		points[i] = map[taskKey][]cumPoint{}
		if len(r.Windows) == 0 {
			continue
		}
		first := r.Windows[0].Offset
		for _, w := range r.Windows {
			k := 0
			if win > 0 {
				k = int(math.Round(float64(w.Offset-first) / float64(win)))
			}
			s := slot{k, taskKey{w.Type, w.Name}}
			a := acc[s]
			if a == nil {
				a = &winAcc{hist: result.NewWindowHistogram()}
				a.w = result.Window{Start: w.Start, Offset: base + time.Duration(k)*win, Type: w.Type, Name: w.Name}
				acc[s] = a
				slots = append(slots, s)
			}
			if w.Start.Before(a.w.Start) {
				a.w.Start = w.Start
			}
			a.w.Length = max(a.w.Length, w.Length)
			a.w.Users += w.Users
			a.w.Requests += w.Requests
			a.w.Failures += w.Failures
			succ := w.Requests - w.Failures
			rebuild(a.hist, w.Quantiles, succ)
			a.meanSum += w.MeanUS * float64(succ)
			a.succ += succ
			points[i][s.key] = append(points[i][s.key], cumPoint{k: k, bytes: w.TotalContentBytes, lo: w.TotalMinUS, hi: w.TotalMaxUS,
				hasLatency: w.TotalRequests > w.TotalFailures})
		}
	}
	sort.Slice(slots, func(i, j int) bool {
		a, b := slots[i], slots[j]
		if a.k != b.k {
			return a.k < b.k
		}
		aggA, aggB := a.key == taskKey{"", result.AggregateName}, b.key == taskKey{"", result.AggregateName}
		if aggA != aggB {
			return aggB // the aggregate last
		}
		return less(a.key, b.key)
	})
	// The cumulative columns, from the merged windows.
	type cum struct {
		req, fail int64
		hist      *hdrhistogram.Histogram
		meanSum   float64
		succ      int64
	}
	cums := map[taskKey]*cum{}
	out := make([]result.Window, 0, len(slots))
	for _, s := range slots {
		a := acc[s]
		w := a.w
		w.Quantiles = make([]int64, len(result.Percentiles))
		if a.hist.TotalCount() > 0 {
			w.Quantiles = a.hist.ValueAtPercentilesSlice(result.Percentiles)
		}
		if a.succ > 0 {
			w.MeanUS = a.meanSum / float64(a.succ)
		}
		c := cums[s.key]
		if c == nil {
			c = &cum{hist: result.NewWindowHistogram()}
			cums[s.key] = c
		}
		c.req += w.Requests
		c.fail += w.Failures
		c.hist.Merge(a.hist)
		c.meanSum += a.meanSum
		c.succ += a.succ
		w.TotalRequests, w.TotalFailures = c.req, c.fail
		// Each shard's cumulative content, least and most latency as of
		// this window: from its last row of the task at or before it.
		lo := int64(-1)
		for _, ps := range points {
			j := sort.Search(len(ps[s.key]), func(j int) bool { return ps[s.key][j].k > s.k }) - 1
			if j < 0 {
				continue
			}
			p := ps[s.key][j]
			w.TotalContentBytes += p.bytes
			if p.hasLatency {
				if lo < 0 || p.lo < lo {
					lo = p.lo
				}
				w.TotalMaxUS = max(w.TotalMaxUS, p.hi)
			}
		}
		if c.succ > 0 {
			w.TotalMeanUS = c.meanSum / float64(c.succ)
			w.TotalMedianUS = c.hist.ValueAtPercentile(50)
			w.TotalMinUS = max(lo, 0)
		}
		out = append(out, w)
	}
	return out
}
