package loadtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNeverCached runs the load test of testdata/nocache twice with no
// flags, as `go test -run X .` by hand: the second run must send its load
// again, never print go test's "(cached)". The scenario sleeps after its run
// (as stopping a container stand-in does), so that the result files alone
// would be old enough to cache.
func TestNeverCached(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a test binary twice")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "nocache"))
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(filepath.Join(dir, "loadtest-results")) })
	served := regexp.MustCompile(`served [1-9][0-9]* requests`)
	for i := range 2 {
		cmd := exec.CommandContext(t.Context(), gobin, "test", "-v", "-run", "^TestTwice$", ".")
		cmd.Dir = dir
		// Plain checks: they print go test's output as it ran.
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("go test, run %d: %v\n%s", i+1, err, out)
		}
		if regexp.MustCompile(`\(cached\)`).Match(out) || !served.Match(out) {
			t.Fatalf("go test, run %d: the load test was served from the cache or sent no load:\n%s", i+1, out)
		}
	}
}
