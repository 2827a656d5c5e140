package loadtest

import (
	"github.com/steadyload/steadyload/internal/procstat"
	"github.com/steadyload/steadyload/loadtest/result"
)

// deniedCPU records in meta the CPU the generator was denied since the
// sample from, as the kernel counted it, and returns the sample it ended
// with: the next segment's start.
func deniedCPU(meta *result.Meta, from procstat.Sample) procstat.Sample {
	now := procstat.Read()
	d := now.Sub(from)
	meta.CPUWait = result.ShareOf(d.WaitShare())
	meta.CPUPressure = result.ShareOf(d.CPUPressure())
	meta.Steal = result.ShareOf(d.StealShare())
	meta.Throttled = result.ShareOf(d.ThrottledShare())
	return now
}
