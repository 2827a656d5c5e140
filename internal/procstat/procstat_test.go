package procstat

import (
	"math"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
)

func known(n uint64) Counter { return Counter{N: n, Known: true} }

// TestReadThisMachine reads files copied from a 2-core machine with a
// hybrid cgroup hierarchy (v1 controllers, v2 at /sys/fs/cgroup/unified,
// the process in the root cgroup), sampled 2.5 s apart while CPU hogs ran.
func TestReadThisMachine(t *testing.T) {
	before := ReadFS(os.DirFS("testdata/thismachine/before"), 10*time.Second)
	after := ReadFS(os.DirFS("testdata/thismachine/after"), 12500*time.Millisecond)
	want := Sample{
		Clock:          10 * time.Second,
		Pressure:       known(68225420),
		CgroupPressure: known(68341730),
		Steal:          known(0),
		Busy:           known(12476 + 7740 + 75536 + 269 + 172),
		// The root cgroup has no quota: no nr_periods in its cpu.stat.
	}
	assert.Equal(t, want, before, "ReadFS(before)")

	d := after.Sub(before)
	assert.Equal(t, 2500*time.Millisecond, d.Elapsed, "Elapsed")
	assert.Equal(t, known(70797529-68341730), d.CgroupPressure, "CgroupPressure")
	assert.Equal(t, known(70659061-68225420), d.Pressure, "Pressure")
	assert.Equal(t, known((12818-12476)+(7886-7740)), d.Busy, "Busy")
	assert.InDelta(t, float64(70797529-68341730)/2.5e6, d.CPUPressure(), 1e-9, "CPUPressure(): the cgroup's")
	assert.InDelta(t, float64(70659061-68225420)/2.5e6, d.MachineCPUPressure(), 1e-9, "MachineCPUPressure()")
	assert.Equal(t, 0.0, d.StealShare(), "StealShare()")
	assert.True(t, math.IsNaN(d.ThrottledShare()), "ThrottledShare() = %v; want NaN without a quota", d.ThrottledShare())
}

// TestReadLive reads this process's counters: whatever the system, it
// neither fails nor panics, and a sample's counters never go backwards.
func TestReadLive(t *testing.T) {
	a := Read()
	b := Read()
	d := b.Sub(a)
	assert.GreaterOrEqual(t, b.Clock, a.Clock, "Clock went backwards")
	for name, c := range map[string][2]Counter{"Pressure": {a.Pressure, d.Pressure}, "Steal": {a.Steal, d.Steal}, "Busy": {a.Busy, d.Busy}} {
		assert.Equal(t, c[0].Known, c[1].Known, "%s: known in a sample (%v) but not in the delta (%v)", name, c[0], c[1])
	}
	t.Logf("sample: %+v", a)
}

