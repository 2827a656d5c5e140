//go:build race

package duet

// raceEnabled shortens the simulation under the race detector, which
// slows it tenfold.
const raceEnabled = true
