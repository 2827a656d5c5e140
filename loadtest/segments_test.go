package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// segmentLog is a sink that keeps what it saw of each segment, and the
// heap in use after a collection at its end.
type segmentLog struct {
	mu   sync.Mutex
	segs []segmentSeen
}

type segmentSeen struct {
	index    int
	name     string
	last     bool
	status   result.Status
	elapsed  time.Duration
	requests int64
	windows  int
	inRows   int64 // requests in the aggregate window rows
	heap     uint64
	start    time.Time
	paused   time.Duration
	outages  int
}

func (l *segmentLog) Write(seg *pipeline.Segment) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	windows, inRows := 0, int64(0)
	for _, w := range seg.Windows {
		if w.Name == result.AggregateName {
			windows++
			inRows += w.Requests
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.segs = append(l.segs, segmentSeen{
		index: seg.Index, name: seg.Name, last: seg.Last, status: seg.Meta.Status,
		elapsed: seg.Meta.Elapsed, requests: seg.Total.Requests, windows: windows, inRows: inRows, heap: ms.HeapInuse,
		start: seg.Meta.Start, paused: seg.Meta.Paused, outages: seg.Meta.Outages,
	})
}

// runSegments runs sc in a synctest bubble against target, with the
// result files and a segmentLog as its sinks; ctx is the test's context
// as Run sees it, cancelled after stop when stop is not zero; a quiet
// run keeps no log lines.
func runSegments(t *testing.T, sc Scenario, stop time.Duration, quiet bool, args ...string) (*pipeline.Segment, *captureTB, *segmentLog, string) {
	t.Helper()
	out := t.TempDir()
	log := &segmentLog{segs: make([]segmentSeen, 0, 512)} // grown up front: the heap measured is the run's
	var seg *pipeline.Segment
	var tb *captureTB
	synctest.Test(t, func(t *testing.T) {
		fs := newFlagSet()
		fl := newFlags(fs)
		require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out}, args...)))
		tb = newCaptureTB(t)
		tb.quiet = quiet
		if stop > 0 {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			tb.ctx = ctx
			time.AfterFunc(stop, cancel)
		}
		seg = runWith(tb, sc, runOptions{flags: fl, sinks: []pipeline.Sink{log}})
	})
	return seg, tb, log, out
}

