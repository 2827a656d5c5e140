// Package numfmt writes the numbers the parts of a run put in their
// messages — ratios, p-values, latencies — the same way everywhere.
//
//	numfmt.Percent(0.015) // "1.5%"
//	numfmt.PValue(0.0023) // "p = 0.0023"
//	numfmt.Millis(51300)  // "51.3 ms"
package numfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Percent writes a ratio as a percentage with at most two decimals,
// trailing zeros dropped: "5%", "1.5%", "0.25%"; below 1e-9 it is "0%".
func Percent(f float64) string {
	if f < 1e-9 {
		return "0%"
	}
	return strings.TrimSuffix(strings.TrimSuffix(fmt.Sprintf("%.2f", 100*f), "0"), ".0") + "%"
}

// PValue writes a p-value with two significant digits: "p = 0.0023", or
// "p < 0.0001".
func PValue(p float64) string {
	if p < 0.0001 {
		return "p < 0.0001"
	}
	return "p = " + strconv.FormatFloat(p, 'g', 2, 64)
}

// Millis writes microseconds as milliseconds with three significant
// digits, trailing zeros dropped: "42 ms", "51.3 ms", "0.812 ms", "1234 ms".
func Millis(us float64) string {
	ms := us / 1000
	prec := 0
	if ms > 0 && ms < 100 {
		prec = 2 - int(math.Floor(math.Log10(ms)))
	}
	s := strconv.FormatFloat(ms, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s + " ms"
}
