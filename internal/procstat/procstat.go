package procstat

import (
	"bufio"
	"bytes"
	"io"
	"io/fs"
	"math"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Counter is a cumulative kernel counter: its value, and whether it was
// read at all.
type Counter struct {
	N     uint64
	Known bool
}

// Sample is the kernel's CPU accounting at one moment. Each counter is
// unknown when its file is absent or unreadable.
type Sample struct {
	// Clock is the kernel's monotonic clock (CLOCK_MONOTONIC) when the
	// sample was taken: the time the pressures are shares of.
	Clock time.Duration

	// Pressure is the "some" total of /proc/pressure/cpu: microseconds
	// in which at least one task of the machine waited for a CPU.
	Pressure Counter
	// CgroupPressure is the same for the tasks of the process's cgroup
	// (cgroup v2 cpu.pressure).
	CgroupPressure Counter

	// Steal and Busy are jiffies summed over all CPUs from the "cpu"
	// line of /proc/stat: those stolen by the hypervisor, and all of
	// them (user, nice, system, idle, iowait, irq, softirq, steal).
	Steal, Busy Counter

	// OnCPU and Waited are the time the process's threads ran on a CPU
	// and waited for one while runnable, in nanoseconds, summed over its
	// threads' schedstat (proc/self/task/*/schedstat): the CPU this
	// process itself was denied, whatever the machine's pressure.
	OnCPU, Waited Counter

	// Periods, Throttled and ThrottledTime are the cgroup v2 cpu.stat's
	// nr_periods, nr_throttled and throttled_usec of the process's own
	// cgroup: quota periods, those in which the cgroup was throttled, and
	// the time it spent throttled. Unknown without a CPU quota's
	// accounting (the root cgroup, cgroup v1).
	Periods, Throttled, ThrottledTime Counter
}

// Read samples the kernel's counters of this process now.
func Read() Sample {
	return ReadFS(os.DirFS("/"), monotonic())
}

// ReadFS samples the counters found in fsys, a file system laid out as
// the root one (proc/stat, proc/pressure/cpu, proc/self/cgroup,
// proc/self/mountinfo and the cgroup v2 mount), at the monotonic time
// clock.
func ReadFS(fsys fs.FS, clock time.Duration) Sample {
	s := Sample{Clock: clock}
	s.Pressure = pressureSome(fsys, "proc/pressure/cpu")
	s.Steal, s.Busy = cpuStat(fsys)
	s.OnCPU, s.Waited = schedStat(fsys)
	if dir, ok := cgroupDir(fsys); ok {
		s.CgroupPressure = pressureSome(fsys, path.Join(dir, "cpu.pressure"))
		kv := keyValues(fsys, path.Join(dir, "cpu.stat"))
		s.Periods, s.Throttled, s.ThrottledTime = kv["nr_periods"], kv["nr_throttled"], kv["throttled_usec"]
	}
	return s
}

// monotonic reads CLOCK_MONOTONIC from the kernel itself: the time.Now
// of a synctest bubble is not the time the kernel counts in.
func monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Delta is what the kernel counted between two samples.
type Delta struct {
	Elapsed time.Duration // between the samples, 0 when unknown

	// The counters' growth between the samples; unknown when either
	// sample lacks the counter or it went backwards (a counter reset,
	// the process moved to another cgroup).
	Pressure, CgroupPressure, Steal, Busy, OnCPU, Waited, Periods, Throttled, ThrottledTime Counter
}

// Sub returns what the kernel counted from the sample from to s.
func (s Sample) Sub(from Sample) Delta {
	d := Delta{
		Pressure:       sub(s.Pressure, from.Pressure),
		CgroupPressure: sub(s.CgroupPressure, from.CgroupPressure),
		Steal:          sub(s.Steal, from.Steal),
		Busy:           sub(s.Busy, from.Busy),
		OnCPU:          sub(s.OnCPU, from.OnCPU),
		Waited:         sub(s.Waited, from.Waited),
		Periods:        sub(s.Periods, from.Periods),
		Throttled:      sub(s.Throttled, from.Throttled),
		ThrottledTime:  sub(s.ThrottledTime, from.ThrottledTime),
	}
	if s.Clock > from.Clock && from.Clock > 0 {
		d.Elapsed = s.Clock - from.Clock
	}
	return d
}

func sub(b, a Counter) Counter {
	if !a.Known || !b.Known || b.N < a.N {
		return Counter{}
	}
	return Counter{N: b.N - a.N, Known: true}
}

// CPUPressure is the share of the time, from 0 to 1, in which a task of the
// process's cgroup waited for a CPU — of the machine when the cgroup's
// pressure is not known; NaN when neither is.
func (d Delta) CPUPressure() float64 {
	if d.CgroupPressure.Known {
		return d.share(d.CgroupPressure)
	}
	return d.share(d.Pressure)
}

// MachineCPUPressure is the share of the time in which a task of the machine
// waited for a CPU; NaN when not known.
func (d Delta) MachineCPUPressure() float64 { return d.share(d.Pressure) }

func (d Delta) share(c Counter) float64 {
	if !c.Known || d.Elapsed <= 0 {
		return math.NaN()
	}
	return min(1, float64(c.N)/float64(d.Elapsed.Microseconds()))
}

// WaitShare is the share of the process's runnable time, from 0 to 1, in
// which it waited for a CPU: 0.5 when its threads waited as long as they
// ran. NaN when not known or when it did not run. A thread that ended
// between the samples takes its time with it, and can leave this unknown.
func (d Delta) WaitShare() float64 {
	if !d.OnCPU.Known || !d.Waited.Known || d.OnCPU.N+d.Waited.N == 0 {
		return math.NaN()
	}
	return float64(d.Waited.N) / float64(d.OnCPU.N+d.Waited.N)
}

// StealShare is the share of the machine's CPU time, from 0 to 1, that
// the hypervisor gave to others; NaN when not known or when no time was
// counted.
func (d Delta) StealShare() float64 {
	if !d.Steal.Known || !d.Busy.Known || d.Busy.N == 0 {
		return math.NaN()
	}
	return min(1, float64(d.Steal.N)/float64(d.Busy.N))
}

// ThrottledShare is the share of the cgroup's CPU quota periods, from 0
// to 1, in which it was throttled: 0 when no period ran (no quota), NaN
// when not known.
func (d Delta) ThrottledShare() float64 {
	switch {
	case !d.Periods.Known || !d.Throttled.Known:
		return math.NaN()
	case d.Periods.N == 0:
		return 0
	}
	return min(1, float64(d.Throttled.N)/float64(d.Periods.N))
}

// maxFile is the most of a file read: the kernel's files here are a few
// hundred bytes, /proc/stat a few kilobytes per CPU.
const maxFile = 1 << 20

func readFile(fsys fs.FS, name string) []byte {
	f, err := fsys.Open(name)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil || len(b) > maxFile {
		return nil
	}
	return b
}

// pressureSome reads the "some" line of a PSI file:
//
//	some avg10=0.00 avg60=0.00 avg300=0.00 total=12345
func pressureSome(fsys fs.FS, name string) Counter {
	for line := range strings.Lines(string(readFile(fsys, name))) {
		f := strings.Fields(line)
		if len(f) != 5 || f[0] != "some" {
			continue
		}
		v, ok := strings.CutPrefix(f[4], "total=")
		if !ok {
			return Counter{}
		}
		return number(v)
	}
	return Counter{}
}

// cpuStat reads the first line of /proc/stat, the sum over all CPUs:
//
//	cpu  user nice system idle iowait irq softirq steal guest guest_nice
//
// steal and the sum of the first eight (guest time is counted in user's
// already).
func cpuStat(fsys fs.FS) (steal, busy Counter) {
	sc := bufio.NewScanner(bytes.NewReader(readFile(fsys, "proc/stat")))
	if !sc.Scan() {
		return Counter{}, Counter{}
	}
	f := strings.Fields(sc.Text())
	if len(f) < 9 || f[0] != "cpu" {
		return Counter{}, Counter{}
	}
	var sum uint64
	for _, v := range f[1:9] {
		n := number(v)
		if !n.Known || sum+n.N < sum {
			return Counter{}, Counter{}
		}
		sum += n.N
	}
	return number(f[8]), Counter{N: sum, Known: true}
}

// schedStat sums the first two fields of each of the process's threads'
// schedstat, "run_ns wait_ns timeslices": time on a CPU, and waiting for
// one. A thread that ended while the directory was read is skipped; a
// file of another form leaves both unknown.
func schedStat(fsys fs.FS) (onCPU, waited Counter) {
	tasks, err := fs.ReadDir(fsys, "proc/self/task")
	if err != nil || len(tasks) == 0 {
		return Counter{}, Counter{}
	}
	var run, wait uint64
	read := 0
	for _, task := range tasks {
		b := readFile(fsys, path.Join("proc/self/task", task.Name(), "schedstat"))
		if b == nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) != 3 {
			return Counter{}, Counter{}
		}
		r, w := number(f[0]), number(f[1])
		if !r.Known || !w.Known {
			return Counter{}, Counter{}
		}
		run, wait, read = run+r.N, wait+w.N, read+1
	}
	if read == 0 {
		return Counter{}, Counter{}
	}
	return Counter{N: run, Known: true}, Counter{N: wait, Known: true}
}

