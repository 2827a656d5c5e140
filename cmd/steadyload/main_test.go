package main

import (
	"errors"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestBinary builds the command and checks its exit codes across the
// process boundary: 0 for help, 2 for a usage error, 1 for a stored run
// that failed, 0 for one that passed.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "steadyload")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	stored := func(status result.Status) string {
		dir := t.TempDir()
		task := &result.Task{Type: "GET", Name: "/", Requests: 100, Latency: result.NewHistogram()}
		for i := range 100 {
			task.Latency.RecordValue(int64(10000 + i))
		}
		res := &result.Run{
			Meta: result.Meta{Test: "TestBin", RunID: "r", Status: status, Reason: "stopped by the abort guard", Model: "closed", Users: 1, SpawnRate: 1,
				Duration: time.Second, Window: time.Second, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: time.Second, Env: "e"},
			Tasks: []*result.Task{task}, Total: &result.Task{Name: result.AggregateName, Requests: 100, Latency: task.Latency},
		}
		_, err := runfiles.Write(dir, "TestBin", res)
		require.NoError(t, err)
		return dir
	}
	root := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"help", []string{"help"}, 0},
		{"usage error", []string{"compare"}, 2},
		{"passing run", []string{"compare", "-baseline", root, stored(result.Complete)}, 0},
		{"failing run", []string{"compare", "-baseline", root, stored(result.Aborted)}, 1},
	} {
		out, err := exec.Command(bin, tc.args...).CombinedOutput()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		assert.Equal(t, tc.want, code, "%s: steadyload %q exit code\n%s", tc.name, tc.args, out)
	}
}
