package signals

import (
	"time"

	"github.com/steadyload/steadyload/internal/trend"
)

// Options tunes Analyze. The zero value means the defaults of the method
// notes for gauges: Mann-Kendall at α = 0.01 on the raw samples and a
// Theil-Sen growth over the run above 3 %, with at least 10 samples.
type Options struct {
	Alpha     float64       // one-sided Mann-Kendall level (default trend.DefaultAlpha)
	MinGrowth float64       // smallest fitted growth over the run that counts (default trend.DefaultGaugeGrowth)
	MinN      int           // signals with fewer samples are not tested (default trend.DefaultLeakMinN)
	Warmup    time.Duration // samples taken before this offset are not tested
}

// Analyze tests each signal's samples (sorted by signal, then time, as a
// Report's are) for a steady rise and returns one Trend per signal that
// had enough samples, sorted by signal.
func Analyze(samples []Sample, o Options) []Trend {
	lo := trend.LeakOptions{Alpha: o.Alpha, MinGrowth: o.MinGrowth, MinN: o.MinN}
	if lo.MinGrowth == 0 {
		lo.MinGrowth = trend.DefaultGaugeGrowth
	}
	var out []Trend
	for i := 0; i < len(samples); {
		j := i
		for j < len(samples) && samples[j].Signal == samples[i].Signal {
			j++
		}
		var xs []float64
		var first, last time.Duration
		for _, s := range samples[i:j] {
			if s.Offset < o.Warmup {
				continue
			}
			if len(xs) == 0 {
				first = s.Offset
			}
			last = s.Offset
			xs = append(xs, s.Value)
		}
		if r := trend.Leak(xs, lo); r.Tested {
			out = append(out, Trend{
				Signal: samples[i].Signal, N: r.N, Start: first, End: last,
				From: r.Start, To: r.End, Growth: r.Growth, P: r.MK.P, Rising: r.Rising,
			})
		}
		i = j
	}
	return out
}
