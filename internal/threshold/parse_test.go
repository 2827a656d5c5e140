package threshold

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	tests := []struct {
		expr string
		want Threshold
	}{
		{"p95 < 300ms", Threshold{Metric: "p95", Kind: Latency, Quantile: 95, Op: "<", Limit: 300_000}},
		{"p95<300ms", Threshold{Metric: "p95", Kind: Latency, Quantile: 95, Op: "<", Limit: 300_000}},
		{"P(99.9) <= 1.5s", Threshold{Metric: "p99.9", Kind: Latency, Quantile: 99.9, Op: "<=", Limit: 1_500_000}},
		{"GET /orders/{id}: p50 < 20ms", Threshold{Task: "GET /orders/{id}", Metric: "p50", Kind: Latency, Quantile: 50, Op: "<", Limit: 20_000}},
		{"GET http://x:8080/a : max < 2s", Threshold{Task: "GET http://x:8080/a", Metric: "max", Kind: Latency, Op: "<", Limit: 2_000_000}},
		{"mean < 100ms", Threshold{Metric: "mean", Kind: Latency, Op: "<", Limit: 100_000}},
		{"failures < 0.5%", Threshold{Metric: "failures", Kind: Failures, Op: "<", Limit: 0.005}},
		{"failures <= 0.01", Threshold{Metric: "failures", Kind: Failures, Op: "<=", Limit: 0.01}},
		{"failures < 0 %", Threshold{Metric: "failures", Kind: Failures, Op: "<", Limit: 0}},
		{"rate > 9.5/s", Threshold{Metric: "rate", Kind: Rate, Op: ">", Limit: 9.5}},
		{"rate >= 600 /m", Threshold{Metric: "rate", Kind: Rate, Op: ">=", Limit: 10}},
		{"rate >= 600/min", Threshold{Metric: "rate", Kind: Rate, Op: ">=", Limit: 10}},
		{"rate > 7200/h", Threshold{Metric: "rate", Kind: Rate, Op: ">", Limit: 2}},
		{"Rate > 3  ", Threshold{Metric: "rate", Kind: Rate, Op: ">", Limit: 3}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.expr)
		require.NoError(t, err, "Parse(%q)", tt.expr)
		tt.want.Expr = tt.expr
		assert.InDelta(t, tt.want.Limit, got.Limit, 1e-9, "Parse(%q).Limit", tt.expr)
		got.Limit, tt.want.Limit = 0, 0
		assert.Equal(t, tt.want, got, "Parse(%q)", tt.expr)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		expr string
		want string
	}{
		{"", `"": col 1: no metric: want p50 … p99.9, max, mean, failures or rate`},
		{"p955 < 3ms", `"p955 < 3ms": col 1: unknown metric "p955": a percentile is p and a number between 0 and 100, e.g. p95 or p99.9 (max for the slowest)`},
		{"p100 < 3ms", `"p100 < 3ms": col 1: unknown metric "p100": a percentile is p and a number between 0 and 100, e.g. p95 or p99.9 (max for the slowest)`},
		{"GET /a: latency < 3ms", `"GET /a: latency < 3ms": col 9: unknown metric "latency": want p50 … p99.9, max, mean, failures or rate`},
		{": p95 < 3ms", `": p95 < 3ms": col 1: no task before the colon: write the task's key, e.g. "GET /orders/{id}: p95 < 300ms", or leave out the colon for all tasks`},
		{"p95 300ms", `"p95 300ms": col 5: no comparison after p95: want <, <=, > or >=`},
		{"p95 == 300ms", `"p95 == 300ms": col 5: comparison "==": want <, <=, > or >=`},
		{"p95 =< 300ms", `"p95 =< 300ms": col 5: comparison "=<": want <, <=, > or >=`},
		{"p95 <", `"p95 <": col 6: no limit after p95 <`},
		{"p95 < 300", `"p95 < 300": col 7: limit "300": a latency needs its unit, e.g. 300ms or 1.5s`},
		{"p95 < 300ms soon", `"p95 < 300ms soon": col 7: limit "300ms soon": not a duration, e.g. 300ms or 1.5s`},
		{"p95 < -1s", `"p95 < -1s": col 7: limit "-1s": a latency is not negative`},
		{"failures < lots", `"failures < lots": col 12: limit "lots": not a ratio: write a percentage, e.g. 0.5%, or a fraction, e.g. 0.005`},
		{"failures < 150%", `"failures < 150%": col 12: limit "150%": a failure ratio is between 0 and 100%`},
		{"rate > fast", `"rate > fast": col 8: limit "fast": not a rate: write requests per second, e.g. 9.5/s (or /m, /h)`},
		{"rate > -1/s", `"rate > -1/s": col 8: limit "-1/s": a rate is not negative`},
		{"grüße: p95 > 1", `"grüße: p95 > 1": col 14: limit "1": a latency needs its unit, e.g. 300ms or 1.5s`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.expr)
		require.Error(t, err, "Parse(%q)", tt.expr)
		assert.Equal(t, tt.want, err.Error(), "Parse(%q)", tt.expr)
		var se *SyntaxError
		assert.ErrorAs(t, err, &se, "Parse(%q)", tt.expr)
	}
}

// TestParseList: every bad threshold is reported, not just the first.
func TestParseList(t *testing.T) {
	ts, err := ParseList([]string{"p95 < 1s", "p96 ~ 1s", "rate > 2/s", "max <"})
	require.Error(t, err)
	assert.Equal(t, `"p96 ~ 1s": col 5: no comparison after p96: want <, <=, > or >=`+"\n"+`"max <": col 6: no limit after max <`, err.Error())
	require.Len(t, ts, 2)
	assert.Equal(t, "p95", ts[0].Metric)
	assert.Equal(t, "rate", ts[1].Metric)
}

func TestHolds(t *testing.T) {
	tests := []struct {
		op     string
		figure float64
		want   bool
	}{
		{"<", 9, true}, {"<", 10, false}, {"<=", 10, true}, {"<=", 11, false},
		{">", 11, true}, {">", 10, false}, {">=", 10, true}, {">=", 9, false},
	}
	for _, tt := range tests {
		got := Threshold{Op: tt.op, Limit: 10}.Holds(tt.figure)
		assert.Equal(t, tt.want, got, "Threshold{Op: %q, Limit: 10}.Holds(%g)", tt.op, tt.figure)
	}
}