// keyValues reads a flat keyed file such as cpu.stat, "key value" a
// line; a line of another form leaves the file unknown.
func keyValues(fsys fs.FS, name string) map[string]Counter {
	out := map[string]Counter{}
	for line := range strings.Lines(string(readFile(fsys, name))) {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil
		}
		n := number(f[1])
		if !n.Known {
			return nil
		}
		out[f[0]] = n
	}
	return out
}

func number(s string) Counter {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return Counter{}
	}
	return Counter{N: n, Known: true}
}

// cgroupDir finds the process's cgroup v2 directory in fsys: its path
// from the "0::" line of proc/self/cgroup, under the cgroup2 mount of
// proc/self/mountinfo. ok is false on a system without cgroup v2, or
// when the cgroup is not under the mount's root.
func cgroupDir(fsys fs.FS) (string, bool) {
	var cg string
	found := false
	for line := range strings.Lines(string(readFile(fsys, "proc/self/cgroup"))) {
		if p, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "0::"); ok {
			cg, found = p, true
			break
		}
	}
	if !found || !strings.HasPrefix(cg, "/") {
		return "", false
	}
	// mountinfo: id parent major:minor root mountpoint options [optional…] - fstype source superoptions
	for line := range strings.Lines(string(readFile(fsys, "proc/self/mountinfo"))) {
		f := strings.Fields(line)
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) || f[sep+1] != "cgroup2" {
			continue
		}
		root, mnt := unescape(f[3]), unescape(f[4])
		rel, ok := strings.CutPrefix(cg, root)
		if !ok || (root != "/" && rel != "" && !strings.HasPrefix(rel, "/")) {
			return "", false
		}
		dir := strings.TrimPrefix(path.Join(mnt, rel), "/")
		if !fs.ValidPath(dir) {
			return "", false
		}
		return dir, true
	}
	return "", false
}

// unescape undoes mountinfo's octal escapes of space, tab, newline and
// backslash ("\040").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
