package runcheck

import (
	"fmt"
	"time"

	"github.com/montanaflynn/stats"

	"github.com/steadyload/steadyload/internal/numfmt"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The rule that calls a segment's generator starved next to its baseline
// (docs/gate.md). A share of CPU denied (wait, pressure, steal,
// throttling) is much worse than the baseline runs' median when it is at
// least ShareRise percentage points above it and ShareRatio times it.
// Near the top of the scale, where a busy machine keeps the generator's
// own CPU wait, its wait is much worse also when the share of its
// runnable time it did get a CPU (100 − wait) fell to 1/NearTopRatio of
// the baseline's or less, by at least NearTopRise points of wait (the
// machine's pressure is left out: it saturates near 100 % whether or not
// the generator is short of CPU). In the open model, a p99 start lag is
// much worse when it is at least LagRise above the baseline runs' median
// and LagRatio times it.
const (
	ShareRise    = 10.0
	ShareRatio   = 1.5
	NearTopRatio = 2.0
	NearTopRise  = 2.0
	LagRise      = 5 * time.Millisecond
	LagRatio     = 4.0
)

// Starved compares the generator's figures in the segment m with those of
// the baseline runs base and names each that is much worse, by the rule
// above: "cpu pressure 38.12% vs 2% in the baseline". A figure is
// compared only where m and at least one baseline run know it; none
// returned means the generator fared as in the baseline, or nothing could
// be compared.
func Starved(m result.Meta, base []result.Meta) []string {
	var out []string
	shares := []struct {
		name    string
		of      func(result.Meta) result.Share
		nearTop bool
	}{
		{"cpu wait", func(m result.Meta) result.Share { return m.CPUWait }, true},
		{"cpu pressure", func(m result.Meta) result.Share { return m.CPUPressure }, false},
		{"cpu steal", func(m result.Meta) result.Share { return m.Steal }, false},
		{"cpu throttled", func(m result.Meta) result.Share { return m.Throttled }, false},
	}
	for _, s := range shares {
		cur := s.of(m)
		var xs []float64
		for _, b := range base {
			if sh := s.of(b); sh.Known {
				xs = append(xs, sh.Pct)
			}
		}
		if !cur.Known || len(xs) == 0 {
			continue
		}
		ref, _ := stats.Median(xs)
		if cur.Pct >= ref+ShareRise && cur.Pct >= ShareRatio*ref || s.nearTop && cur.Pct >= ref+NearTopRise && NearTopRatio*(100-cur.Pct) <= 100-ref {
			out = append(out, fmt.Sprintf("%s %s vs %s in the baseline", s.name, numfmt.Percent(cur.Pct/100), numfmt.Percent(ref/100)))
		}
	}
	var lags []float64
	for _, b := range base {
		if b.Model == "open" && b.LagP99 > 0 {
			lags = append(lags, float64(b.LagP99))
		}
	}
	if m.Model == "open" && m.LagP99 > 0 && len(lags) > 0 {
		ref, _ := stats.Median(lags)
		if cur := float64(m.LagP99); cur >= ref+float64(LagRise) && cur >= LagRatio*ref {
			out = append(out, fmt.Sprintf("start lag p99 %s vs %s", numfmt.Millis(cur/1e3), numfmt.Millis(ref/1e3)))
		}
	}
	return out
}