const (
	statLine   = "cpu  100 0 50 800 10 0 5 35 0 0\ncpu0 50 0 25 400 5 0 2 18 0 0\nintr 1 2 3\n"
	statLine2  = "cpu  200 0 100 1500 10 0 10 85 7 0\ncpu0 100 0 50 750 5 0 5 42 3 0\nintr 1 2 3\n"
	psiLine    = "some avg10=1.00 avg60=0.50 avg300=0.10 total=1000000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	psiLine2   = "some avg10=1.00 avg60=0.50 avg300=0.10 total=1500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
	mountV2    = "30 22 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
	mountV1    = "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:5 - cgroup cgroup rw,cpu,cpuacct\n"
	cpuStatV2  = "usage_usec 5000000\nuser_usec 4000000\nsystem_usec 1000000\nnr_periods 100\nnr_throttled 10\nthrottled_usec 250000\nnr_bursts 0\nburst_usec 0\n"
	cpuStatV2b = "usage_usec 6000000\nuser_usec 4800000\nsystem_usec 1200000\nnr_periods 300\nnr_throttled 60\nthrottled_usec 900000\nnr_bursts 0\nburst_usec 0\n"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// TestReadFS: the counters of the systems the harness meets, and of files
// that are absent or do not read as the kernel writes them — never an
// error, only unknown counters.
func TestReadFS(t *testing.T) {
	container := fstest.MapFS{
		"proc/stat":                  file(statLine),
		"proc/pressure/cpu":          file(psiLine),
		"proc/self/cgroup":           file("0::/\n"),
		"proc/self/mountinfo":        file("22 1 0:21 / / rw - overlay overlay rw\n" + mountV2),
		"sys/fs/cgroup/cpu.pressure": file(psiLine2),
		"sys/fs/cgroup/cpu.stat":     file(cpuStatV2),
		"proc/self/task/7/schedstat": file("3000 1000 4\n"),
		"proc/self/task/9/schedstat": file("500 250 2\n"),
	}
	full := Sample{Clock: time.Second, Pressure: known(1000000), CgroupPressure: known(1500000), Steal: known(35), Busy: known(1000),
		Periods: known(100), Throttled: known(10), ThrottledTime: known(250000)}
	fullThreads := full
	fullThreads.OnCPU, fullThreads.Waited = known(3500), known(1250)
	machine := Sample{Clock: time.Second, Pressure: known(1000000), Steal: known(35), Busy: known(1000)}
	tests := []struct {
		name string
		fs   fstest.MapFS
		want Sample
	}{
		{"container, cgroup v2 with a quota", container, fullThreads},
		{"a thread's schedstat garbled", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/task/7/schedstat": file("3000 1000 4\n"), "proc/self/task/9/schedstat": file("500 x 2\n"),
		}, machine},
		{"a thread ended while read", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/task/7/schedstat": file("3000 1000 4\n"), "proc/self/task/9/status": file("gone\n"),
		}, Sample{Clock: time.Second, Pressure: known(1000000), Steal: known(35), Busy: known(1000), OnCPU: known(3000), Waited: known(1000)}},
		{"nothing", fstest.MapFS{}, Sample{Clock: time.Second}},
		{"a systemd service, cgroup v2", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/cgroup":    file("0::/system.slice/ci.service\n"),
			"proc/self/mountinfo": file(mountV2),
			"sys/fs/cgroup/system.slice/ci.service/cpu.pressure": file(psiLine2),
			"sys/fs/cgroup/system.slice/ci.service/cpu.stat":     file(cpuStatV2),
			"sys/fs/cgroup/cpu.stat":                             file("nr_periods 7\nnr_throttled 7\n"),
		}, full},
		{"cgroup v1 only", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/cgroup":                   file("12:pids:/docker/abc\n4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n"),
			"proc/self/mountinfo":                file(mountV1),
			"sys/fs/cgroup/cpu,cpuacct/cpu.stat": file("nr_periods 100\nnr_throttled 10\nthrottled_time 250000000\n"),
		}, machine},
		{"hybrid: v2 mounted under unified, a space escaped in its mount point", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/cgroup":                        file("4:cpu:/\n0::/a b\n"),
			"proc/self/mountinfo":                     file(mountV1 + `40 30 0:37 / /sys/fs/cgroup/uni\040fied rw,relatime - cgroup2 cgroup2 rw` + "\n"),
			"sys/fs/cgroup/uni fied/a b/cpu.pressure": file(psiLine2),
			"sys/fs/cgroup/uni fied/a b/cpu.stat":     file(cpuStatV2),
		}, full},
		{"the cgroup outside the mount's root", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/cgroup":           file("0::/other\n"),
			"proc/self/mountinfo":        file("30 22 0:27 /mine /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n"),
			"sys/fs/cgroup/cpu.pressure": file(psiLine2),
		}, machine},
		{"a kernel without PSI", fstest.MapFS{
			"proc/stat": file(statLine), "proc/self/cgroup": file("0::/\n"), "proc/self/mountinfo": file(mountV2),
			"sys/fs/cgroup/cpu.stat": file(cpuStatV2),
		}, Sample{Clock: time.Second, Steal: known(35), Busy: known(1000), Periods: known(100), Throttled: known(10), ThrottledTime: known(250000)}},
		{"garbage", fstest.MapFS{
			"proc/stat":                  file("cpu  100 0 x 800 10 0 5 35 0 0\n"),
			"proc/pressure/cpu":          file("some avg10=1.00 avg60=0.50 avg300=0.10 total=-5\n"),
			"proc/self/cgroup":           file("0::/\n"),
			"proc/self/mountinfo":        file(mountV2),
			"sys/fs/cgroup/cpu.pressure": file("some total=5\n"),
			"sys/fs/cgroup/cpu.stat":     file("nr_periods 100\nnr_throttled\n"),
		}, Sample{Clock: time.Second}},
		{"a short stat line, a pressure file without its total", fstest.MapFS{
			"proc/stat":         file("cpu  100 0 50 800\n"),
			"proc/pressure/cpu": file("some avg10=1.00 avg60=0.50 avg300=0.10 sum=5\n"),
		}, Sample{Clock: time.Second}},
		{"mountinfo cut short", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/cgroup":           file("0::/\n"),
			"proc/self/mountinfo":        file("30 22 0:27 / /sys/fs/cgroup rw -\n"),
			"sys/fs/cgroup/cpu.pressure": file(psiLine2),
		}, machine},
		{"a path that leaves the root", fstest.MapFS{
			"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
			"proc/self/cgroup":    file("0::/../../etc\n"),
			"proc/self/mountinfo": file(mountV2),
		}, machine},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, ReadFS(tt.fs, time.Second), "ReadFS(%s)", tt.name)
		})
	}
}

