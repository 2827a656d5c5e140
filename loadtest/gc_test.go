package loadtest

import (
	"os"
	"runtime/debug"
	"testing"
)

// gcPercent reads the collector's target.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestTuneGC: the target is lowered while runs are on, overlapping runs
// included, restored after the last, and left alone when GOGC is set.
func TestTuneGC(t *testing.T) {
	before := debug.SetGCPercent(120)
	defer debug.SetGCPercent(before)

	for _, tt := range []struct {
		name   string
		gogc   string // "" means unset
		during int
	}{
		{"GOGC unset", "", runGCPercent},
		{"GOGC set", "200", 120},
	} {
		t.Run(tt.name, func(t *testing.T) {
			unsetenv(t, "GOGC")
			if tt.gogc != "" {
				t.Setenv("GOGC", tt.gogc)
			}
			first := tuneGC()
			second := tuneGC() // a run overlapping the first
			if got := gcPercent(); got != tt.during {
				t.Errorf("during two runs: GC percent %d; want %d", got, tt.during)
			}
			first()
			if got := gcPercent(); got != tt.during {
				t.Errorf("after the first of two runs: GC percent %d; want %d", got, tt.during)
			}
			second()
			if got := gcPercent(); got != 120 {
				t.Errorf("after both runs: GC percent %d; want 120 restored", got)
			}
		})
	}
}

// unsetenv removes key from the environment for the rest of the test;
// t.Setenv first, so that it is put back.
func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "")
	if err := os.Unsetenv(key); err != nil {
		t.Fatal(err)
	}
}
