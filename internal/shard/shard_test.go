package shard

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Spec
		wantErr string
	}{
		{in: "1/1", want: Spec{1, 1}},
		{in: "2/4", want: Spec{2, 4}},
		{in: "4/4", want: Spec{4, 4}},
		{in: "0/4", wantErr: "want 1 ≤ i ≤ N"},
		{in: "5/4", wantErr: "want 1 ≤ i ≤ N"},
		{in: "1/0", wantErr: "want 1 ≤ i ≤ N"},
		{in: "2", wantErr: "want i/N"},
		{in: "a/4", wantErr: "want i/N"},
		{in: "", wantErr: "want i/N"},
	} {
		got, err := Parse(tc.in)
		if tc.wantErr != "" {
			assert.ErrorContains(t, err, tc.wantErr, "Parse(%q)", tc.in)
			continue
		}
		require.NoError(t, err, "Parse(%q)", tc.in)
		assert.Equal(t, tc.want, got, "Parse(%q)", tc.in)
		assert.Equal(t, tc.in, got.String(), "Parse(%q).String()", tc.in)
	}
	assert.True(t, Spec{}.Whole())
	assert.Empty(t, Spec{}.String())
}

// TestSplit: the shards' users add up to the run's, each user of the run
// in exactly one shard under its own number; their rates add up to the
// run's; their seeds differ.
func TestSplit(t *testing.T) {
	for n := 1; n <= 7; n++ {
		for users := n; users <= 30; users++ {
			seen := map[int]int{}
			total := 0
			for i := 1; i <= n; i++ {
				s := Spec{i, n}
				k := s.Users(users)
				total += k
				for local := range k {
					seen[s.UserID(local)]++
				}
			}
			assert.Equal(t, users, total, "users %d over %d shards: Σ Users", users, n)
			for id := range users {
				assert.Equal(t, 1, seen[id], "users %d over %d shards: user %d in %d shards", users, n, id, seen[id])
			}
		}
	}
	for _, rate := range []float64{10, 0.1, 1 / 3.0, 2 / 3.0, 200, 999.7, 12345.678, 1e-7, 0.7} {
		for n := 1; n <= 9; n++ {
			sum := 0.0
			var rates []float64
			for i := 1; i <= n; i++ {
				sum += Spec{i, n}.Rate(rate)
				rates = append(rates, Spec{i, n}.Rate(rate))
			}
			assert.Equal(t, rate, whole(sum, rates), "rate %g over %d shards: the whole run's rate", rate, n)
		}
	}
	seeds := map[uint64]bool{}
	for i := 1; i <= 8; i++ {
		s := Spec{i, 8}.Seed(42)
		assert.NotZero(t, s)
		assert.Equal(t, s, Spec{i, 8}.Seed(42), "the same seed for the same shard")
		seeds[s] = true
	}
	assert.Len(t, seeds, 8, "distinct seeds")
	assert.Equal(t, uint64(42), Spec{}.Seed(42), "the whole run keeps its seed")
}

// shardRun is shard i/n of a run: one task "GET /x" with latencies drawn
// from rng, failures every tenth request, two windows.
func shardRun(i, n int, rng *rand.Rand, values *[]int64) *result.Run {
	start := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC).Add(time.Duration(i) * 100 * time.Millisecond)
	m := result.Meta{
		Test: "TestX", RunID: "r1", Status: result.Complete, Model: "open", Rate: 100.0 / float64(n), MaxInFlight: 100,
		Duration: 2 * time.Second, Window: time.Second, Grace: time.Second, Start: start, Elapsed: 2*time.Second + time.Duration(i)*time.Millisecond,
		Env: "e", Target: "http://x", Scheduled: 200 / int64(n), Late: int64(i), Shard: fmt.Sprintf("%d/%d", i, n), Location: "eu",
		MaxLag: time.Duration(i) * time.Millisecond,
	}
	task := &result.Task{Type: "GET", Name: "/x", Latency: result.NewHistogram()}
	var ws []result.Window
	for w := range 2 {
		win := result.NewWindowHistogram()
		var req, fail int64
		for range 100 / n {
			req++
			if rng.IntN(10) == 0 {
				fail++
				continue
			}
			v := int64(1000 + rng.IntN(50000))
			task.Latency.RecordValue(v)
			win.RecordValue(v)
			*values = append(*values, v)
		}
		task.Requests += req
		task.Failures += fail
		for _, name := range []string{"/x", result.AggregateName} {
			typ := "GET"
			if name == result.AggregateName {
				typ = ""
			}
			ws = append(ws, result.Window{Start: start.Add(time.Duration(w) * time.Second), Offset: time.Duration(w) * time.Second, Length: time.Second,
				Users: 1, Type: typ, Name: name, Requests: req, Failures: fail, Quantiles: win.ValueAtPercentilesSlice(result.Percentiles),
				MeanUS: win.Mean(), TotalRequests: task.Requests, TotalFailures: task.Failures})
		}
	}
	total := &result.Task{Name: result.AggregateName, Requests: task.Requests, Failures: task.Failures, Latency: task.Latency}
	fails := []result.Failure{{Type: "GET", Name: "/x", Class: "http", Error: "HTTP 503", Occurrences: task.Failures}}
	return &result.Run{Meta: m, Tasks: []*result.Task{task}, Total: total, Windows: ws, Failures: fails}
}

