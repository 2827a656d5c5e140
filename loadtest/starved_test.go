package loadtest

import (
	"fmt"
	"net/http/httptest"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/procstat"
	"github.com/steadyload/steadyload/internal/runcheck"
	"github.com/steadyload/steadyload/loadtest/result"
)

// startCPUHog starts NumCPU+1 shell loops that spin until the test ends.
func startCPUHog(t *testing.T) {
	t.Helper()
	for range runtime.NumCPU() + 1 {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		require.NoError(t, cmd.Start(), "start a CPU hog")
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
}

// TestGateStarvedByCPUHog records a small baseline of a scenario against
// an in-process lognormal server, then runs the same scenario unchanged
// while CPU hogs spin on every core of the machine: no run may FAIL the
// gate, and each whose generator the kernel saw starved next to the
// baseline must give no verdict, saying so. The counts are logged.
func TestGateStarvedByCPUHog(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the CPU hog test takes about a minute")
	}
	if s := procstat.Read(); !s.Waited.Known && !s.Pressure.Known && !s.CgroupPressure.Known {
		t.Skip("the kernel reports neither this process's CPU wait (schedstat) nor the CPU pressure (PSI) here")
	}
	root := t.TempDir()
	dir := baseline.Dir(root, "e2e", t.Name())
	srv, _ := lognormalServer(t, 21, unchanged)
	const k = 3
	for range k {
		_, tb, _ := runGate(t, starvedScenario(srv, root), "-loadtest.update")
		require.Empty(t, tb.messages(), "recording a baseline run")
	}
	runs, err := baseline.Load(dir)
	require.NoError(t, err)
	var base []result.Meta
	for _, b := range runs {
		base = append(base, b.Meta)
		t.Logf("baseline run %s: cpu wait %s%%, cpu pressure %s%%, steal %s%%, throttled %s%%, start lag p99 %s", b.Name, b.Meta.CPUWait, b.Meta.CPUPressure, b.Meta.Steal, b.Meta.Throttled, b.Meta.LagP99)
		assert.True(t, b.Meta.CPUWait.Known || b.Meta.CPUPressure.Known, "baseline run %s: the CPU its generator was denied recorded", b.Name)
	}

	startCPUHog(t)
	const n = 6
	var fails, starved, pressured, unjudged int
	var lines []string
	for i := range n {
		res, tb, _ := runGate(t, starvedScenario(srv, root))
		m := res.Run.Meta
		why := runcheck.Starved(m, base)
		if len(why) > 0 {
			pressured++
		}
		var verdicts []string
		failed := false
		for _, row := range res.Gate.Rows {
			if row.Metric == gate.P95 {
				verdicts = append(verdicts, fmt.Sprintf("%s p95 %+.0f%% %s", row.Task, 100*row.Delta, row.Verdict))
			}
			failed = failed || row.Verdict == gate.Regressed
		}
		assert.NotContains(t, tb.messages(), "baseline gate:", "run %d under the hog: the gate failed", i+1)
		switch {
		case failed || strings.Contains(tb.messages(), "baseline gate:"):
			fails++
		case strings.HasPrefix(res.Gate.Note, "NO VERDICT: the generator was starved"):
			starved++
		case strings.HasPrefix(res.Gate.Note, "NO VERDICT"):
			unjudged++
		}
		if len(why) > 0 && m.Starved == 0 {
			assert.True(t, strings.HasPrefix(res.Gate.Note, "NO VERDICT: the generator was starved ("), "run %d: kernel saw %s; gate note %q", i+1, why, res.Gate.Note)
			assert.Contains(t, tb.logText(), "warning: baseline gate: NO VERDICT: the generator was starved", "run %d: the log's warning", i+1)
		}
		lines = append(lines, fmt.Sprintf("run %d: cpu wait %s%%, cpu pressure %s%%, start lag p99 %s, starved windows %d: %s; %s", i+1,
			m.CPUWait, m.CPUPressure, m.LagP99.Round(100*time.Microsecond), m.Starved, strings.Join(verdicts, ", "), firstLine(res.Gate.Note)))
	}
	t.Logf("under a CPU hog of %d spinning shells on %d CPUs, %d unchanged runs: %d FAIL, %d no verdict (starved by the kernel's figures), %d no verdict (starved windows), %d the kernel's figures called starved\n%s",
		runtime.NumCPU()+1, runtime.NumCPU(), n, fails, starved, unjudged, pressured, strings.Join(lines, "\n"))
	assert.Zero(t, fails, "runs that FAILED the gate under the hog")
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// starvedScenario is the gate's end-to-end scenario at 200/s, with the
// starved rule in force.
func starvedScenario(srv *httptest.Server, root string) Scenario {
	sc := gateScenario(srv, root, 200)
	sc.Gate.JudgeStarved = false
	return sc
}
