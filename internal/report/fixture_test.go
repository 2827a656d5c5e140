package report

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/loadtest/result"
)

// fixture is a deterministic run of two tasks over 30 windows of 10 s:
// "GET /orders/{id}" steady, "POST /orders" growing +60% over the run, a
// baseline of the same shape, a server whose open fds leak, a gate table,
// and a history with a step.
func fixture() Input {
	rng := rand.New(rand.NewPCG(7, 11))
	t0 := time.Date(2026, 3, 14, 2, 0, 0, 0, time.UTC)
	const nWin, win = 30, 10 * time.Second
	type spec struct {
		typ, name string
		median    float64 // ms
		growth    float64 // over the run
		perWin    int
	}
	specs := []spec{{"GET", "/orders/{id}", 8, 0, 40}, {"POST", "/orders", 20, 0.6, 60}}
	lognormal := func(median, g float64) int64 {
		return int64(median * (1 + g) * math.Exp(0.6*rng.NormFloat64()) * 1000)
	}
	run := &result.Run{Meta: result.Meta{
		Test: "TestOrdersSteadyRate", RunID: "5eed5eed5eed5eed", Version: "v0.1.0", Status: result.Complete,
		Model: "open", Rate: 10, MaxInFlight: 100, Duration: 5 * time.Minute, Window: win, Grace: 5 * time.Second,
		Start: t0, Elapsed: 5 * time.Minute, Target: "http://127.0.0.1:8080", Env: "local", StandIn: "local",
		GitCommit: "0123456789abcdef0123456789abcdef01234567", GoVersion: "go1.26.0",
	}}
	var baseline []result.Window
	total := &result.Task{Name: result.AggregateName, Latency: result.NewHistogram()}
	tasks := make([]*result.Task, len(specs))
	for i, s := range specs {
		tasks[i] = &result.Task{Type: s.typ, Name: s.name, Latency: result.NewHistogram()}
	}
	for wi := range nWin {
		off := time.Duration(wi) * win
		agg := result.Window{Start: t0.Add(off), Offset: off, Length: win, Name: result.AggregateName}
		aggH := result.NewHistogram()
		for i, s := range specs {
			h, bh := result.NewHistogram(), result.NewHistogram()
			w := result.Window{Start: t0.Add(off), Offset: off, Length: win, Type: s.typ, Name: s.name}
			g := s.growth * float64(wi) / nWin
			for k := range s.perWin {
				us := lognormal(s.median, g)
				if wi == 17 && i == 1 && k == 3 {
					w.Failures++
					tasks[i].Failures++
				} else {
					h.RecordValue(us)
				}
				bh.RecordValue(lognormal(s.median, 0))
				if len(w.Exemplars) < 3 || us > w.Exemplars[2].LatencyUS {
					e := result.Exemplar{
						At: t0.Add(off + time.Duration(k)*win/time.Duration(s.perWin)), LatencyUS: us, Status: 200,
						TraceID: fmt.Sprintf("%032x", rng.Uint64()),
					}
					w.Exemplars = append(w.Exemplars, e)
					for j := len(w.Exemplars) - 1; j > 0 && w.Exemplars[j].LatencyUS > w.Exemplars[j-1].LatencyUS; j-- {
						w.Exemplars[j], w.Exemplars[j-1] = w.Exemplars[j-1], w.Exemplars[j]
					}
					if len(w.Exemplars) > 3 {
						w.Exemplars = w.Exemplars[:3]
					}
				}
			}
			w.Requests = int64(s.perWin)
			w.Quantiles = h.ValueAtPercentilesSlice(result.Percentiles)
			w.MeanUS = h.Mean()
			tasks[i].Requests += w.Requests
			tasks[i].Latency.Merge(h)
			aggH.Merge(h)
			agg.Requests += w.Requests
			agg.Failures += w.Failures
			run.Windows = append(run.Windows, w)
			bw := w
			bw.Quantiles, bw.Exemplars, bw.Failures = bh.ValueAtPercentilesSlice(result.Percentiles), nil, 0
			baseline = append(baseline, bw)
		}
		agg.Quantiles = aggH.ValueAtPercentilesSlice(result.Percentiles)
		run.Windows = append(run.Windows, agg)
	}
	for _, t := range tasks {
		total.Requests += t.Requests
		total.Failures += t.Failures
		total.Latency.Merge(t.Latency)
	}
	run.Tasks, run.Total = tasks, total

	sig := &signals.Report{Source: "http://127.0.0.1:8080/metrics", Interval: 5 * time.Second, Scrapes: 61}
	for i := range 61 {
		off := time.Duration(i) * 5 * time.Second
		at := t0.Add(off)
		sig.Samples = append(sig.Samples,
			signals.Sample{Signal: "go_goroutines", At: at, Offset: off, Value: float64(40 + rng.IntN(4))},
			signals.Sample{Signal: "process_open_fds", At: at, Offset: off, Value: float64(40 + 6*i + rng.IntN(5))},
		)
	}
	sig.Samples = sortedSamples(sig.Samples)
	sig.Trends = signals.Analyze(sig.Samples, signals.Options{Warmup: win})

	hist := HistorySeries{Task: "POST /orders", Metric: "p95", Unit: "ms", Changes: []int{14}}
	for i := range 20 {
		v := 42 * (1 + 0.03*rng.NormFloat64())
		if i >= 14 {
			v *= 1.2
		}
		hist.Points = append(hist.Points, HistoryPoint{Time: t0.AddDate(0, 0, i-19), Commit: fmt.Sprintf("%040x", i), Value: math.Round(v*10) / 10})
	}
	in := Input{
		Run: run, Signals: sig, Baseline: baseline,
		Gate: &Table{
			Title:  "Regression gate (p95 vs baseline of 5 runs)",
			Header: []string{"Task", "Metric", "Baseline", "Current", "Ratio", "98% CI", "Verdict"},
			Rows: [][]string{
				{"GET /orders/{id}", "p95", "21.9 ms", "22.1 ms", "~", "0.93–1.09", "pass"},
				{"POST /orders", "p95", "55.0 ms", "71.4 ms", "1.30", "1.18–1.44", "FAIL"},
			},
			Note: "τ = 5 % (default), tolerance 10 %, α = 0.01",
		},
		History: []HistorySeries{hist},
	}
	for _, tr := range sig.Rising() {
		in.Findings = append(in.Findings, Finding{Severity: Warn, Kind: "signal", Text: tr.String()})
	}
	in.Findings = append(in.Findings,
		Finding{Severity: Fail, Kind: "gate", Text: "p95 of POST /orders regressed +30% (98% CI +18% to +44%) against the baseline"},
		Finding{Severity: Warn, Kind: "leak", Text: "latency of POST /orders grew +55% over the run (p = 0.0001): possible leak or backlog",
			MovedWith: "moved with it: db latency (ρ = +0.93, p < 0.0001, 28 windows; 0.002 → 0.031, +1450%, changed at the same point); slowest requests of the windows that moved most: trace 4bf92f3577b34da6a3ce929d0e0e4736"},
		Finding{Severity: Warn, Kind: "step", Text: "p95 of POST /orders stepped from 42 ms to 50 ms at the run of 2026-03-09 (commit 000000000000)"},
	)
	return in
}

func sortedSamples(s []signals.Sample) []signals.Sample {
	out := append([]signals.Sample(nil), s...)
	// Stable insertion by signal; offsets are already increasing.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].Signal < out[j-1].Signal; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