// TestMerge: the merged histograms are those of every request, the counts
// add up, the shape is the whole run's.
func TestMerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var values []int64
	var runs []*result.Run
	for i := 4; i >= 1; i-- { // in any order
		runs = append(runs, shardRun(i, 4, rng, &values))
	}
	runs[1].Meta.Status, runs[1].Meta.Reason = result.Aborted, "too many failures"
	runs[0].Meta.Location = "us"
	m, err := Merge(runs)
	require.NoError(t, err)

	all := result.NewHistogram()
	for _, v := range values {
		all.RecordValue(v)
	}
	for _, p := range result.Percentiles {
		assert.Equal(t, all.ValueAtPercentile(p), m.Total.Latency.ValueAtPercentile(p), "aggregate p%g", p)
		assert.Equal(t, all.ValueAtPercentile(p), m.Tasks[0].Latency.ValueAtPercentile(p), "task p%g", p)
	}
	var req, fail int64
	for _, r := range runs {
		req += r.Total.Requests
		fail += r.Total.Failures
	}
	assert.Equal(t, req, m.Total.Requests)
	assert.Equal(t, fail, m.Total.Failures)
	require.Len(t, m.Failures, 1)
	assert.Equal(t, fail, m.Failures[0].Occurrences)

	assert.Equal(t, 100.0, m.Meta.Rate, "the whole run's rate")
	assert.Equal(t, int64(200), m.Meta.Scheduled)
	assert.Equal(t, int64(1+2+3+4), m.Meta.Late)
	assert.Equal(t, 4*time.Millisecond, m.Meta.MaxLag)
	assert.Equal(t, runs[3].Meta.Start, m.Meta.Start, "the earliest start (shard 1)")
	assert.Equal(t, 2*time.Second+4*time.Millisecond, m.Meta.Elapsed, "the longest shard")
	assert.Empty(t, m.Meta.Shard)
	assert.Equal(t, "eu+us", m.Meta.Location)
	assert.Equal(t, result.Aborted, m.Meta.Status)
	assert.Equal(t, "shard 3/4: too many failures", m.Meta.Reason)

	require.Len(t, m.Windows, 4, "two windows of the task and the aggregate")
	assert.Equal(t, "/x", m.Windows[0].Name)
	assert.Equal(t, result.AggregateName, m.Windows[1].Name, "the aggregate last in its window")
	assert.Equal(t, time.Second, m.Windows[2].Offset)
	assert.Equal(t, int64(100), m.Windows[0].Requests)
	assert.Equal(t, int64(200), m.Windows[3].TotalRequests, "cumulative")
}

// TestMergeWindowQuantiles: shards that agree give their own window
// quantiles back.
func TestMergeWindowQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var values []int64
	one := shardRun(1, 2, rng, &values)
	two := shardRun(2, 2, rng, &values)
	two.Windows = one.Windows
	m, err := Merge([]*result.Run{one, two})
	require.NoError(t, err)
	for i, w := range m.Windows {
		assert.Equal(t, one.Windows[i].Quantiles, w.Quantiles, "window %d (%s)", i, w.Name)
		assert.Equal(t, 2*one.Windows[i].Requests, w.Requests, "window %d (%s)", i, w.Name)
	}
}

func TestMergeRefuses(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	var values []int64
	mk := func(i, n int) *result.Run { return shardRun(i, n, rng, &values) }
	for _, tc := range []struct {
		name string
		runs func() []*result.Run
		want string
	}{
		{"none", func() []*result.Run { return nil }, "no results"},
		{"missing shard", func() []*result.Run { return []*result.Run{mk(1, 3), mk(3, 3)} }, "shard(s) 2/3 missing"},
		{"twice", func() []*result.Run { return []*result.Run{mk(1, 2), mk(1, 2)} }, "shard 1/2 appears twice"},
		{"other run", func() []*result.Run { r := mk(2, 2); r.Meta.RunID = "r2"; return []*result.Run{mk(1, 2), r} }, "differ in run id"},
		{"other count", func() []*result.Run { return []*result.Run{mk(1, 2), mk(2, 3)} }, "of different runs"},
		{"not a shard", func() []*result.Run { r := mk(1, 1); r.Meta.Shard = ""; return []*result.Run{r} }, "not a shard"},
	} {
		_, err := Merge(tc.runs())
		assert.ErrorContains(t, err, tc.want, tc.name)
	}
}
