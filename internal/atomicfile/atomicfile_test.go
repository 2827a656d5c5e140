package atomicfile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	switch os.Getenv("ATOMICFILE_CHILD") {
	case "rewrite":
		rewriteForever(os.Getenv("ATOMICFILE_PATH"))
	case "lock":
		holdLock(os.Getenv("ATOMICFILE_PATH"))
	}
	goleak.VerifyTestMain(m)
}

// contents are the two versions the crash test's child alternates between:
// big enough that a write takes several system calls.
func contents() [2][]byte {
	return [2][]byte{bytes.Repeat([]byte("old line\n"), 1<<15), bytes.Repeat([]byte("NEW LINE\n"), 1<<16)}
}

// rewriteForever is the crash test's child: it rewrites path with the two
// versions in turn, in chunks, until it is killed.
func rewriteForever(path string) {
	c := contents()
	say := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		data := c[i%2]
		err := Write(path, func(w io.Writer) error {
			for off := 0; off < len(data); off += 4096 {
				if _, err := w.Write(data[off:min(off+4096, len(data))]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			os.Exit(3)
		}
		if i == 0 {
			say.WriteString("started\n")
			say.Flush()
		}
	}
}

// holdLock is the lock test's child: it takes the lock, says so, and keeps
// it until its stdin closes.
func holdLock(path string) {
	unlock, err := Lock(path)
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		os.Exit(3)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin)
	unlock()
	os.Exit(0)
}

func child(t *testing.T, mode, path string) (*exec.Cmd, *bufio.Reader, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_CHILD="+mode, "ATOMICFILE_PATH="+path)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err, "child's stdout")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err, "child's stdin")
	require.NoError(t, cmd.Start(), "start the child")
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd, bufio.NewReader(stdout), stdin
}

// TestCrashLeavesOldOrNew kills a process in the middle of rewriting a file,
// at seeded random moments: the file is always one whole version.
func TestCrashLeavesOldOrNew(t *testing.T) {
	c := contents()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 8 {
		dir := t.TempDir()
		path := filepath.Join(dir, "stats.csv")
		require.NoError(t, WriteBytes(path, c[1]), "WriteBytes")
		cmd, out, _ := child(t, "rewrite", path)
		line, err := out.ReadString('\n')
		require.NoError(t, err, "the child's first line")
		require.Equal(t, "started\n", line, "the child's first line")
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
		got, err := os.ReadFile(path)
		require.NoError(t, err, "kill %d", i)
		// Not assert.Equal: a dump of two 500 KB files would say less.
		require.True(t, bytes.Equal(got, c[0]) || bytes.Equal(got, c[1]),
			"kill %d: file holds %d bytes that are neither version (%d or %d bytes)", i, len(got), len(c[0]), len(c[1]))
	}
}

// TestFailedWriteKeepsOld: a fill that fails leaves the old file and no
// temporary file behind.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "baseline.csv")
	require.NoError(t, WriteBytes(path, []byte("old\n")), "WriteBytes")
	boom := errors.New("disk on fire")
	err := Write(path, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	assert.ErrorIs(t, err, boom, "Write: want the fill's error")
	assert.ErrorContains(t, err, path, "Write: want the error naming the file")
	got, _ := os.ReadFile(path)
	assert.Equal(t, "old\n", string(got), "file after a failed write")
	entries, _ := os.ReadDir(dir)
	assert.Len(t, entries, 1, "directory entries: want only the file (no temporary left)")
}

// TestWriteCreatesDir: the directory is created; the new content replaces
// the old.
func TestWriteCreatesDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "f.csv")
	for _, s := range []string{"one", "two"} {
		require.NoError(t, WriteBytes(path, []byte(s)), "WriteBytes(%q)", s)
		got, _ := os.ReadFile(path)
		assert.Equal(t, s, string(got), "file")
	}
}

// TestLockExcludesOtherProcess: a second process cannot take a held lock,
// and the error names the holder; once released it can.
func TestLockExcludesOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".TestX.lock")
	_, out, stdin := child(t, "lock", path)
	line, _ := out.ReadString('\n')
	require.Equal(t, "locked\n", line, "the child's first line")
	_, err := Lock(path)
	require.ErrorIs(t, err, ErrLocked, "Lock while another process holds it")
	require.ErrorContains(t, err, "pid ", "Lock while another process holds it: want the error naming the pid")
	stdin.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		unlock, err := Lock(path)
		if err == nil {
			unlock()
			break
		}
		if time.Now().After(deadline) {
			require.NoError(t, err, "Lock after the child released it")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockSameProcess: a second Lock of the same path in one process is
// refused until the first is released; unlock is idempotent.
func TestLockSameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(path)
	require.NoError(t, err, "Lock")
	_, err = Lock(path)
	assert.ErrorIs(t, err, ErrLocked, "second Lock")
	unlock()
	unlock()
	unlock2, err := Lock(path)
	require.NoError(t, err, "Lock after unlock")
	unlock2()
}

