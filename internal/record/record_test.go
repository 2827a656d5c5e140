package record

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/class"
	"github.com/steadyload/steadyload/loadtest/result"
)

func TestMinMedianMax(t *testing.T) {
	for _, tc := range []struct {
		name string
		us   []int64
	}{
		{"one value", []int64{20_345}},
		{"the lowest value", []int64{result.MinLatency, 7, 7}},
		{"the highest value", []int64{3, result.MaxLatency}},
		{"two clusters", []int64{120, 121, 125, 20_000, 20_010, 20_500, 20_501}},
		{"a long tail", []int64{900, 1_000, 1_100, 1_200, 45_000_000}},
		{"an even count", []int64{10, 20, 30, 40}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := result.NewHistogram()
			for _, v := range tc.us {
				h.RecordValue(v)
			}
			lo, med, hi := minMedianMax(h)
			assert.Equal(t, h.Min(), lo, "minMedianMax: min; want Min")
			assert.Equal(t, h.ValueAtPercentile(50), med, "minMedianMax: median; want p50")
			assert.Equal(t, h.Max(), hi, "minMedianMax: max; want Max")
		})
	}
}

// TestRecorderWindowTotals checks the whole-run figures of every window
// row, and of the run's result, against histograms merged from what was
// recorded, for runs of one task and of several.
func TestRecorderWindowTotals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tasks []string
	}{
		{"one task", []string{"GET /a"}},
		{"three tasks", []string{"GET /a", "POST /b", "browse"}},
	} {
		names := tc.tasks
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(names))))
			rec := New(names)
			perTask := make([]*result.Task, len(names))
			for i := range perTask {
				perTask[i] = &result.Task{Latency: result.NewHistogram()}
			}
			t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			for w := range 4 {
				for range 200 {
					ti := rng.IntN(len(names))
					o := Outcome{Latency: time.Duration(50+rng.IntN(30_000*(ti+1))) * time.Microsecond, End: t0}
					if rng.IntN(10) == 0 {
						o.Class, o.Msg = class.Check, "check failed"
					} else {
						perTask[ti].Latency.RecordValue(result.Micros(o.Latency))
					}
					rec.Record(ti, &o)
				}
				rows := rec.CloseWindow(t0.Add(time.Duration(w)*time.Second), time.Duration(w)*time.Second, time.Second, 1)
				all := result.NewHistogram()
				for _, pt := range perTask {
					all.Merge(pt.Latency)
				}
				for _, row := range rows {
					h := all
					if row.Name != result.AggregateName {
						h = perTask[indexOf(t, names, row.Type, row.Name)].Latency
					}
					want := []float64{float64(h.Min()), float64(h.ValueAtPercentile(50)), float64(h.Max()), h.Mean()}
					got := []float64{float64(row.TotalMinUS), float64(row.TotalMedianUS), float64(row.TotalMaxUS), row.TotalMeanUS}
					for k, what := range []string{"min", "median", "max", "mean"} {
						assert.Equal(t, want[k], got[k], "window %d, %s %q: total %s", w, row.Type, row.Name, what)
					}
				}
			}
			_, total, _ := rec.TasksResult()
			all := result.NewHistogram()
			for _, pt := range perTask {
				all.Merge(pt.Latency)
			}
			assert.True(t, total.Latency.Equals(all), "the run's aggregate latency; want the tasks' merged")
		})
	}
}

func indexOf(t *testing.T, names []string, typ, name string) int {
	t.Helper()
	for i, n := range names {
		if ty, nm := SplitName(n); ty == typ && nm == name {
			return i
		}
	}
	require.Failf(t, "no such task", "%s %q in %q", typ, name, names)
	return -1
}

// TestNameIndex: names get rows as they first appear, after the tasks',
// with the same key for the same name however spaced; a task's name, a
// reserved row's and the empty name are refused, said once each.
func TestNameIndex(t *testing.T) {
	rec := New([]string{"GET /a", "browse", "OnStart"})
	type step struct {
		name string
		i    int
		note NameNote
	}
	for _, s := range []step{
		{"GET /items/{id}", 3, nameKnown},
		{"queue delay", 4, nameKnown},
		{"GET  /items/{id}", 3, nameKnown},
		{"GET /a", NameRefused, NameRefused1},
		{"GET /a", NameRefused, NameRefusedN},
		{"GET  /a", NameRefused, NameRefusedN},
		{"browse", NameRefused, NameRefused1},
		{"OnStart", NameRefused, NameRefused1},
		{result.AggregateName, NameRefused, NameRefused1},
		{"", NameRefused, NameRefused1},
		{"", NameRefused, NameRefusedN},
		{"GRPC /grpc.health.v1.Health/Check", 5, nameKnown},
	} {
		i, note := rec.NameIndex(s.name)
		assert.Equal(t, s.i, i, "nameIndex(%q): index", s.name)
		assert.Equal(t, s.note, note, "nameIndex(%q): note", s.name)
	}
	tasks, _, _ := rec.TasksResult()
	var keys []string
	for _, tk := range tasks {
		keys = append(keys, tk.Key())
	}
	assert.Equal(t, []string{"GET /a", "GRPC /grpc.health.v1.Health/Check", "GET /items/{id}", "OnStart", "browse", "queue delay"}, keys, "rows, by name then type")
}