// TestSegments: a minute cut into 10-second segments is six segments,
// each judged and written under its own name, each with its own windows
// and figures, while the load goes on without a gap.
func TestSegments(t *testing.T) {
	target := &fakeTarget{delay: 5 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.Window, sc.Segment = 10, time.Minute, time.Second, 10*time.Second
	seg, tb, log, out := runSegments(t, sc, 0, false)
	require.NotNil(t, seg, "runWith returned no segment: %s", tb.messages())
	assert.Empty(t, tb.messages(), "a healthy run of segments fails nothing")
	require.Len(t, log.segs, 6, "segments judged")
	var total int64
	for i, s := range log.segs {
		assert.Equal(t, i, s.index, "segment %d: index", i)
		assert.Equal(t, i == 5, s.last, "segment %d: last", i)
		assert.Equal(t, result.Complete, s.status, "segment %d: status", i)
		assert.Equal(t, 10*time.Second, s.elapsed, "segment %d: elapsed", i)
		assert.Equal(t, int64(100), s.requests, "segment %d: requests (10/s for 10 s)", i)
		assert.Equal(t, 10, s.windows, "segment %d: windows of 1 s", i)
		assert.Equal(t, s.requests, s.inRows, "segment %d: requests in its windows and in its figures", i)
		assert.True(t, strings.HasPrefix(s.name, "TestSegments_2000"), "segment %d: name %q; want the test's, then the start", i, s.name)
		total += s.requests
	}
	assert.Equal(t, int64(600), total, "requests over the segments")
	assert.Equal(t, int64(600), target.total.Load(), "requests the target saw")
	assert.Equal(t, 5, seg.Index, "Run's segment is the last")

	stats, err := filepath.Glob(filepath.Join(out, "TestSegments_*_stats.csv"))
	require.NoError(t, err)
	assert.Len(t, stats, 6, "one stats file per segment")
	assert.True(t, sort.StringsAreSorted(stats), "segment files sort in run order: %v", stats)
	for i, s := range log.segs {
		m := readMeta(t, out, s.name)
		assert.Equal(t, 10*time.Second, m.Duration, "segment %d: meta duration is the segment's length, so segments compare", i)
		assert.InDelta(t, 100, m.Scheduled, 1, "segment %d: meta starts scheduled (the one due at a boundary falls on either side)", i)
	}
	_, err = os.Stat(filepath.Join(out, "TestSegments_stats.csv"))
	assert.ErrorIs(t, err, os.ErrNotExist, "no whole-run file beside the segments'")
}

// TestOneSegment: a run not cut keeps its files' names.
func TestOneSegment(t *testing.T) {
	target := &fakeTarget{delay: 5 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Duration, sc.Window = 10, 5*time.Second, time.Second
	seg, tb, log, out := runSegments(t, sc, 0, false)
	require.NotNil(t, seg)
	assert.Empty(t, tb.messages())
	require.Len(t, log.segs, 1)
	assert.Equal(t, "TestOneSegment", log.segs[0].name)
	assert.True(t, log.segs[0].last)
	_, err := os.Stat(filepath.Join(out, "TestOneSegment_stats.csv"))
	assert.NoError(t, err)
}

// TestEndless: a run without end goes on until its context ends; every
// finished segment is written complete, the last partial one written as
// interrupted, and stopping it fails nothing.
func TestEndless(t *testing.T) {
	target := &fakeTarget{delay: 5 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Window = 10, time.Second
	seg, tb, log, out := runSegments(t, sc, 23*time.Second, false, "-loadtest.duration=0", "-loadtest.segment=5s")
	require.NotNil(t, seg, "no segment: %s", tb.messages())
	assert.Empty(t, tb.messages(), "stopping a run without end fails nothing")
	require.Len(t, log.segs, 5, "4 segments of 5 s, then the 3 s before the stop")
	for i, s := range log.segs[:4] {
		assert.Equal(t, result.Complete, s.status, "segment %d", i)
		assert.Equal(t, 5*time.Second, s.elapsed, "segment %d", i)
		assert.Equal(t, int64(50), s.requests, "segment %d", i)
	}
	last := log.segs[4]
	assert.True(t, last.last)
	assert.Equal(t, result.Interrupted, last.status, "the stopped segment")
	assert.Equal(t, 3*time.Second, last.elapsed, "the stopped segment's length")
	assert.Equal(t, result.Interrupted, readMeta(t, out, last.name).Status, "its meta file")
	assert.Contains(t, tb.logText(), "at most 100 in flight, until stopped, judged every 5s against http://target.test", "the first line says how the run goes")
}

// TestEndlessMemoryFlat: hours of a run without end keep one segment's
// measurements: the heap after segment 300 is within a few hundred kB of
// the heap after segment 20.
func TestEndlessMemoryFlat(t *testing.T) {
	target := &fakeTarget{delay: time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Tasks = []Task{getTask("GET /a", "/a", 1), getTask("GET /b", "/b", 1), getTask("GET /c", "/c", 1)}
	sc.Rate, sc.Window = 20, 100*time.Millisecond
	_, tb, log, _ := runSegments(t, sc, 300*time.Second+50*time.Millisecond, true, "-loadtest.duration=0", "-loadtest.segment=1s")
	assert.Empty(t, tb.messages())
	require.Greater(t, len(log.segs), 300, "segments")
	early, late := log.segs[20].heap, log.segs[300].heap
	t.Logf("heap in use after segment 20: %d kB, after segment 300: %d kB", early/1024, late/1024)
	// Keeping each segment's window rows (10 windows of 4 rows) grows the
	// heap by some 3 MB over these 280 segments; the bound leaves room for
	// the heap's page-sized noise, which the race detector makes larger.
	assert.Less(t, int64(late)-int64(early), int64(512<<10), "heap growth from segment 20 to 300")
	for i, s := range log.segs[:300] {
		if !assert.Equal(t, 10, s.windows, "segment %d: windows kept", i) {
			break
		}
	}
}

// TestSegmentSettings: a segment must be whole windows, at least three,
// and a run without end cannot live under go test's -timeout.
func TestSegmentSettings(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-loadtest.segment=2500ms", "-loadtest.window=1s", "-loadtest.duration=1m"}, "segment 2.5s: must be a whole number of windows (1s), at least 3"},
		{[]string{"-loadtest.segment=2s", "-loadtest.window=1s", "-loadtest.duration=1m"}, "segment 2s: must be a whole number of windows (1s), at least 3"},
		{[]string{"-loadtest.segment=-1s"}, "-loadtest.segment=-1s: must be positive"},
		{[]string{"-loadtest.duration=-1s"}, "-loadtest.duration=-1s: must be positive, or 0 for a run without end"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			target := &fakeTarget{}
			sc := fakeScenario(t, target)
			sc.Rate = 10
			fs := newFlagSet()
			fl := newFlags(fs)
			require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + t.TempDir()}, tt.args...)))
			tb := newCaptureTB(t)
			runWith(tb, sc, runOptions{flags: fl})
			assert.Contains(t, tb.messages(), tt.want)
			assert.Zero(t, target.total.Load(), "requests sent")
		})
	}
	t.Run("timeout", func(t *testing.T) {
		target := &fakeTarget{}
		sc := fakeScenario(t, target)
		sc.Rate, sc.Duration = 10, Endless
		fl := newFlags(newFlagSet())
		tb := newCaptureTB(t)
		tb.deadline = time.Now().Add(10 * time.Minute)
		runWith(tb, sc, runOptions{flags: fl})
		assert.Contains(t, tb.messages(), "a run without end (-loadtest.duration=0) goes on until it is stopped, but go test's -timeout ends it in 10m0s: run with -timeout=0")
		assert.Zero(t, target.total.Load(), "requests sent")
	})
}

