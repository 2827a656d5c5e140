package atomicfile

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
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
		if err := WriteBytes(path, c[1]); err != nil {
			t.Fatal(err)
		}
		cmd, out, _ := child(t, "rewrite", path)
		if line, err := out.ReadString('\n'); err != nil || line != "started\n" {
			t.Fatalf("child said %q, %v; want started", line, err)
		}
		time.Sleep(time.Duration(rng.IntN(20_000)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("kill %d: %v", i, err)
		}
		if !bytes.Equal(got, c[0]) && !bytes.Equal(got, c[1]) {
			t.Fatalf("kill %d: file holds %d bytes that are neither version (%d or %d bytes)", i, len(got), len(c[0]), len(c[1]))
		}
	}
}

// TestFailedWriteKeepsOld: a fill that fails leaves the old file and no
// temporary file behind.
func TestFailedWriteKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "baseline.csv")
	if err := WriteBytes(path, []byte("old\n")); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk on fire")
	err := Write(path, func(w io.Writer) error {
		io.WriteString(w, "half of the new")
		return boom
	})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), path) {
		t.Errorf("Write = %v; want the fill's error, naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("file = %q after a failed write; want %q", got, "old\n")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries; want only the file (no temporary left)", len(entries))
	}
}

// TestWriteCreatesDir: the directory is created; the new content replaces
// the old.
func TestWriteCreatesDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "f.csv")
	for _, s := range []string{"one", "two"} {
		if err := WriteBytes(path, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != s {
			t.Errorf("file = %q; want %q", got, s)
		}
	}
}

// TestLockExcludesOtherProcess: a second process cannot take a held lock,
// and the error names the holder; once released it can.
func TestLockExcludesOtherProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), ".TestX.lock")
	_, out, stdin := child(t, "lock", path)
	if line, _ := out.ReadString('\n'); line != "locked\n" {
		t.Fatalf("child said %q; want locked", line)
	}
	_, err := Lock(path)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("Lock while another process holds it = %v; want ErrLocked naming the pid", err)
	}
	stdin.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		unlock, err := Lock(path)
		if err == nil {
			unlock()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Lock after the child released it = %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockSameProcess: a second Lock of the same path in one process is
// refused until the first is released; unlock is idempotent.
func TestLockSameProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(path); !errors.Is(err, ErrLocked) {
		t.Errorf("second Lock = %v; want ErrLocked", err)
	}
	unlock()
	unlock()
	unlock2, err := Lock(path)
	if err != nil {
		t.Fatalf("Lock after unlock = %v", err)
	}
	unlock2()
}
