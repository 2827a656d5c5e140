//go:build !race

package duet

const raceEnabled = false
