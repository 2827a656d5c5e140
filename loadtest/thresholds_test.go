package loadtest

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

// runLimited runs sc in a synctest bubble against its fake target, with
// the thresholds' part alone, on a flag set of its own holding args.
func runLimited(t *testing.T, sc Scenario, args ...string) (*result.Run, *captureTB) {
	t.Helper()
	return runFakeParts(t, sc, func(fs *flag.FlagSet) parts { return parts{limits: newLimitFlags(fs)} }, args...)
}

// TestThresholds: a missed threshold fails the run with the figure, with
// no baseline anywhere; one held passes it; the flag overrides the
// scenario's.
func TestThresholds(t *testing.T) {
	tests := []struct {
		name   string
		field  []string
		args   []string
		errs   []string // the test's failures, in order
		logged string
	}{
		{"held", []string{"p95 < 60ms", "GET /a: failures < 0.5%", "rate > 9.5/s"}, nil, nil,
			"loadtest: thresholds held: p95 < 60ms: 50 ms (200 successful requests); GET /a: failures < 0.5%: 0% (0 of 200 requests); rate > 9.5/s: 10/s (200 requests in 20s)"},
		{"missed", []string{"p95 < 40ms", "GET /a: rate >= 11/s", "max < 1s"}, nil,
			[]string{
				`loadtest: threshold "p95 < 40ms" missed: p95 of all tasks was 50 ms (200 successful requests)`,
				`loadtest: threshold "GET /a: rate >= 11/s" missed: rate of task "GET /a" was 10/s (200 requests in 20s)`,
			}, "loadtest: thresholds held: max < 1s: 50 ms (200 successful requests)"},
		{"the flag overrides the field", []string{"p95 < 40ms"}, []string{"-loadtest.threshold=p95 < 1s", "-loadtest.threshold=mean > 60ms,rate > 1/s"},
			[]string{`loadtest: threshold "mean > 60ms" missed: mean of all tasks was 50 ms (200 successful requests)`},
			"loadtest: thresholds held: p95 < 1s: 50 ms (200 successful requests); rate > 1/s: 10/s (200 requests in 20s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := fakeScenario(t, &fakeTarget{delay: 50 * time.Millisecond})
			sc.Rate, sc.Duration, sc.Thresholds = 10, 20*time.Second, tt.field
			res, tb := runLimited(t, sc, tt.args...)
			require.NotNil(t, res)
			require.Empty(t, tb.fatals)
			assert.Equal(t, tt.errs, tb.errs)
			assert.Contains(t, tb.logText(), tt.logged)
		})
	}
}

// TestThresholdsInvalid: thresholds that do not parse stop the run before
// any request, each named with its position.
func TestThresholdsInvalid(t *testing.T) {
	target := &fakeTarget{}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Thresholds = 10, []string{"p95 < 300", "GET /b: p95 < 1s", "failures ~ 1%"}
	res, tb := runLimited(t, sc)
	assert.Nil(t, res)
	assert.Zero(t, target.total.Load(), "requests sent")
	require.Len(t, tb.fatals, 1)
	assert.Equal(t, "loadtest: invalid scenario, no request sent:\n"+
		"\t"+`Scenario.Thresholds "p95 < 300": col 7: limit "300": a latency needs its unit, e.g. 300ms or 1.5s`+"\n"+
		"\t"+`Scenario.Thresholds "failures ~ 1%": col 10: no comparison after failures: want <, <=, > or >=`, tb.fatals[0])
}
