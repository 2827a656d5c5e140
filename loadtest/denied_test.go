package loadtest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/internal/procstat"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestDeniedCPUOverTheSegment: the kernel's figures are recorded only
// when its clock saw the segment go by; a segment that passed in fake time
// gets none, as they would describe moments, not the segment.
func TestDeniedCPUOverTheSegment(t *testing.T) {
	from := procstat.Read()
	time.Sleep(50 * time.Millisecond)
	var probe result.Meta
	probe.Elapsed = 50 * time.Millisecond
	deniedCPU(&probe, from)
	if !probe.CPUPressure.Known && !probe.Steal.Known {
		t.Skip("the kernel gives neither CPU pressure nor steal time here")
	}
	for _, tt := range []struct {
		name    string
		elapsed time.Duration
		known   bool
	}{
		{"as long as the kernel saw", 50 * time.Millisecond, true},
		{"an hour in fake time", time.Hour, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			from := procstat.Read()
			time.Sleep(50 * time.Millisecond)
			m := result.Meta{Elapsed: tt.elapsed}
			deniedCPU(&m, from)
			assert.Equal(t, tt.known, m.CPUPressure.Known || m.Steal.Known, "kernel figures recorded")
		})
	}
}
