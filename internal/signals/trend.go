package signals

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Trend is the verdict on one signal over the run.
type Trend struct {
	Signal   string
	N        int           // samples tested (after warm-up)
	Start    time.Duration // offset of the first sample tested
	End      time.Duration // offset of the last sample tested
	From, To float64       // the fitted line at the first and the last sample tested
	Growth   float64       // (To-From)/|From|; +Inf when From is 0 and To is above it
	P        float64       // one-sided Mann-Kendall p-value for a rise
	Rising   bool          // P < Alpha and Growth > MinGrowth
}

// Summary says what the trend is, without the signal's name: "rose from
// 40 to 410 (+925%) over the run (p = 0.0001, 58 samples)".
func (t Trend) Summary() string {
	verb := "rose"
	if !t.Rising {
		verb = "did not rise significantly:"
	}
	return fmt.Sprintf("%s from %s to %s (%s) over the run (%s, %d samples)",
		verb, compact(t.From), compact(t.To), growth(t.Growth), pvalue(t.P), t.N)
}

// String is the finding: "process_open_fds rose from 40 to 410 (+925%)
// over the run (p = 0.0001, 58 samples)".
func (t Trend) String() string { return t.Signal + " " + t.Summary() }

func growth(g float64) string {
	if math.IsInf(g, 1) {
		return "from zero"
	}
	return fmt.Sprintf("%+.0f%%", 100*g)
}

// pvalue writes "p = 0.003", or "p < 0.0001" for the tiny ones.
func pvalue(p float64) string {
	if p < 0.0001 {
		return "p < 0.0001"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 2, 64)
}

// Compact writes a signal's value with three significant digits and an SI
// suffix: 40, 0.25, 1.5k, 61.3M.
func Compact(v float64) string { return compact(v) }

func compact(v float64) string {
	a := math.Abs(v)
	suffix := ""
	for _, s := range []struct {
		div float64
		sfx string
	}{{1e12, "T"}, {1e9, "G"}, {1e6, "M"}, {1e3, "k"}} {
		if a >= s.div*0.9995 {
			v, suffix = v/s.div, s.sfx
			break
		}
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + suffix
}
