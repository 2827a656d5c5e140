package loadtest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/baseline"
)

// runFiles runs sc with the core, the baseline gate and the history on
// their own flags, probing directories with probe (nil: the real probe).
func runFiles(t *testing.T, sc Scenario, probe func(string) error, args ...string) *captureTB {
	t.Helper()
	fs := newFlagSet()
	fl := newFlags(fs)
	bf, hf := newBaselineFlags(fs), newHistoryFlags(fs)
	bf.probe, hf.probe = probe, probe
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + t.TempDir(), "-loadtest.env=e2e"}, args...)))
	tb := newCaptureTB(t)
	runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf, history: hf}})
	return tb
}

// TestUnwritableDirsFailBeforeLoad: a results folder, a baseline directory
// being recorded into, or a history directory being appended to, in
// which no file can be created, fails the test before any request, naming
// the directory — not after the run, its outcome lost. As root a
// directory's permissions do not stop a write, so unwritable directories
// are made by putting them under a file, and by an injected probe that
// fails as a read-only file system does.
func TestUnwritableDirsFailBeforeLoad(t *testing.T) {
	srv, hits := lognormalServer(t, 11, unchanged)
	file := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, []byte("not a directory\n"), 0o644))
	root := t.TempDir()
	// readOnly is atomicfile.Probe on a read-only file system mounted at
	// mount, where dirs are still to be created.
	readOnly := func(mount string) func(string) error {
		return func(dir string) error {
			if strings.HasPrefix(dir, mount) {
				return fmt.Errorf("cannot create %s: cannot write in %s: %w", dir, mount, syscall.EROFS)
			}
			return atomicfile.Probe(dir)
		}
	}
	tests := []struct {
		name  string
		root  string // baseline root
		probe func(string) error
		args  []string
		want  string
	}{
		{"baseline under a file", filepath.Join(file, "baseline"), nil, []string{"-loadtest.update"},
			"baseline directory (-loadtest.baseline): " + baseline.Dir(filepath.Join(file, "baseline"), "e2e", "TestUnwritableDirsFailBeforeLoad/baseline_under_a_file") + " cannot be created: " + file + " is a file, not a directory",
		},
		{"baseline read-only", root, readOnly(root), []string{"-loadtest.update"},
			"baseline directory (-loadtest.baseline): cannot create " + baseline.Dir(root, "e2e", "TestUnwritableDirsFailBeforeLoad/baseline_read-only") + ": cannot write in " + root + ": read-only file system",
		},
		{"results under a file", root, nil, []string{"-loadtest.out=" + filepath.Join(file, "out")},
			"results folder (-loadtest.out): " + filepath.Join(file, "out") + " cannot be created: " + file + " is a file, not a directory",
		},
		{"history under a file", root, nil, []string{"-loadtest.history", "-loadtest.history-dir=" + filepath.Join(file, "h")},
			"history directory (-loadtest.history-dir): " + filepath.Join(file, "h", "e2e", "TestUnwritableDirsFailBeforeLoad_history_under_a_file") + " cannot be created: " + file + " is a file",
		},
		{"history read-only", root, readOnly(filepath.Join(root, "h")), []string{"-loadtest.history", "-loadtest.history-dir=" + filepath.Join(root, "h")},
			"history directory (-loadtest.history-dir): cannot create " + filepath.Join(root, "h", "e2e", "TestUnwritableDirsFailBeforeLoad_history_read-only") + ": cannot write in " + filepath.Join(root, "h") + ": read-only file system",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hits.Load()
			tb := runFiles(t, gateScenario(srv, tt.root, 200), tt.probe, tt.args...)
			msgs := tb.messages()
			assert.Contains(t, msgs, tt.want, "messages")
			assert.Contains(t, msgs, "no request sent", "messages; want the failure before any request")
			assert.Zero(t, hits.Load()-before, "requests sent")
		})
	}
	// The same directories, writable: the run goes ahead.
	tb := runFiles(t, gateScenario(srv, root, 200), nil, "-loadtest.history", "-loadtest.history-dir="+filepath.Join(root, "h"))
	assert.Empty(t, tb.messages(), "a run with writable directories failed")
}

// TestBadBaselineRunFailsBeforeLoad: a baseline run whose meta.csv says
// rate,NaN (or any damaged value) fails the test before any request with
// file:line: key: what — not taken for another load shape — and
// -loadtest.update neither deletes nor rewrites it.
func TestBadBaselineRunFailsBeforeLoad(t *testing.T) {
	const committed = "../baseline/local/TestOrdersSteadyRate/20261127T033038Z-dc4fca298835e1ef"
	srv, hits := lognormalServer(t, 12, unchanged)
	for _, v := range []string{"NaN", "-20"} {
		t.Run("rate "+v, func(t *testing.T) {
			root := t.TempDir()
			run := filepath.Join(baseline.Dir(root, "e2e", t.Name()), filepath.Base(committed))
			require.NoError(t, os.MkdirAll(filepath.Dir(run), 0o755))
			require.NoError(t, os.CopyFS(run, os.DirFS(committed)), "copy the committed baseline run")
			meta := filepath.Join(run, baseline.MetaFile)
			good, _ := os.ReadFile(meta)
			bad := bytes.Replace(good, []byte("\nrate,10\n"), []byte("\nrate,"+v+"\n"), 1)
			require.NoError(t, os.WriteFile(meta, bad, 0o644))
			before := hits.Load()
			for _, args := range [][]string{nil, {"-loadtest.update"}} {
				tb := runFiles(t, gateScenario(srv, root, 200), nil, args...)
				msgs := tb.messages()
				assert.Contains(t, msgs, meta+`:11: rate: bad value "`+v+`"`, "with %q: messages", args)
				assert.Contains(t, msgs, "no request sent", "with %q: messages; want the failure before any request", args)
			}
			assert.Zero(t, hits.Load()-before, "requests sent")
			if after, err := os.ReadFile(meta); assert.NoError(t, err, "the damaged meta.csv was removed") {
				assert.Equal(t, string(bad), string(after), "the damaged meta.csv was changed")
			}
			entries, _ := os.ReadDir(filepath.Dir(run))
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			assert.Equal(t, []string{filepath.Base(run)}, names, "the baseline directory; want only the damaged run")
		})
	}
}
