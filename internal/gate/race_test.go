//go:build race

package gate

// raceEnabled shortens the statistical trials under the race detector,
// which slows them tenfold and finds nothing in single-goroutine code.
const raceEnabled = true