// endlessChildEnv names the output folder of TestEndlessChild, run only as
// a child process of TestEndlessStoppedBySignal.
const endlessChildEnv = "STEADYLOAD_ENDLESS_CHILD"

// TestEndlessChild is the run TestEndlessStoppedBySignal stops: a run
// without end through the public Run, cut every 600 ms.
func TestEndlessChild(t *testing.T) {
	if os.Getenv(endlessChildEnv) == "" {
		t.Skip("the child process of TestEndlessStoppedBySignal")
	}
	Run(t, Scenario{
		Host: startFaultOK(t), Rate: 20, Duration: Endless, Segment: 600 * time.Millisecond, Window: 200 * time.Millisecond,
		Tasks: []Task{getTask("GET /x", "/x", 1)}, LateTolerance: 100 * time.Millisecond, MaxLateRatio: 0.5,
	})
}

// TestEndlessStoppedBySignal runs a run without end in a child process,
// stops it with SIGTERM once two segments are written, and checks that
// the test passed and every segment's files are whole: the finished ones
// complete, the last one interrupted.
func TestEndlessStoppedBySignal(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEndlessChild$", "-test.v", "-test.count=1", "-test.timeout=0", "-loadtest.out="+out)
	cmd.Env = append(os.Environ(), endlessChildEnv+"="+out)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = cmd.Stdout
	require.NoError(t, cmd.Start())
	defer cmd.Process.Kill()
	var log bytes.Buffer
	written := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		n := 0
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "loadtest: results written to") {
				if n++; n == 2 {
					close(written)
				}
			}
		}
	}()
	select {
	case <-written:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-readDone
		t.Fatalf("the child wrote no two segments:\n%s", log.String())
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	waited := make(chan error, 1)
	go func() { <-readDone; waited <- cmd.Wait() }()
	select {
	case err = <-waited:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("the child did not stop after SIGTERM:\n%s", log.String())
	}
	require.NoError(t, err, "a run without end stopped by SIGTERM passes:\n%s", log.String())
	metas, err := filepath.Glob(filepath.Join(out, "TestEndlessChild_*_meta.csv"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(metas), 3, "segments written: two or more finished, and the stopped one")
	sort.Strings(metas)
	for i, path := range metas {
		name := strings.TrimSuffix(filepath.Base(path), "_meta.csv")
		m := readMeta(t, out, name)
		want := result.Complete
		if i == len(metas)-1 {
			want = result.Interrupted
		}
		assert.Equal(t, want, m.Status, "%s: status", name)
		stats, _, _ := result.Files(out, name)
		b, err := os.ReadFile(stats)
		if assert.NoError(t, err, "%s: stats", name) {
			assert.Contains(t, string(b), ",Aggregated,", "%s: stats", name)
		}
	}
}

// TestEndlessStopInGrace: a segment boundary that falls in the grace
// period after a stop, while tasks that ignore their context run on, is
// not cut: the windows of the grace belong to the last segment, and no
// segment is of negative length or complete past the stop.
func TestEndlessStopInGrace(t *testing.T) {
	sc := Scenario{
		Host: "http://target.test", Transport: &fakeTarget{delay: 5 * time.Millisecond}, Seed: 1,
		Rate: 10, Window: time.Second, Grace: 3 * time.Second,
		Tasks: []Task{{Name: "slow", Do: func(ctx context.Context, u *User) error {
			time.Sleep(3 * time.Second) // ignores its context
			return nil
		}}},
	}
	seg, tb, log, _ := runSegments(t, sc, 24*time.Second, true, "-loadtest.duration=0", "-loadtest.segment=5s")
	require.NotNil(t, seg, tb.messages())
	var elapsed time.Duration
	for i, s := range log.segs {
		assert.GreaterOrEqual(t, s.elapsed, time.Duration(0), "segment %d: elapsed", i)
		if !s.last {
			assert.Equal(t, result.Complete, s.status, "segment %d", i)
		}
		elapsed += s.elapsed
	}
	if assert.Len(t, log.segs, 5, "segments: 4 of 5 s, then the 4 s before the stop") {
		assert.Equal(t, 4*time.Second, log.segs[4].elapsed, "the last segment: up to the stop at 24 s")
		assert.Equal(t, result.Interrupted, log.segs[4].status)
	}
	assert.Equal(t, 24*time.Second, elapsed, "the segments cover the load, no more")
}
