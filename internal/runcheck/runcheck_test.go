package runcheck

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/loadtest/result"
)

// TestHeldRate: the load fails to hold its rate when its late, waited
// and dropped starts are above the limit by more than chance explains.
func TestHeldRate(t *testing.T) {
	tests := []struct {
		scheduled, late, waited, dropped int64
		max                              float64
		want                             bool
	}{
		{30, 0, 0, 0, 0.01, true},
		{30, 1, 0, 0, 0.01, true},     // 3.3 %, but one in thirty: P(X ≥ 1) = 26 %
		{30, 3, 0, 0, 0.01, false},    // P(X ≥ 3) = 0.3 %
		{30, 0, 0, 3, 0.01, false},    // dropped count as well
		{30, 0, 3, 0, 0.01, false},    // and starts that waited for a slot
		{30, 1, 1, 1, 0.01, false},    // all three together
		{1000, 15, 0, 0, 0.01, true},  // P(X ≥ 15) = 8 %
		{1000, 20, 0, 0, 0.01, false}, // P(X ≥ 20) = 0.3 %
		{1000, 10, 0, 0, 0.01, true},  // at the limit
		{100, 1, 0, 0, 0, false},      // no late start allowed
		{0, 0, 0, 0, 0.01, true},
	}
	for _, tt := range tests {
		m := result.Meta{Model: "open", Scheduled: tt.scheduled, Late: tt.late, Waited: tt.waited, Dropped: tt.dropped}
		assert.Equal(t, tt.want, HeldRate(m, tt.max), "HeldRate(%d scheduled, %d late, %d waited, %d dropped, max %g)", tt.scheduled, tt.late, tt.waited, tt.dropped, tt.max)
	}
}

// TestBehind: the starts not made on time are told apart by whose doing
// they were, and the remedy follows.
func TestBehind(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, tt := range []struct {
		name                  string
		late, waited, dropped int64
		want                  string
	}{
		{"generator", 6, 0, 0, "the load was not held at 10/s: of 100 starts, 6 were more than 20ms late, the generator's (worst lag 150ms) (6.0% > 1%); lower the rate, or give the generator more CPU"},
		{"generator and never made", 5, 0, 1, "the load was not held at 10/s: of 101 starts, 5 were more than 20ms late, the generator's (worst lag 150ms), 1 was never made (5.9% > 1%); raise -loadtest.max-in-flight, lower the rate, or give the generator more CPU"},
		{"target", 0, 40, 5, "the load was not held at 10/s: of 105 starts, 40 were more than 20ms late for a slot, every one of the 2 taken by a task in flight, 5 were never made (42.9% > 1%); the target answered too slowly for the rate (its latencies show it); raise -loadtest.max-in-flight if it is meant to"},
		{"both", 1, 10, 0, "the load was not held at 10/s: of 100 starts, 1 was more than 20ms late, the generator's (worst lag 150ms), 10 were more than 20ms late for a slot, every one of the 2 taken by a task in flight (11.0% > 1%); raise -loadtest.max-in-flight, lower the rate, or give the generator more CPU"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := result.Meta{Status: result.Complete, Model: "open", Rate: 10, MaxInFlight: 2, Coalesce: ms(10), MaxLag: ms(150),
				Scheduled: 100, Late: tt.late, Waited: tt.waited, Dropped: tt.dropped}
			total := &result.Task{Name: result.AggregateName, Requests: 100}
			got := Check(&result.Run{Meta: m, Total: total}, Config{MaxFailureRatio: 0.01, MaxLateRatio: 0.01, LateTolerance: ms(10)})
			assert.Equal(t, []string{tt.want}, got)
		})
	}
}

// TestStarved: the generator is starved next to its baseline when a CPU
// share it was denied, or its p99 start lag, is much worse than the
// baseline runs' median, by both the rise and the ratio of the rule.
func TestStarved(t *testing.T) {
	pct := func(p float64) result.Share { return result.Share{Pct: p, Known: true} }
	ms := func(f float64) time.Duration { return time.Duration(f * float64(time.Millisecond)) }
	open := func(pressure result.Share, lag time.Duration) result.Meta {
		return result.Meta{Model: "open", CPUPressure: pressure, LagP99: lag}
	}
	quiet := []result.Meta{open(pct(1), ms(0.4)), open(pct(2), ms(1.2)), open(pct(3), ms(2.5))}
	tests := []struct {
		name string
		cur  result.Meta
		base []result.Meta
		want []string
	}{
		{"as in the baseline", open(pct(2.5), ms(1.5)), quiet, nil},
		{"pressure and lag both much worse", open(pct(38), ms(9.1)), quiet,
			[]string{"cpu pressure 38% vs 2% in the baseline", "start lag p99 9.1 ms vs 1.2 ms"}},
		{"pressure at the rule's edge: +10 points", open(pct(12), ms(1)), quiet, []string{"cpu pressure 12% vs 2% in the baseline"}},
		{"pressure just under: +9.99 points", open(pct(11.99), ms(1)), quiet, nil},
		{"a busy baseline: +10 points but ×1.17", open(pct(70), 0), []result.Meta{open(pct(60), 0)}, nil},
		{"a busy baseline: ×1.5 and +30 points", open(pct(90), 0), []result.Meta{open(pct(60), 0)}, []string{"cpu pressure 90% vs 60% in the baseline"}},
		{"near the top: 8.5% of the time on a CPU, 17% in the baseline", result.Meta{CPUWait: pct(91.5)}, []result.Meta{{CPUWait: pct(83)}}, []string{"cpu wait 91.5% vs 83% in the baseline"}},
		{"near the top: 9.08% on a CPU, 15.82% in the baseline", result.Meta{CPUWait: pct(90.92)}, []result.Meta{{CPUWait: pct(84.18)}}, nil},
		{"at the top: +1.5 points, 0.5% on a CPU, 2% in the baseline", result.Meta{CPUWait: pct(99.5)}, []result.Meta{{CPUWait: pct(98)}}, nil},
		{"the machine's pressure saturated: not near the top", open(pct(99.31), 0), []result.Meta{open(pct(95.1), 0)}, nil},
		{"the median, not one noisy baseline run", open(pct(30), 0), []result.Meta{open(pct(2), 0), open(pct(3), 0), open(pct(40), 0)}, []string{"cpu pressure 30% vs 3% in the baseline"}},
		{"lag ×4 but only +3.6 ms", open(pct(2), ms(4.8)), quiet, nil},
		{"lag +5 ms and ×5.2", open(pct(2), ms(6.2)), quiet, []string{"start lag p99 6.2 ms vs 1.2 ms"}},
		{"lag +6 ms but ×1.5 of a slow baseline", open(pct(2), ms(18)), []result.Meta{open(pct(2), ms(12))}, nil},
		{"steal and throttling", result.Meta{Steal: pct(20), Throttled: pct(50)}, []result.Meta{{Steal: pct(0.5), Throttled: pct(0)}},
			[]string{"cpu steal 20% vs 0.5% in the baseline", "cpu throttled 50% vs 0% in the baseline"}},
		{"an old baseline without the figures", open(pct(90), ms(1)), []result.Meta{{Model: "open"}}, nil},
		{"a run without them", open(result.Share{}, 0), quiet, nil},
		{"the closed model has no start lag", result.Meta{Model: "closed", LagP99: ms(50)}, []result.Meta{{Model: "closed", LagP99: ms(1)}}, nil},
		{"no baseline", open(pct(90), ms(50)), nil, nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Starved(tt.cur, tt.base), "Starved(%s)", tt.name)
	}
}
