package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestRun: the plan as JSON lines with the documented fields, HTML
// characters as they are.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	m := result.Meta{Test: "TestOrders", RunID: "abc", Status: result.Aborted, Reason: "p99 > 2s & 5% failed",
		Model: "open", Rate: 10, MaxInFlight: 100, Duration: time.Minute, Window: time.Second, Env: "production", Start: time.Unix(0, 0)}
	require.NoError(t, atomicfile.Write(result.MetaFile(dir, m.Test), func(w io.Writer) error { return result.WriteMeta(w, m) }))
	existing := filepath.Join(dir, "existing.json")
	require.NoError(t, os.WriteFile(existing, []byte(`[{"number":4,"title":"steadyload: TestOrders GET / p95 regression"}]`), 0o644))

	var out bytes.Buffer
	require.NoError(t, run(&out, dir, existing, ""))
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 1, "plan:\n%s", out.String())
	assert.Contains(t, lines[0], "p99 > 2s & 5% failed", "HTML characters not escaped")
	var a map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	assert.Equal(t, "open", a["action"])
	assert.Equal(t, "steadyload: TestOrders abort", a["title"])
	assert.NotContains(t, a, "number", "an open has no number")

	require.NoError(t, os.WriteFile(existing, []byte(`{"number":4}`), 0o644))
	assert.ErrorContains(t, run(&out, dir, existing, ""), existing+": json: cannot unmarshal")
}