// TestNameLimit: past MaxNames distinct names, every new name shares one
// row, the first of them said once, and the names' map stops growing.
func TestNameLimit(t *testing.T) {
	rec := New([]string{"GET /a"})
	var overflows int
	for n := range MaxNames + 50 {
		i, note := rec.NameIndex(fmt.Sprintf("GET /items/%d", n))
		switch {
		case n < MaxNames:
			require.Equal(t, n+1, i, "name %d: its own row", n)
			require.Equal(t, nameKnown, note, "name %d", n)
		default:
			require.Equal(t, MaxNames+1, i, "name %d: the catch-all row", n)
			if note == NameOverflow {
				overflows++
				assert.Equal(t, MaxNames, n, "the first name past the limit is the one said")
			}
		}
		rec.Record(i, &Outcome{Latency: time.Millisecond})
	}
	assert.Equal(t, 1, overflows, "the limit said once")
	assert.Len(t, *rec.names.index.Load(), 3+1+MaxNames+1, "names kept: reserved (empty, Aggregated, OnStart), the task, the names, the catch-all")
	tasks, total, _ := rec.TasksResult()
	require.Len(t, tasks, 1+MaxNames+1)
	other := tasks[0]
	assert.Equal(t, OtherNames, other.Name, "the catch-all sorts first")
	assert.Equal(t, int64(50), other.Requests, "the catch-all's requests")
	assert.Equal(t, int64(MaxNames+50), total.Requests, "the aggregate's requests")
}

// TestNamesConcurrent: users adding and recording names at once lose no
// measurement, whatever the order the names came in (run with -race).
func TestNamesConcurrent(t *testing.T) {
	rec := New([]string{"GET /a"})
	const users, each = 8, 200
	var wg sync.WaitGroup
	for u := range users {
		wg.Go(func() {
			for k := range each {
				i, note := rec.NameIndex(fmt.Sprintf("name %d", (u+k)%20))
				if !assert.Equal(t, nameKnown, note) {
					return
				}
				rec.Record(i, &Outcome{Latency: time.Duration(k+1) * time.Microsecond})
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			rec.CloseWindow(time.Now(), 0, time.Second, users)
		}
	})
	wg.Wait()
	tasks, total, _ := rec.TasksResult()
	require.Len(t, tasks, 21, "the task and 20 names")
	assert.Zero(t, tasks[0].Latency.TotalCount(), "the task's histogram holds none of the names'")
	for _, tk := range tasks[1:] {
		assert.Equal(t, int64(users*each/20), tk.Requests, "row %q", tk.Key())
	}
	assert.Equal(t, int64(users*each), total.Requests)
	assert.Equal(t, int64(users*each), total.Latency.TotalCount(), "the aggregate's histogram")
}

// BenchmarkRecordNamed is the cost of a measurement under a known name:
// the name's lookup, without a lock, and the row's record.
func BenchmarkRecordNamed(b *testing.B) {
	rec := New([]string{"GET /a"})
	names := []string{"GET /items/{id}", "POST /cart", "queue delay"}
	for _, n := range names {
		rec.NameIndex(n)
	}
	o := Outcome{Latency: time.Millisecond}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		k := 0
		for pb.Next() {
			i, _ := rec.NameIndex(names[k%len(names)])
			rec.Record(i, &o)
			k++
		}
	})
}

// BenchmarkRecord is the recorder on the hot path: recording allocates
// nothing.
func BenchmarkRecord(b *testing.B) {
	for _, bc := range []struct {
		name string
		o    Outcome
	}{
		{"success", Outcome{Latency: 1234 * time.Microsecond, End: time.Unix(1, 0), Bytes: 120, Status: 200}},
		{"failure", Outcome{Latency: 30 * time.Millisecond, End: time.Unix(1, 0), Status: 503, Class: class.HTTP, Msg: "HTTP 503"}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rec := New([]string{"GET /a", "GET /b"})
			o := bc.o
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				o.Latency += time.Microsecond // vary the exemplar path
				rec.Record(i&1, &o)
			}
		})
	}
	// All workers recording at once: the cost of the recorder's lock.
	b.Run("parallel", func(b *testing.B) {
		rec := New([]string{"GET /a", "GET /b"})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			o := Outcome{Latency: time.Millisecond, Status: 200}
			i := 0
			for pb.Next() {
				i++
				o.Latency = time.Duration(i%5000) * time.Microsecond
				rec.Record(i&1, &o)
			}
		})
	})
}

// BenchmarkCloseWindow closes windows of a 50 req/s run: the run's other
// goroutines wait for the processor while it works, when it has one.
func BenchmarkCloseWindow(b *testing.B) {
	for _, tasks := range []int{1, 3} {
		b.Run(fmt.Sprintf("tasks=%d", tasks), func(b *testing.B) {
			names := []string{"GET /a", "GET /b", "GET /c"}[:tasks]
			rec := New(names)
			o := Outcome{End: time.Unix(1, 0), Status: 200}
			at := time.Unix(0, 0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				for k := range 500 { // 10 s at 50 req/s, 20-25 ms each
					o.Latency = time.Duration(20_000+(i*500+k)%5_000) * time.Microsecond
					rec.Record(k%tasks, &o)
				}
				rec.CloseWindow(at, time.Duration(i)*10*time.Second, 10*time.Second, 2)
			}
		})
	}
}