// TestLockWait: a lock another holder lets go of within the wait is
// taken; one held longer is given up on once the wait is over, with an
// error that says so.
func TestLockWait(t *testing.T) {
	for _, tt := range []struct {
		name    string
		release time.Duration // 0: never
		wait    time.Duration
		took    time.Duration
		ok      bool
	}{
		{"free", 0, 0, 0, true},
		{"released in time", 2 * time.Second, 30 * time.Second, 2 * time.Second, true},
		{"held", 0, 30 * time.Second, 30 * time.Second, false},
		{"no wait", 0, 0, 0, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), ".x.lock")
			synctest.Test(t, func(t *testing.T) {
				if tt.name != "free" {
					unlock, err := Lock(path)
					require.NoError(t, err, "Lock")
					defer unlock()
					if tt.release > 0 {
						go func() {
							time.Sleep(tt.release)
							unlock()
						}()
					}
				}
				start := time.Now()
				unlock, err := LockWait(path, tt.wait)
				took := time.Since(start)
				if tt.ok {
					require.NoError(t, err, "LockWait(%s)", tt.wait)
					unlock()
				} else {
					require.ErrorIs(t, err, ErrLocked, "LockWait(%s)", tt.wait)
					assert.ErrorContains(t, err, "waited "+tt.wait.String(), "LockWait(%s): want the error saying how long it waited", tt.wait)
				}
				assert.GreaterOrEqual(t, took, tt.took, "LockWait(%s): time to return", tt.wait)
				assert.LessOrEqual(t, took, tt.took+lockPoll, "LockWait(%s): time to return", tt.wait)
			})
		})
	}
}

// TestRemoveTemps: the temporaries of the named files go, nothing else.
func TestRemoveTemps(t *testing.T) {
	dir := t.TempDir()
	keep := []string{"history.csv", ".history.csv.lock", "otava-a.csv", ".signals.csv.tmp-1", ".tmp-run-1"}
	gone := []string{".history.csv.tmp-123", ".otava-a.csv.tmp-9", ".otava-GET__b.csv.tmp-77"}
	for _, n := range append(slices.Clone(keep), gone...) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, n), nil, 0o644))
	}
	for _, p := range []string{"history.csv", "otava-*.csv"} {
		require.NoError(t, RemoveTemps(filepath.Join(dir, p)), "RemoveTemps(%s)", p)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	slices.Sort(keep)
	assert.Equal(t, keep, left, "the directory after RemoveTemps")
	assert.NoError(t, RemoveTemps(filepath.Join(dir, "absent", "x.csv")), "RemoveTemps in a missing directory: want nothing to do")
}

// TestProbe: a directory files can be created in passes, and leaves
// nothing; one that is a file, or lies under a file, or refuses the
// creation, fails naming the directory. As root, permissions do not stop
// a write, so a refusal is also injected.
func TestProbe(t *testing.T) {
	root := t.TempDir()
	file := filepath.Join(root, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	refuse := func(string, string) (*os.File, error) {
		return nil, &fs.PathError{Op: "open", Path: "x", Err: syscall.EROFS}
	}
	tests := []struct {
		name   string
		dir    string
		create func(string, string) (*os.File, error)
		want   string // "" for no error
	}{
		{"existing", root, os.CreateTemp, ""},
		{"to be created", filepath.Join(root, "a", "b"), os.CreateTemp, ""},
		{"a file", file, os.CreateTemp, file + " is a file, not a directory"},
		{"under a file", filepath.Join(file, "baseline", "local"), os.CreateTemp, filepath.Join(file, "baseline", "local") + " cannot be created: " + file + " is a file"},
		{"read-only", root, refuse, "cannot write in " + root + ": read-only file system"},
		{"read-only parent", filepath.Join(root, "new"), refuse, "cannot create " + filepath.Join(root, "new") + ": cannot write in " + root},
	}
	for _, tt := range tests {
		err := probe(tt.dir, tt.create)
		if tt.want == "" {
			assert.NoError(t, err, "%s: probe(%s)", tt.name, tt.dir)
		} else {
			assert.ErrorContains(t, err, tt.want, "%s: probe(%s)", tt.name, tt.dir)
		}
	}
	entries, _ := os.ReadDir(root)
	assert.Len(t, entries, 1, "entries the probes left: want only the file")
	if os.Geteuid() != 0 {
		ro := filepath.Join(root, "ro")
		os.Mkdir(ro, 0o555)
		assert.ErrorContains(t, Probe(ro), ro, "Probe(read-only %s): want an error naming it", ro)
	}
}