// TestSub: the shares of a segment, and unknown ones where a sample
// lacks a counter or a counter went backwards.
func TestSub(t *testing.T) {
	a := ReadFS(fstest.MapFS{
		"proc/stat": file(statLine), "proc/pressure/cpu": file(psiLine),
		"proc/self/cgroup": file("0::/\n"), "proc/self/mountinfo": file(mountV2),
		"sys/fs/cgroup/cpu.pressure": file(psiLine), "sys/fs/cgroup/cpu.stat": file(cpuStatV2),
	}, 10*time.Second)
	b := ReadFS(fstest.MapFS{
		"proc/stat": file(statLine2), "proc/pressure/cpu": file(psiLine2),
		"proc/self/cgroup": file("0::/\n"), "proc/self/mountinfo": file(mountV2),
		"sys/fs/cgroup/cpu.pressure": file(psiLine2), "sys/fs/cgroup/cpu.stat": file(cpuStatV2b),
	}, 12*time.Second)
	nan := math.NaN()
	tests := []struct {
		name                               string
		from, to                           Sample
		pressure, machine, steal, throttle float64
	}{
		{"2 s of a throttled container", a, b, 0.25, 0.25, 50.0 / 905, 50.0 / 200},
		{"no time passed", a, a, nan, nan, nan, 0},
		{"backwards", b, a, nan, nan, nan, nan},
		{"nothing known", Sample{}, Sample{Clock: time.Second}, nan, nan, nan, nan},
		{"the cgroup's counters lost", a, Sample{Clock: 12 * time.Second, Pressure: b.Pressure, Steal: b.Steal, Busy: b.Busy}, 0.25, 0.25, 50.0 / 905, nan},
	}
	same := func(want, got float64) bool {
		return math.IsNaN(want) && math.IsNaN(got) || math.Abs(want-got) < 1e-12
	}
	w := Sample{Clock: time.Second, OnCPU: known(1000), Waited: known(500)}
	w2 := Sample{Clock: 2 * time.Second, OnCPU: known(1300), Waited: known(1200)}
	assert.InDelta(t, 0.7, w2.Sub(w).WaitShare(), 1e-12, "WaitShare(): 700 ns waited, 300 ns ran")
	assert.True(t, math.IsNaN(w.Sub(w).WaitShare()), "WaitShare() of nothing run")
	assert.True(t, math.IsNaN(w.Sub(w2).WaitShare()), "WaitShare() of counters gone backwards")
	for _, tt := range tests {
		d := tt.to.Sub(tt.from)
		got := []float64{d.CPUPressure(), d.MachineCPUPressure(), d.StealShare(), d.ThrottledShare()}
		want := []float64{tt.pressure, tt.machine, tt.steal, tt.throttle}
		for i, name := range []string{"CPUPressure", "MachineCPUPressure", "StealShare", "ThrottledShare"} {
			assert.True(t, same(want[i], got[i]), "%s: Sub(…).%s() = %v; want %v", tt.name, name, got[i], want[i])
		}
	}
}
