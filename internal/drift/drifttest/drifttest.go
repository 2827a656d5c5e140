// Package drifttest makes synthetic run histories for the tests of the
// history checks: seeded, so a test sees the same nights every time.
//
//	rows := drifttest.Nights(7, 20, 0, 0.2, 13, "open 50/s 1s") // a +20 % step at night 13
package drifttest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Nights returns a history of one task, "POST /orders": n nightly p95s
// around 42 ms with 4 % noise (a standard error of ln(p95) of 3 %), a
// creep per night, and a step of size step from night at on. Night i is
// 2026-03-(1+i) 02:00 UTC, of commit "c<i>".
func Nights(seed uint64, n int, creep, step float64, at int, shape string) []history.Row {
	const level = 42000.0
	rng := rand.New(rand.NewPCG(seed, 99))
	rows := make([]history.Row, n)
	for i := range rows {
		p95 := level * math.Pow(1+creep, float64(i)) * math.Exp(0.04*rng.NormFloat64())
		if step != 0 && i >= at {
			p95 *= 1 + step
		}
		rows[i] = history.Row{
			Time: time.Date(2026, 3, 1+i, 2, 0, 0, 0, time.UTC), Commit: fmt.Sprintf("c%02d", i), Shape: shape,
			Task: "POST /orders", Requests: 3000, Rate: 10,
			P50: int64(p95 / 3), P90: int64(p95 * 0.8), P95: int64(p95), P99: int64(p95 * 2), SELnP95: 0.03,
		}
	}
	return rows
}

// Kinds lists the kinds of the findings, in order: "drift,step".
func Kinds(fs []result.Finding) string {
	var k []string
	for _, f := range fs {
		k = append(k, f.Kind)
	}
	return strings.Join(k, ",")
}
