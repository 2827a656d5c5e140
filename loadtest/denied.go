package loadtest

import (
	"github.com/steadyload/steadyload/internal/procstat"
	"github.com/steadyload/steadyload/loadtest/result"
)

// deniedCPU records in meta the CPU the generator was denied since the
// sample from, as the kernel counted it, and returns the sample it ended
// with: the next segment's start. The kernel's figures are left unknown
// when its clock saw less than half of the segment's length (meta.Elapsed)
// go by: they then describe a stretch other than the segment's (a run in
// fake time, whose segments pass in moments).
func deniedCPU(meta *result.Meta, from procstat.Sample) procstat.Sample {
	now := procstat.Read()
	d := now.Sub(from)
	if d.Elapsed <= 0 || 2*d.Elapsed < meta.Elapsed {
		return now
	}
	meta.CPUWait = result.ShareOf(d.WaitShare())
	meta.CPUPressure = result.ShareOf(d.CPUPressure())
	meta.Steal = result.ShareOf(d.StealShare())
	meta.Throttled = result.ShareOf(d.ThrottledShare())
	return now
}
