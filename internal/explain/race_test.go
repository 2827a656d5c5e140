//go:build race

package explain

// raceEnabled shortens the simulation under the race detector, which
// slows it tenfold and finds nothing in single-goroutine statistics.
const raceEnabled = true
